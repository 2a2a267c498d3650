from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from common.errors import ConfigError
from common.settings import EcomSettings, Settings, load
from compaction.configuration import GoldSettings
from ecom.status import model
from ecom.status.model import HealthSettings
from stream_apps import configuration as stream_configuration
from stream_apps.configuration import StreamSettings

ALL_ECOM = [
    "ECOM_HOME",
    "ECOM_CACHE",
    "ECOM_HOST",
    "ECOM_PG_PORT",
    "ECOM_PG_HOST",
    "ECOM_PG_PASSWORD",
    "ECOM_KAFKA_PORT",
    "ECOM_KAFKA_HOST",
    "ECOM_S3_SECRET_KEY",
    "ECOM_TOPIC_PREFIX",
    "ECOM_CONNECT_PORT",
    "ECOM_S3_PORT",
    "ECOM_REGISTRY_PORT",
    "ECOM_REGISTRY_MANAGEMENT_PORT",
    "ECOM_REGISTRY_HOST",
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_ECOM:
        monkeypatch.delenv(name, raising=False)


def test_defaults_are_local_loopback() -> None:
    s = load()
    assert s.host == "127.0.0.1"
    assert s.kafka_bootstrap == "127.0.0.1:9092"
    assert s.connect_url == "http://127.0.0.1:8083"
    assert s.s3_endpoint == "127.0.0.1:9000"
    assert s.source_dsn.endswith("@127.0.0.1:5432/ecommerce_source")
    assert s.gold_dsn.endswith("/ecommerce_gold")
    assert s.cdc_topic("orders") == "ecom.public.orders"
    assert s.schema_registry_url == "http://127.0.0.1:8081/apis/ccompat/v7"
    assert s.as_dict()["schema_registry_url"] == s.schema_registry_url
    assert s.buckets == ("bronze", "silver")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("ECOM_PG_PORT", "6543")
    monkeypatch.setenv("ECOM_PG_HOST", "db.internal")
    monkeypatch.setenv("ECOM_TOPIC_PREFIX", "shop")
    monkeypatch.setenv("ECOM_HOME", str(tmp_path / "state"))
    s = load()
    assert s.source_dsn == "postgresql://ecom:ecom-dev@db.internal:6543/ecommerce_source"
    assert s.cdc_topic("customers") == "shop.public.customers"
    assert s.home == (tmp_path / "state").resolve()


def test_settings_are_frozen() -> None:
    s = load()
    with pytest.raises(ValidationError, match="frozen"):
        s.pg_port = 1


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("ECOM_PG_PORT", "abc", "ECOM_PG_PORT='abc' is not an integer"),
        ("ECOM_KAFKA_PORT", "70000", "out of range"),
        ("ECOM_S3_SECRET_KEY", "short", "at least 8"),
        ("ECOM_TOPIC_PREFIX", "bad prefix!", "ECOM_TOPIC_PREFIX"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load()
    assert fragment in str(err.value)


def test_port_clash_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_CONNECT_PORT", "9092")
    with pytest.raises(ConfigError, match="both use port 9092"):
        load()


def test_the_registry_management_port_is_a_port_of_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECOM_REGISTRY_MANAGEMENT_PORT", "9000")  # Quarkus' default: MinIO's
    with pytest.raises(ConfigError, match="ECOM_REGISTRY_MANAGEMENT_PORT and ECOM_S3_PORT"):
        load()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ECOM_REGISTRY_USER", "ecom_gold", "four different roles"),
        ("ECOM_REGISTRY_DB", "ecommerce_source", "the source or the gold database"),
    ],
)
def test_the_registry_has_a_role_and_a_database_of_its_own(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        load()


def test_secrets_masked_unless_asked() -> None:
    s = load()
    masked = s.as_dict()
    for key in (
        "source_dsn",
        "gold_dsn",
        "kafka_bootstrap",
        "connect_url",
        "s3_endpoint",
        "s3_access_key",
        "s3_secret_key",
    ):
        assert key in masked
    assert masked["s3_secret_key"] == "****"
    assert masked["pg_password"] == "****"
    assert "ecom-dev" not in masked["source_dsn"]
    assert masked["source_dsn"] == "postgresql://ecom:****@127.0.0.1:5432/ecommerce_source"
    clear = s.as_dict(show_secrets=True)
    assert clear["s3_secret_key"] == s.s3_secret_key.get_secret_value()
    assert clear["source_dsn"] == s.source_dsn


SETTINGS_CLASSES = [Settings, StreamSettings, GoldSettings, HealthSettings]


@pytest.mark.parametrize("cls", SETTINGS_CLASSES, ids=lambda c: c.__name__)
def test_every_setting_has_a_docstring_and_an_ecom_variable(cls: type[EcomSettings]) -> None:
    for name, info in cls.model_fields.items():
        assert info.description, f"{cls.__name__}.{name} has no docstring"
        assert cls.variable(name).startswith("ECOM_"), name
    variables = list(cls.variables().values())
    assert len(set(variables)) == len(variables)


def test_variables_follow_the_prefix() -> None:
    assert Settings.variable("pg_port") == "ECOM_PG_PORT"
    assert StreamSettings.variable("batch_size") == "ECOM_STREAM_BATCH_SIZE"
    assert GoldSettings.variable("lake_target_file_mb") == "ECOM_GOLD_LAKE_TARGET_FILE_MB"
    assert HealthSettings.variable("max_lag") == "ECOM_STATUS_MAX_LAG"


def test_no_two_classes_read_the_same_variable() -> None:
    seen: dict[str, str] = {}
    for cls in SETTINGS_CLASSES:
        for name, variable in cls.variables().items():
            if name == "base":  # the shared settings, handed over, not read from a variable
                continue
            assert variable not in seen, f"{variable}: {seen.get(variable)} and {cls.__name__}"
            seen[variable] = cls.__name__


def test_service_hosts_default_to_the_bind_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_HOST", "10.1.2.3")
    monkeypatch.setenv("ECOM_S3_HOST", "minio")
    s = load()
    assert (s.pg_host, s.kafka_host, s.connect_host, s.s3_host, s.registry_host) == (
        "10.1.2.3", "10.1.2.3", "10.1.2.3", "minio", "10.1.2.3",
    )  # fmt: skip


def test_empty_variable_means_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_PG_PORT", "")
    monkeypatch.setenv("ECOM_PG_PASSWORD", "")
    s = load()
    assert s.pg_port == 5432 and s.pg_password.get_secret_value() == "ecom-dev"


def test_a_bad_secret_is_named_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_STREAM_S3_SECRET_KEY", "tiny7")
    with pytest.raises(ConfigError) as err:
        load()
    assert "ECOM_STREAM_S3_SECRET_KEY" in str(err.value) and "tiny7" not in str(err.value)


def test_errors_are_one_line_and_name_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_STREAM_PARTITIONS", "1000")
    with pytest.raises(ConfigError) as err:
        stream_configuration.load()
    assert str(err.value) == (
        "ECOM_STREAM_PARTITIONS='1000' is out of range [1, 256] (fix ECOM_STREAM_PARTITIONS)"
    )


def test_secrets_are_secretstr() -> None:
    s = load()
    for name in ("pg_password", "replication_password", "gold_password", "s3_secret_key",
                 "stream_s3_secret_key", "pii_salt"):  # fmt: skip
        value = getattr(s, name)
        assert isinstance(value, SecretStr) and value.get_secret_value() not in repr(s), name


def test_a_range_error_of_an_aliased_setting_gives_its_bounds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ECOM_STATUS_SAMPLE_SECONDS", "90")
    with pytest.raises(ConfigError, match=r"ECOM_STATUS_SAMPLE_SECONDS='90' is out of range \[0, 60\]"):
        model.load()
