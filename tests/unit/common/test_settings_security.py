"""Security of the settings: production refuses development credentials, secrets are
masked and listed in .env.example, names that reach SQL/S3/config files are checked,
and passwords of any shape survive the DSN."""

from __future__ import annotations

import os
import re
from pathlib import Path

import psycopg2.extensions
import pytest

from common.errors import ConfigError
from common.settings import DEV_SECRETS, SECRET_FIELDS, dev_default_secrets, load
from ecom.cli import main

ROOT = Path(__file__).resolve().parents[3]
REAL = {
    "ECOM_PG_PASSWORD": "pg-Secret-1",
    "ECOM_REPLICATION_PASSWORD": "repl-Secret-2",
    "ECOM_GOLD_PASSWORD": "gold-Secret-3",
    "ECOM_S3_SECRET_KEY": "s3-Secret-4",
    "ECOM_STREAM_S3_SECRET_KEY": "stream-Secret-5",
    "ECOM_REGISTRY_PASSWORD": "registry-Secret-6",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ECOM_"):
            monkeypatch.delenv(name)


def _set(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_development_runs_with_the_defaults() -> None:
    s = load()
    assert s.env == "development" and not s.is_production
    assert sorted(dev_default_secrets(s)) == sorted(set(DEV_SECRETS) - {"ECOM_PII_SALT"})


def test_production_refuses_every_dev_default_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_ENV", "production")
    with pytest.raises(ConfigError) as err:
        load()
    message = str(err.value)
    for name in REAL:
        assert name in message
    assert "ECOM_PII_SALT" not in message  # not used while emails are kept
    assert "listed in .env.example" in message
    for default in DEV_SECRETS.values():
        assert default not in message  # names the settings, never prints a value


def test_production_names_only_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**REAL, "ECOM_ENV": "Production"})
    monkeypatch.setenv("ECOM_GOLD_PASSWORD", "gold-dev")  # explicitly the default
    with pytest.raises(ConfigError) as err:
        load()
    assert "ECOM_GOLD_PASSWORD still has its development default" in str(err.value)
    assert "ECOM_PG_PASSWORD" not in str(err.value)


def test_production_refuses_env_example_placeholders(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**REAL, "ECOM_ENV": "production", "ECOM_PG_PASSWORD": "change-me"})
    with pytest.raises(ConfigError, match="ECOM_PG_PASSWORD"):
        load()


def test_production_with_real_secrets_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**REAL, "ECOM_ENV": "production"})
    s = load()
    assert s.is_production and dev_default_secrets(s) == []


def test_production_hashing_needs_a_real_salt(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**REAL, "ECOM_ENV": "production", "ECOM_PII_EMAIL": "hash"})
    with pytest.raises(ConfigError, match="ECOM_PII_SALT still has its development default"):
        load()
    monkeypatch.setenv("ECOM_PII_SALT", "a-real-pii-key")
    assert load().pii_email == "hash"


def test_cli_refuses_production_with_dev_credentials(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ECOM_ENV", "production")
    assert main(["config", "show"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ECOM_ENV=production but ECOM_PG_PASSWORD")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ECOM_ENV", "prod"),
        ("ECOM_PII_EMAIL", "scramble"),
        ("ECOM_STREAM_S3_SECRET_KEY", "short"),
        ("ECOM_STREAM_S3_ACCESS_KEY", "ecom-admin"),  # the root user
        ("ECOM_GOLD_USER", "ecom"),  # the admin role
        ("ECOM_GOLD_DB", 'orders"; DROP TABLE x; --'),
        ("ECOM_SOURCE_DB", "'; select 1; --"),
        ("ECOM_REPLICATION_USER", 'r" SUPERUSER --'),
        ("ECOM_GOLD_USER", "g'; DROP ROLE ecom; --"),
        ("ECOM_PUBLICATION", "pub; DROP PUBLICATION x"),
        ("ECOM_SLOT_NAME", "Slot-1"),
        ("ECOM_SILVER_BUCKET", "*"),
        ("ECOM_BRONZE_BUCKET", "bronze/*"),
        ("ECOM_STREAM_S3_ACCESS_KEY", "a,b=c"),
        ("ECOM_PG_HOST", "db host"),
        ("ECOM_MAX_SLOT_WAL_KEEP_SIZE", "4GB'\nshared_preload_libraries='x"),
        ("ECOM_KAFKA_HEAP", "768m -XX:OnOutOfMemoryError=sh"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as err:
        load()
    assert name in str(err.value)


def test_any_password_survives_the_dsn(monkeypatch: pytest.MonkeyPatch) -> None:
    password = "p@ss:w/rd#?%&'\" x"
    monkeypatch.setenv("ECOM_PG_PASSWORD", password)
    monkeypatch.setenv("ECOM_GOLD_PASSWORD", password + "2")
    s = load()
    parsed = psycopg2.extensions.parse_dsn(s.source_dsn)
    assert parsed["password"] == password and parsed["user"] == "ecom"
    assert parsed["host"] == "127.0.0.1" and parsed["dbname"] == "ecommerce_source"
    loader = psycopg2.extensions.parse_dsn(s.gold_loader_dsn)
    assert (loader["user"], loader["password"]) == ("ecom_gold", password + "2")
    masked = s.as_dict()
    assert masked["source_dsn"] == "postgresql://ecom:****@127.0.0.1:5432/ecommerce_source"


def test_every_secret_is_masked(monkeypatch: pytest.MonkeyPatch) -> None:
    _set(monkeypatch, {**REAL, "ECOM_PII_SALT": "salt-Secret-6"})
    shown = load().as_dict()
    for key in ("pg_password", "replication_password", "gold_password", "s3_secret_key",
                "stream_s3_secret_key", "pii_salt"):  # fmt: skip
        assert key in SECRET_FIELDS and shown[key] == "****", key
    text = repr(shown)
    for secret in (*REAL.values(), "salt-Secret-6"):
        assert secret not in text
    assert shown["gold_loader_dsn"].startswith("postgresql://ecom_gold:****@")


def test_env_example_documents_every_secret_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*(ECOM_[A-Z0-9_]+)=", text, flags=re.MULTILINE))
    users = {"ECOM_PG_USER", "ECOM_REPLICATION_USER", "ECOM_GOLD_USER", "ECOM_S3_ACCESS_KEY",
             "ECOM_STREAM_S3_ACCESS_KEY", "ECOM_ENV", "ECOM_PII_EMAIL"}  # fmt: skip
    missing = (set(DEV_SECRETS) | users) - listed
    assert not missing, f".env.example does not list {sorted(missing)}"
    for name, default in DEV_SECRETS.items():
        assert f"{name}={default}\n" not in text, f".env.example must not hold {name}'s default"
