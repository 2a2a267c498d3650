"""Effective settings of every deployable, read once from the environment.

Every field is documented with the environment variable that sets it. Defaults are
for local development on one machine (the stack started by ``ecom stack up``); in
any other environment set the variables (see ``.env.example``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from common.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]

# Field names whose values are credentials: masked by ``ecom config show``.
SECRET_FIELDS = frozenset(
    {"pg_password", "replication_password", "s3_secret_key", "source_dsn", "gold_dsn"}
)


def env_str(name: str, default: str) -> str:
    """An environment variable, or the default when unset or empty."""
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_number(name: str, default: float, *, low: float, high: float) -> float:
    """A numeric environment variable checked against [low, high]; errors name it."""
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"{name}={raw!r} is not a number", hint=f"set {name} to a number, or unset it"
        ) from None
    if not low <= value <= high:
        raise ConfigError(f"{name}={raw} is out of range [{low:g}, {high:g}]", hint=f"fix {name}")
    return value


def env_int(name: str, default: int, *, low: int = 1, high: int = 65535) -> int:
    """An integer environment variable checked against [low, high]; errors name it."""
    raw = os.environ.get(name)
    if raw is not None and raw != "" and not raw.strip().lstrip("+-").isdigit():
        raise ConfigError(
            f"{name}={raw!r} is not an integer", hint=f"set {name} to a number, or unset it"
        )
    return int(env_number(name, default, low=low, high=high))


@dataclass(frozen=True)
class Settings:
    """One immutable snapshot of the configuration (see :func:`load`)."""

    #: ECOM_HOME: state folder (data, logs, pid files). Default ``<repo>/.stack``.
    home: Path
    #: ECOM_CACHE: download/build cache shared by every clone. Default ``~/.cache/ecom``.
    cache: Path
    #: ECOM_HOST: the address every local service binds to. Default ``127.0.0.1``.
    host: str
    #: ECOM_PG_HOST / ECOM_KAFKA_HOST / ECOM_CONNECT_HOST / ECOM_S3_HOST: where clients reach
    #: each service (default ECOM_HOST; docker-compose sets the service names).
    pg_host: str
    kafka_host: str
    connect_host: str
    s3_host: str
    #: ECOM_PG_PORT: PostgreSQL port. Default 5432.
    pg_port: int
    #: ECOM_PG_USER / ECOM_PG_PASSWORD: the admin role of the local cluster.
    pg_user: str
    pg_password: str
    #: ECOM_SOURCE_DB: the OLTP source database. Default ``ecommerce_source``.
    source_db: str
    #: ECOM_GOLD_DB: the analytics database. Default ``ecommerce_gold``.
    gold_db: str
    #: ECOM_REPLICATION_USER / ECOM_REPLICATION_PASSWORD: the connector's least-privilege role.
    replication_user: str
    replication_password: str
    #: ECOM_KAFKA_PORT / ECOM_KAFKA_CONTROLLER_PORT: broker and KRaft controller ports.
    kafka_port: int
    kafka_controller_port: int
    #: ECOM_CONNECT_PORT: Kafka Connect REST port. Default 8083.
    connect_port: int
    #: ECOM_TOPIC_PREFIX: Debezium ``topic.prefix``; CDC topics are ``<prefix>.public.<table>``.
    topic_prefix: str
    #: ECOM_SLOT_NAME / ECOM_PUBLICATION: the replication slot and publication names.
    slot_name: str
    publication: str
    #: ECOM_S3_PORT / ECOM_S3_CONSOLE_PORT: MinIO API and console ports.
    s3_port: int
    s3_console_port: int
    #: ECOM_S3_ACCESS_KEY / ECOM_S3_SECRET_KEY: MinIO credentials.
    s3_access_key: str
    s3_secret_key: str
    #: ECOM_BRONZE_BUCKET / ECOM_SILVER_BUCKET / ECOM_LAKE_BUCKET: lake buckets.
    bronze_bucket: str
    silver_bucket: str
    lake_bucket: str
    #: ECOM_KAFKA_HEAP / ECOM_CONNECT_HEAP: JVM max heap (-Xmx) of broker and Connect.
    kafka_heap: str
    connect_heap: str
    #: ECOM_MAX_SLOT_WAL_KEEP_SIZE: Postgres cap on WAL retained for slots.
    max_slot_wal_keep_size: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # ---- derived endpoints -------------------------------------------------
    def dsn(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        u = user or self.pg_user
        p = password if password is not None else self.pg_password
        return f"postgresql://{u}:{p}@{self.pg_host}:{self.pg_port}/{database}"

    @property
    def source_dsn(self) -> str:
        return self.dsn(self.source_db)

    @property
    def gold_dsn(self) -> str:
        return self.dsn(self.gold_db)

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka_host}:{self.kafka_port}"

    @property
    def connect_url(self) -> str:
        return f"http://{self.connect_host}:{self.connect_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"{self.s3_host}:{self.s3_port}"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.bronze_bucket, self.silver_bucket, self.lake_bucket)

    def cdc_topic(self, table: str) -> str:
        return f"{self.topic_prefix}.public.{table}"

    def as_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """Every setting plus the derived endpoints, JSON-friendly."""
        data: dict[str, Any] = {}
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            data[f.name] = str(value) if isinstance(value, Path) else value
        data.update(
            source_dsn=self.source_dsn,
            gold_dsn=self.gold_dsn,
            kafka_bootstrap=self.kafka_bootstrap,
            connect_url=self.connect_url,
            s3_endpoint=self.s3_endpoint,
        )
        if not show_secrets:
            for key in SECRET_FIELDS:
                if key in data:
                    data[key] = mask(key, data[key])
        return data


def mask(key: str, value: str) -> str:
    if key.endswith("_dsn"):
        # keep user and host visible, hide the password
        head, _, tail = value.partition("@")
        scheme_user = head.rsplit(":", 1)[0]
        return f"{scheme_user}:****@{tail}"
    return "****"


def load() -> Settings:
    """Read the environment (prefix ``ECOM_``) into a frozen :class:`Settings`."""
    home = Path(env_str("ECOM_HOME", str(REPO_ROOT / ".stack"))).expanduser().resolve()
    cache = Path(env_str("ECOM_CACHE", str(Path.home() / ".cache" / "ecom"))).expanduser()
    host = env_str("ECOM_HOST", "127.0.0.1")
    settings = Settings(
        home=home,
        cache=cache.resolve(),
        host=host,
        pg_host=env_str("ECOM_PG_HOST", host),
        kafka_host=env_str("ECOM_KAFKA_HOST", host),
        connect_host=env_str("ECOM_CONNECT_HOST", host),
        s3_host=env_str("ECOM_S3_HOST", host),
        pg_port=env_int("ECOM_PG_PORT", 5432),
        pg_user=env_str("ECOM_PG_USER", "ecom"),
        pg_password=env_str("ECOM_PG_PASSWORD", "ecom-dev"),
        source_db=env_str("ECOM_SOURCE_DB", "ecommerce_source"),
        gold_db=env_str("ECOM_GOLD_DB", "ecommerce_gold"),
        replication_user=env_str("ECOM_REPLICATION_USER", "ecom_replicator"),
        replication_password=env_str("ECOM_REPLICATION_PASSWORD", "replicator-dev"),
        kafka_port=env_int("ECOM_KAFKA_PORT", 9092),
        kafka_controller_port=env_int("ECOM_KAFKA_CONTROLLER_PORT", 9093),
        connect_port=env_int("ECOM_CONNECT_PORT", 8083),
        topic_prefix=env_str("ECOM_TOPIC_PREFIX", "ecom"),
        slot_name=env_str("ECOM_SLOT_NAME", "ecom_cdc_slot"),
        publication=env_str("ECOM_PUBLICATION", "ecom_cdc_pub"),
        s3_port=env_int("ECOM_S3_PORT", 9000),
        s3_console_port=env_int("ECOM_S3_CONSOLE_PORT", 9001),
        s3_access_key=env_str("ECOM_S3_ACCESS_KEY", "ecom-admin"),
        s3_secret_key=env_str("ECOM_S3_SECRET_KEY", "ecom-dev-secret"),
        bronze_bucket=env_str("ECOM_BRONZE_BUCKET", "bronze"),
        silver_bucket=env_str("ECOM_SILVER_BUCKET", "silver"),
        lake_bucket=env_str("ECOM_LAKE_BUCKET", "lake-meta"),
        kafka_heap=env_str("ECOM_KAFKA_HEAP", "768m"),
        connect_heap=env_str("ECOM_CONNECT_HEAP", "768m"),
        max_slot_wal_keep_size=env_str("ECOM_MAX_SLOT_WAL_KEEP_SIZE", "4GB"),
    )
    _validate(settings)
    return settings


def _validate(s: Settings) -> None:
    ports = {
        "ECOM_PG_PORT": s.pg_port,
        "ECOM_KAFKA_PORT": s.kafka_port,
        "ECOM_KAFKA_CONTROLLER_PORT": s.kafka_controller_port,
        "ECOM_CONNECT_PORT": s.connect_port,
        "ECOM_S3_PORT": s.s3_port,
        "ECOM_S3_CONSOLE_PORT": s.s3_console_port,
    }
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise ConfigError(
                f"{name} and {seen[port]} both use port {port}", hint=f"give {name} another port"
            )
        seen[port] = name
    if len(s.s3_secret_key) < 8:
        raise ConfigError(
            "ECOM_S3_SECRET_KEY must have at least 8 characters (MinIO refuses shorter ones)",
            hint="set a longer ECOM_S3_SECRET_KEY",
        )
    if not s.topic_prefix.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(
            f"ECOM_TOPIC_PREFIX={s.topic_prefix!r} may hold only letters, digits, '-' and '_'",
            hint="fix ECOM_TOPIC_PREFIX",
        )
