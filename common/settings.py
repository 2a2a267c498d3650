"""Effective settings of every deployable, read once from the environment.

Every field is documented with the environment variable that sets it. Defaults are
for local development on one machine (the stack started by ``ecom stack up``); in
any other environment set the variables (see ``.env.example``).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import quote

from common.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]

# Field names whose values are credentials: masked by ``ecom config show``.
SECRET_FIELDS = frozenset(
    {
        "pg_password",
        "replication_password",
        "gold_password",
        "s3_secret_key",
        "stream_s3_secret_key",
        "pii_salt",
        "source_dsn",
        "gold_dsn",
        "gold_loader_dsn",
    }
)

#: ECOM_ENV values. ``production`` refuses the development credentials below.
ENVIRONMENTS = ("development", "production")

#: The secret settings and their local-development defaults. With ECOM_ENV=production
#: :func:`load` refuses any of them still at this value (or at a ``change-me``
#: placeholder copied from ``.env.example``).
DEV_SECRETS: dict[str, str] = {
    "ECOM_PG_PASSWORD": "ecom-dev",
    "ECOM_REPLICATION_PASSWORD": "replicator-dev",
    "ECOM_GOLD_PASSWORD": "gold-dev",
    "ECOM_S3_SECRET_KEY": "ecom-dev-secret",
    "ECOM_STREAM_S3_SECRET_KEY": "ecom-stream-dev-secret",
    "ECOM_PII_SALT": "ecom-dev-pii-salt",
}

#: ECOM_PII_EMAIL values: what silver (and so gold) holds in ``customers.email``.
PII_EMAIL_MODES = ("keep", "hash", "mask")

# Names that reach SQL, S3 policies or config files are checked against these, so a
# hostile value is refused with a message instead of being quoted into something odd.
_PG_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,62}")
_SLOT_RE = re.compile(r"[a-z0-9_]{1,63}")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_HOST_RE = re.compile(r"[A-Za-z0-9_.:-]{1,253}")
_ACCESS_KEY_RE = re.compile(r"[A-Za-z0-9_.@-]{3,128}")
_SIZE_RE = re.compile(r"\d+\s*(kB|MB|GB|TB)?")
_HEAP_RE = re.compile(r"\d+[kKmMgG]?")


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

    #: ECOM_ENV: ``development`` (default) or ``production``; production refuses to run
    #: with the development credentials (see :data:`DEV_SECRETS` and ``.env.example``).
    env: str
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
    #: ECOM_GOLD_USER / ECOM_GOLD_PASSWORD: the gold loader role (``ecom gold rebuild`` and
    #: ``verify``'s gold side): owns the gold tables, cannot connect to the source database.
    gold_user: str
    gold_password: str
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
    #: ECOM_S3_ACCESS_KEY / ECOM_S3_SECRET_KEY: MinIO root credentials (stack, compaction).
    s3_access_key: str
    s3_secret_key: str
    #: ECOM_STREAM_S3_ACCESS_KEY / ECOM_STREAM_S3_SECRET_KEY: the stream workers' MinIO user,
    #: which may read and write objects in the three lake buckets and nothing else.
    stream_s3_access_key: str
    stream_s3_secret_key: str
    #: ECOM_BRONZE_BUCKET / ECOM_SILVER_BUCKET / ECOM_LAKE_BUCKET: lake buckets.
    bronze_bucket: str
    silver_bucket: str
    lake_bucket: str
    #: ECOM_KAFKA_HEAP / ECOM_CONNECT_HEAP: JVM max heap (-Xmx) of broker and Connect.
    kafka_heap: str
    connect_heap: str
    #: ECOM_MAX_SLOT_WAL_KEEP_SIZE: Postgres cap on WAL retained for slots.
    max_slot_wal_keep_size: str
    #: ECOM_PII_EMAIL: customer email in silver and gold: ``keep`` (default), ``hash``
    #: (HMAC-SHA256 keyed with ECOM_PII_SALT, hex) or ``mask`` (``j***@example.com``).
    pii_email: str
    #: ECOM_PII_SALT: the secret key of ``hash`` (same key, same hash: joins still work).
    pii_salt: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    # ---- derived endpoints -------------------------------------------------
    def dsn(self, database: str, *, user: str | None = None, password: str | None = None) -> str:
        u = quote(user or self.pg_user, safe="")
        p = quote(password if password is not None else self.pg_password, safe="")
        return f"postgresql://{u}:{p}@{self.pg_host}:{self.pg_port}/{quote(database, safe='')}"

    @property
    def source_dsn(self) -> str:
        return self.dsn(self.source_db)

    @property
    def gold_dsn(self) -> str:
        return self.dsn(self.gold_db)

    @property
    def gold_loader_dsn(self) -> str:
        """The gold database as the gold loader role (what the rebuild connects as)."""
        return self.dsn(self.gold_db, user=self.gold_user, password=self.gold_password)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

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
            gold_loader_dsn=self.gold_loader_dsn,
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
        env=env_str("ECOM_ENV", "development").strip().lower(),
        home=home,
        cache=cache.resolve(),
        host=host,
        pg_host=env_str("ECOM_PG_HOST", host),
        kafka_host=env_str("ECOM_KAFKA_HOST", host),
        connect_host=env_str("ECOM_CONNECT_HOST", host),
        s3_host=env_str("ECOM_S3_HOST", host),
        pg_port=env_int("ECOM_PG_PORT", 5432),
        pg_user=env_str("ECOM_PG_USER", "ecom"),
        pg_password=env_str("ECOM_PG_PASSWORD", DEV_SECRETS["ECOM_PG_PASSWORD"]),
        source_db=env_str("ECOM_SOURCE_DB", "ecommerce_source"),
        gold_db=env_str("ECOM_GOLD_DB", "ecommerce_gold"),
        replication_user=env_str("ECOM_REPLICATION_USER", "ecom_replicator"),
        replication_password=env_str(
            "ECOM_REPLICATION_PASSWORD", DEV_SECRETS["ECOM_REPLICATION_PASSWORD"]
        ),
        gold_user=env_str("ECOM_GOLD_USER", "ecom_gold"),
        gold_password=env_str("ECOM_GOLD_PASSWORD", DEV_SECRETS["ECOM_GOLD_PASSWORD"]),
        kafka_port=env_int("ECOM_KAFKA_PORT", 9092),
        kafka_controller_port=env_int("ECOM_KAFKA_CONTROLLER_PORT", 9093),
        connect_port=env_int("ECOM_CONNECT_PORT", 8083),
        topic_prefix=env_str("ECOM_TOPIC_PREFIX", "ecom"),
        slot_name=env_str("ECOM_SLOT_NAME", "ecom_cdc_slot"),
        publication=env_str("ECOM_PUBLICATION", "ecom_cdc_pub"),
        s3_port=env_int("ECOM_S3_PORT", 9000),
        s3_console_port=env_int("ECOM_S3_CONSOLE_PORT", 9001),
        s3_access_key=env_str("ECOM_S3_ACCESS_KEY", "ecom-admin"),
        s3_secret_key=env_str("ECOM_S3_SECRET_KEY", DEV_SECRETS["ECOM_S3_SECRET_KEY"]),
        stream_s3_access_key=env_str("ECOM_STREAM_S3_ACCESS_KEY", "ecom-stream"),
        stream_s3_secret_key=env_str(
            "ECOM_STREAM_S3_SECRET_KEY", DEV_SECRETS["ECOM_STREAM_S3_SECRET_KEY"]
        ),
        bronze_bucket=env_str("ECOM_BRONZE_BUCKET", "bronze"),
        silver_bucket=env_str("ECOM_SILVER_BUCKET", "silver"),
        lake_bucket=env_str("ECOM_LAKE_BUCKET", "lake-meta"),
        kafka_heap=env_str("ECOM_KAFKA_HEAP", "768m"),
        connect_heap=env_str("ECOM_CONNECT_HEAP", "768m"),
        max_slot_wal_keep_size=env_str("ECOM_MAX_SLOT_WAL_KEEP_SIZE", "4GB"),
        pii_email=env_str("ECOM_PII_EMAIL", "keep").strip().lower(),
        pii_salt=env_str("ECOM_PII_SALT", DEV_SECRETS["ECOM_PII_SALT"]),
    )
    _validate(settings)
    _refuse_dev_secrets_in_production(settings)
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
    for name, secret in (
        ("ECOM_S3_SECRET_KEY", s.s3_secret_key),
        ("ECOM_STREAM_S3_SECRET_KEY", s.stream_s3_secret_key),
    ):
        if len(secret) < 8:
            raise ConfigError(
                f"{name} must have at least 8 characters (MinIO refuses shorter ones)",
                hint=f"set a longer {name}",
            )
    if s.stream_s3_access_key == s.s3_access_key:
        raise ConfigError(
            "ECOM_STREAM_S3_ACCESS_KEY must differ from ECOM_S3_ACCESS_KEY (the root user)",
            hint="give the stream workers their own MinIO user name",
        )
    if s.env not in ENVIRONMENTS:
        raise ConfigError(
            f"ECOM_ENV={s.env!r} is not one of {', '.join(ENVIRONMENTS)}",
            hint="set ECOM_ENV=production on servers, or unset it for local development",
        )
    if s.pii_email not in PII_EMAIL_MODES:
        raise ConfigError(
            f"ECOM_PII_EMAIL={s.pii_email!r} is not one of {', '.join(PII_EMAIL_MODES)}",
            hint="fix ECOM_PII_EMAIL",
        )
    _validate_names(s)
    if not s.topic_prefix.replace("_", "").replace("-", "").isalnum():
        raise ConfigError(
            f"ECOM_TOPIC_PREFIX={s.topic_prefix!r} may hold only letters, digits, '-' and '_'",
            hint="fix ECOM_TOPIC_PREFIX",
        )


_PLAIN = "letters, digits, '_' and '-'"
_S3_NAME = "an S3 bucket name (a-z 0-9 . -)"
_HOST = "a host name or IP address"
_KEY = "3 or more of A-Z a-z 0-9 _ . @ -"


def _validate_names(s: Settings) -> None:
    """Names that end up in SQL identifiers, S3 policies or config files must be plain."""
    checks: list[tuple[str, str, re.Pattern[str], str]] = [
        ("ECOM_SOURCE_DB", s.source_db, _PG_NAME_RE, _PLAIN),
        ("ECOM_GOLD_DB", s.gold_db, _PG_NAME_RE, _PLAIN),
        ("ECOM_PG_USER", s.pg_user, _PG_NAME_RE, _PLAIN),
        ("ECOM_REPLICATION_USER", s.replication_user, _PG_NAME_RE, _PLAIN),
        ("ECOM_GOLD_USER", s.gold_user, _PG_NAME_RE, _PLAIN),
        ("ECOM_PUBLICATION", s.publication, _PG_NAME_RE, _PLAIN),
        ("ECOM_SLOT_NAME", s.slot_name, _SLOT_RE, "lower-case letters, digits and '_'"),
        ("ECOM_BRONZE_BUCKET", s.bronze_bucket, _BUCKET_RE, _S3_NAME),
        ("ECOM_SILVER_BUCKET", s.silver_bucket, _BUCKET_RE, _S3_NAME),
        ("ECOM_LAKE_BUCKET", s.lake_bucket, _BUCKET_RE, _S3_NAME),
        ("ECOM_S3_ACCESS_KEY", s.s3_access_key, _ACCESS_KEY_RE, _KEY),
        ("ECOM_STREAM_S3_ACCESS_KEY", s.stream_s3_access_key, _ACCESS_KEY_RE, _KEY),
        ("ECOM_HOST", s.host, _HOST_RE, _HOST),
        ("ECOM_PG_HOST", s.pg_host, _HOST_RE, _HOST),
        ("ECOM_KAFKA_HOST", s.kafka_host, _HOST_RE, _HOST),
        ("ECOM_CONNECT_HOST", s.connect_host, _HOST_RE, _HOST),
        ("ECOM_S3_HOST", s.s3_host, _HOST_RE, _HOST),
        ("ECOM_MAX_SLOT_WAL_KEEP_SIZE", s.max_slot_wal_keep_size, _SIZE_RE, "a size like 4GB"),
        ("ECOM_KAFKA_HEAP", s.kafka_heap, _HEAP_RE, "a JVM size like 768m"),
        ("ECOM_CONNECT_HEAP", s.connect_heap, _HEAP_RE, "a JVM size like 768m"),
    ]
    for name, value, pattern, allowed in checks:
        if not pattern.fullmatch(value):
            raise ConfigError(
                f"{name}={value!r} is not allowed: it must be {allowed}", hint=f"fix {name}"
            )
    if len({s.pg_user, s.replication_user, s.gold_user}) < 3:
        raise ConfigError(
            "ECOM_PG_USER, ECOM_REPLICATION_USER and ECOM_GOLD_USER must be three different roles",
            hint="each role has its own privileges; give each its own name",
        )


def dev_default_secrets(s: Settings) -> list[str]:
    """The secret settings still at their development default (or a ``change-me``
    placeholder from ``.env.example``). ECOM_PII_SALT counts only when hashing uses it."""
    values = {
        "ECOM_PG_PASSWORD": s.pg_password,
        "ECOM_REPLICATION_PASSWORD": s.replication_password,
        "ECOM_GOLD_PASSWORD": s.gold_password,
        "ECOM_S3_SECRET_KEY": s.s3_secret_key,
        "ECOM_STREAM_S3_SECRET_KEY": s.stream_s3_secret_key,
    }
    if s.pii_email == "hash":
        values["ECOM_PII_SALT"] = s.pii_salt
    return [
        name
        for name, value in values.items()
        if value == DEV_SECRETS[name] or value.lower().startswith("change-me")
    ]


def _refuse_dev_secrets_in_production(s: Settings) -> None:
    """ECOM_ENV=production with a development credential: refuse, naming each setting
    (never its value) and how to set it."""
    if not s.is_production:
        return
    weak = dev_default_secrets(s)
    if weak:
        one = len(weak) == 1
        raise ConfigError(
            f"ECOM_ENV=production but {', '.join(weak)} still "
            f"{'has its' if one else 'have their'} development default",
            hint=f"set {'it' if one else 'each'} to a real secret in the environment as listed "
            "in .env.example, e.g. from `openssl rand -base64 24`; on a laptop leave ECOM_ENV unset",
        )
