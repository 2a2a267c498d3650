from __future__ import annotations

import pytest
from pydantic import ValidationError

from common.errors import ConfigError
from common.settings import load

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
