"""Effective settings of every deployable, read once from the environment.

Each setting is one field of a pydantic-settings class: its type, its default and its
docstring are declared there, and its environment variable is the class's prefix
plus the field name in capitals (``pg_port`` of :class:`Settings` is ``ECOM_PG_PORT``).
Defaults are for local development on one machine (the stack started by ``ecom stack
up``); in any other environment set the variables (see ``.env.example``).

Stages declare their own classes the same way on :class:`EcomSettings`
(``stream_apps.configuration``, ``compaction.configuration``), and read them with
:func:`read`, which turns pydantic's validation error into the project's one-line
:class:`~common.errors.ConfigError` naming the variable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar, get_args
from urllib.parse import quote

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from common import paths
from common.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOST = "127.0.0.1"

Environment = Literal["development", "production"]
PiiEmailMode = Literal["keep", "hash", "mask"]
#: ECOM_ENV values. ``production`` refuses the development credentials.
ENVIRONMENTS: tuple[str, ...] = get_args(Environment)
#: ECOM_PII_EMAIL values: what silver (and so gold) holds in ``customers.email``.
PII_EMAIL_MODES: tuple[str, ...] = get_args(PiiEmailMode)

T = TypeVar("T", bound="EcomSettings")


def default_home() -> Path:
    """ECOM_HOME when unset: the repo's own ``.stack`` folder, or, as root when the
    `postgres` user cannot reach it, one under /var/tmp (see :mod:`common.paths`)."""
    return paths.default_home(REPO_ROOT)


def default_cache() -> Path:
    """ECOM_CACHE when unset: a download cache shared by every clone of the user."""
    return Path.home() / ".cache" / "ecom"


# ---------------------------------------------------------------- checked types
def matching(pattern: str, allowed: str, *, flags: int = 0) -> AfterValidator:
    """A validator refusing any value that is not entirely ``pattern``.

    Names that reach SQL, S3 policies or config files are checked this way, so a
    hostile value is refused with a message instead of being quoted into something odd.
    """
    regex = re.compile(pattern, flags)

    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise PydanticCustomError(
                "ecom_pattern", "is not allowed: it must be {allowed}", {"allowed": allowed}
            )
        return value

    return AfterValidator(check)


def _stripped(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _normalised(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _long_secret(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < 8:
        raise PydanticCustomError(
            "ecom_short_secret", "must have at least 8 characters (MinIO refuses shorter ones)"
        )
    return value


_PLAIN = "letters, digits, '_' and '-'"
PgName = Annotated[str, matching(r"[A-Za-z_][A-Za-z0-9_-]{0,62}", _PLAIN)]
SlotName = Annotated[str, matching(r"[a-z0-9_]{1,63}", "lower-case letters, digits and '_'")]
Bucket = Annotated[
    str, matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name (a-z 0-9 . -)")
]
Host = Annotated[str, matching(r"[A-Za-z0-9_.:-]{1,253}", "a host name or IP address")]
AccessKey = Annotated[
    str, matching(r"[A-Za-z0-9_.@-]{3,128}", "3 or more of A-Z a-z 0-9 _ . @ -")
]
WalSize = Annotated[str, matching(r"\d+\s*(kB|MB|GB|TB)?", "a size like 4GB")]
JvmHeap = Annotated[str, matching(r"\d+[kKmMgG]?", "a JVM size like 768m")]
Port = Annotated[int, Field(ge=1, le=65535)]
MinioSecret = Annotated[SecretStr, AfterValidator(_long_secret)]


# ---------------------------------------------------------------- the base class
class EcomSettings(BaseSettings):
    """Shared behaviour of every settings class: frozen, read from ``ECOM_*`` variables
    (an empty variable counts as unset), defaults checked like any other value."""

    model_config = SettingsConfigDict(
        env_prefix="ECOM_",
        frozen=True,
        extra="ignore",
        env_ignore_empty=True,
        validate_default=True,
        validate_by_name=True,
        use_attribute_docstrings=True,
    )

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable that sets ``field``."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias.upper()
        return f"{cls.model_config.get('env_prefix', '')}{field}".upper()

    @classmethod
    def field_of(cls, key: str) -> str:
        """The field named ``key``, or whose variable is ``key`` (errors name aliases)."""
        if key in cls.model_fields:
            return key
        return next(f for f in cls.model_fields if cls.variable(f) == key.upper())

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Field name -> environment variable, for every field read from the environment."""
        return {name: cls.variable(name) for name in cls.model_fields}


def read(cls: type[T], **values: Any) -> T:
    """``cls`` from the environment (``values`` given directly win); an invalid value is
    one :class:`ConfigError` naming its variable, never pydantic's report."""
    try:
        return cls(**values)
    except ValidationError as exc:
        raise config_error(cls, exc) from None


def config_error(cls: type[EcomSettings], exc: ValidationError) -> ConfigError:
    """The first error of ``exc`` as ``ECOM_X='value' is not ... (fix ECOM_X)``; a secret's
    value is never repeated."""
    err = exc.errors(include_url=False)[0]
    field = cls.field_of(str(err["loc"][0])) if err["loc"] else ""
    name = cls.variable(field) if field else cls.__name__
    info = cls.model_fields.get(field)
    secret = info is not None and _is_secret(info.annotation)
    raw = err.get("input")
    shown = name if secret or not isinstance(raw, str) else f"{name}={raw!r}"
    kind = err["type"]
    if kind in {"int_parsing", "int_from_float", "int_type"}:
        problem = "is not an integer"
    elif kind in {"float_parsing", "float_type"}:
        problem = "is not a number"
    elif kind in {"greater_than_equal", "less_than_equal", "greater_than", "less_than"}:
        low, high = _bounds(info.metadata if info else [])
        problem = f"is out of range [{low:g}, {high:g}]"
    elif kind == "literal_error":
        problem = f"is not one of {err.get('ctx', {}).get('expected', '')}"
    elif kind.startswith("ecom_"):
        problem = err["msg"]
    else:
        problem = f"is not valid: {err['msg']}"
    return ConfigError(f"{shown} {problem}", hint=f"fix {name}")


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


def _bounds(metadata: list[Any]) -> tuple[float, float]:
    """The (low, high) of a field's ``ge``/``gt`` and ``le``/``lt`` constraints."""
    low, high = float("-inf"), float("inf")
    for m in metadata:
        for attr in ("ge", "gt"):
            if getattr(m, attr, None) is not None:
                low = float(getattr(m, attr))
        for attr in ("le", "lt"):
            if getattr(m, attr, None) is not None:
                high = float(getattr(m, attr))
    return low, high


# ---------------------------------------------------------------- the settings
_SERVICE_HOSTS = ("pg_host", "kafka_host", "connect_host", "s3_host", "registry_host")
_PORTS = ("pg_port", "kafka_port", "kafka_controller_port", "connect_port", "s3_port",
          "s3_console_port", "registry_port", "registry_management_port")  # fmt: skip
#: The schema registry's Confluent-compatible API, under its root URL.
CCOMPAT_PATH = "/apis/ccompat/v7"


class Settings(EcomSettings):
    """One immutable snapshot of the configuration shared by every stage (see :func:`load`)."""

    env: Environment = "development"
    """``development`` (default) or ``production``, which refuses to run with the
    development credentials (see ``.env.example``)."""
    home: Path = Field(default_factory=default_home)
    """State folder: data, logs, pid files. Default ``<repo>/.stack`` (as root, a folder
    under /var/tmp when the `postgres` user cannot reach that: :func:`default_home`)."""
    cache: Path = Field(default_factory=default_cache)
    """Download and build cache shared by every clone. Default ``~/.cache/ecom``."""
    host: Host = DEFAULT_HOST
    """The address every local service binds to."""
    pg_host: Host = DEFAULT_HOST
    """Where clients reach PostgreSQL. Default: ECOM_HOST."""
    kafka_host: Host = DEFAULT_HOST
    """Where clients reach Kafka. Default: ECOM_HOST."""
    connect_host: Host = DEFAULT_HOST
    """Where clients reach Kafka Connect. Default: ECOM_HOST."""
    s3_host: Host = DEFAULT_HOST
    """Where clients reach MinIO. Default: ECOM_HOST."""
    registry_host: Host = DEFAULT_HOST
    """Where clients reach the schema registry. Default: ECOM_HOST."""
    pg_port: Port = 5432
    """PostgreSQL port."""
    pg_user: PgName = "ecom"
    """The admin role of the local cluster (owns both databases)."""
    pg_password: SecretStr = SecretStr("ecom-dev")
    """Password of the admin role."""
    source_db: PgName = "ecommerce_source"
    """The OLTP source database."""
    gold_db: PgName = "ecommerce_gold"
    """The analytics database."""
    replication_user: PgName = "ecom_replicator"
    """The connector's least-privilege replication role."""
    replication_password: SecretStr = SecretStr("replicator-dev")
    """Password of the replication role."""
    gold_user: PgName = "ecom_gold"
    """The gold loader role (``ecom gold rebuild``, ``verify``'s gold side): owns the gold
    tables, cannot connect to the source database."""
    gold_password: SecretStr = SecretStr("gold-dev")
    """Password of the gold loader role."""
    kafka_port: Port = 9092
    """Kafka broker port."""
    kafka_controller_port: Port = 9093
    """KRaft controller port."""
    connect_port: Port = 8083
    """Kafka Connect REST port."""
    topic_prefix: Annotated[
        str, matching(r"[A-Za-z0-9_-]+", "letters, digits, '-' and '_' only")
    ] = "ecom"
    """Debezium ``topic.prefix``: CDC topics are ``<prefix>.public.<table>``."""
    slot_name: SlotName = "ecom_cdc_slot"
    """The replication slot's name."""
    publication: PgName = "ecom_cdc_pub"
    """The publication's name."""
    s3_port: Port = 9000
    """MinIO API port."""
    s3_console_port: Port = 9001
    """MinIO console port."""
    s3_access_key: AccessKey = "ecom-admin"
    """MinIO root user (stack, compaction)."""
    s3_secret_key: MinioSecret = SecretStr("ecom-dev-secret")
    """MinIO root user's secret key."""
    stream_s3_access_key: AccessKey = "ecom-stream"
    """The stream workers' MinIO user: may read and write objects in the three lake
    buckets and nothing else."""
    stream_s3_secret_key: MinioSecret = SecretStr("ecom-stream-dev-secret")
    """The stream workers' MinIO secret key."""
    bronze_bucket: Bucket = "bronze"
    """Bucket of the raw change log."""
    silver_bucket: Bucket = "silver"
    """Bucket of the cleaned change log."""
    kafka_heap: JvmHeap = "768m"
    """JVM max heap (-Xmx) of the broker."""
    connect_heap: JvmHeap = "768m"
    """JVM max heap (-Xmx) of Kafka Connect."""
    registry_port: Port = 8081
    """Schema registry (Apicurio) HTTP port: its Confluent-compatible API is
    ``/apis/ccompat/v7`` there."""
    registry_management_port: Port = 9002
    """Schema registry management port (health and metrics)."""
    registry_db: PgName = "ecom_registry"
    """The database the schema registry stores its schemas in."""
    registry_user: PgName = "ecom_registry"
    """The schema registry's role: owns its database, nothing else."""
    registry_password: SecretStr = SecretStr("registry-dev")
    """Password of the schema registry's role."""
    registry_heap: JvmHeap = "384m"
    """JVM max heap (-Xmx) of the schema registry."""
    max_slot_wal_keep_size: WalSize = "4GB"
    """Postgres cap on the WAL retained for replication slots."""
    pii_email: PiiEmailMode = "keep"
    """Customer email in silver and gold: ``keep``, ``hash`` (HMAC-SHA256 keyed with
    ECOM_PII_SALT, hex) or ``mask`` (``j***@example.com``)."""
    pii_salt: SecretStr = SecretStr("ecom-dev-pii-salt")
    """The secret key of ``hash`` (same key, same hash: joins still work)."""

    _lower = field_validator("env", "pii_email", mode="before")(_normalised)

    @field_validator("home", "cache")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @model_validator(mode="before")
    @classmethod
    def _service_hosts_default_to_host(cls, data: Any) -> Any:
        if isinstance(data, dict):
            host = data.get("host") or DEFAULT_HOST
            data = {**{name: host for name in _SERVICE_HOSTS}, **data}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        _check_ports(self)
        _check_distinct_users(self)
        _refuse_dev_secrets_in_production(self)
        return self

    # ---- derived endpoints -------------------------------------------------
    def dsn(
        self, database: str, *, user: str | None = None, password: SecretStr | None = None
    ) -> str:
        u = quote(user or self.pg_user, safe="")
        p = quote((password or self.pg_password).get_secret_value(), safe="")
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
        return (self.bronze_bucket, self.silver_bucket)

    @property
    def schema_registry_url(self) -> str:
        """The registry's Confluent-compatible API: what a Kafka client's schema registry
        URL setting takes."""
        return f"http://{self.registry_host}:{self.registry_port}{CCOMPAT_PATH}"

    def cdc_topic(self, table: str) -> str:
        return f"{self.topic_prefix}.public.{table}"

    def as_dict(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """Every setting plus the derived endpoints, JSON-friendly; secrets (and the
        passwords inside the DSNs) masked unless ``show_secrets``."""
        data: dict[str, Any] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value() if show_secrets else "****"
            data[name] = str(value) if isinstance(value, Path) else value
        dsns = {
            "source_dsn": self.source_dsn,
            "gold_dsn": self.gold_dsn,
            "gold_loader_dsn": self.gold_loader_dsn,
        }
        for key, dsn in dsns.items():
            data[key] = dsn if show_secrets else mask(key, dsn)
        data.update(
            kafka_bootstrap=self.kafka_bootstrap,
            connect_url=self.connect_url,
            s3_endpoint=self.s3_endpoint,
            schema_registry_url=self.schema_registry_url,
        )
        return data


def _secret_fields(cls: type[EcomSettings]) -> tuple[str, ...]:
    return tuple(name for name, f in cls.model_fields.items() if _is_secret(f.annotation))


#: Keys of :meth:`Settings.as_dict` whose values are credentials: masked by ``ecom config show``.
SECRET_FIELDS = frozenset({*_secret_fields(Settings), "source_dsn", "gold_dsn", "gold_loader_dsn"})

#: Each secret's variable and its local-development default (taken from the field). With
#: ECOM_ENV=production :func:`load` refuses any of them still at this value (or at a
#: ``change-me`` placeholder copied from ``.env.example``).
DEV_SECRETS: dict[str, str] = {
    Settings.variable(name): Settings.model_fields[name].get_default().get_secret_value()
    for name in _secret_fields(Settings)
}


def mask(key: str, value: str) -> str:
    """A setting's value as shown without ``--show-secrets``: a DSN keeps its user and
    host, anything else is ``****``."""
    if key.endswith("_dsn"):
        head, _, tail = value.partition("@")
        scheme_user = head.rsplit(":", 1)[0]
        return f"{scheme_user}:****@{tail}"
    return "****"


def load() -> Settings:
    """Read the environment (prefix ``ECOM_``) into a frozen :class:`Settings`."""
    return read(Settings)


# ---------------------------------------------------------------- cross-field checks
def _check_ports(s: Settings) -> None:
    seen: dict[int, str] = {}
    for field in _PORTS:
        name, port = Settings.variable(field), getattr(s, field)
        if port in seen:
            raise ConfigError(
                f"{name} and {seen[port]} both use port {port}", hint=f"give {name} another port"
            )
        seen[port] = name


def _check_distinct_users(s: Settings) -> None:
    if s.stream_s3_access_key == s.s3_access_key:
        raise ConfigError(
            "ECOM_STREAM_S3_ACCESS_KEY must differ from ECOM_S3_ACCESS_KEY (the root user)",
            hint="give the stream workers their own MinIO user name",
        )
    if len({s.pg_user, s.replication_user, s.gold_user, s.registry_user}) < 4:
        raise ConfigError(
            "ECOM_PG_USER, ECOM_REPLICATION_USER, ECOM_GOLD_USER and ECOM_REGISTRY_USER must "
            "be four different roles",
            hint="each role has its own privileges; give each its own name",
        )
    if s.registry_db in (s.source_db, s.gold_db):
        raise ConfigError(
            f"ECOM_REGISTRY_DB={s.registry_db!r} is the source or the gold database",
            hint="give the schema registry a database of its own",
        )


def dev_default_secrets(s: Settings) -> list[str]:
    """The secret settings still at their development default (or a ``change-me``
    placeholder from ``.env.example``). ECOM_PII_SALT counts only when hashing uses it."""
    fields = [f for f in _secret_fields(Settings) if f != "pii_salt" or s.pii_email == "hash"]
    weak = []
    for field in fields:
        name = Settings.variable(field)
        value = getattr(s, field).get_secret_value()
        if value == DEV_SECRETS[name] or value.lower().startswith("change-me"):
            weak.append(name)
    return weak


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


__all__ = [
    "DEV_SECRETS", "ENVIRONMENTS", "PII_EMAIL_MODES", "REPO_ROOT", "SECRET_FIELDS",
    "EcomSettings", "Settings", "config_error", "default_home", "dev_default_secrets",
    "load", "mask", "matching", "read",
]  # fmt: skip
