from __future__ import annotations

import json
from importlib import resources

import pytest

from common.errors import ConfigError
from common.settings import load
from connectors import manage


def _raw(name: str = "ecommerce-source") -> dict:
    return json.loads(resources.files("connectors").joinpath(f"{name}.json").read_text())


def test_one_file_per_connector_with_name_and_config() -> None:
    names = manage.definition_names()
    assert names == ["ecommerce-source"]
    for name in names:
        raw = _raw(name)
        assert set(raw) == {"name", "config"}
        assert raw["name"] == name


def test_debezium_settings_avoid_the_dangerous_defaults() -> None:
    config = manage.load_definition("ecommerce-source", load())["config"]
    assert config["plugin.name"] == "pgoutput"
    assert config["decimal.handling.mode"] == "string"
    assert config["time.precision.mode"] == "adaptive_time_microseconds"
    assert config["snapshot.mode"] == "initial"
    assert config["skipped.operations"] == "none"  # truncates are kept
    assert int(config["heartbeat.interval.ms"]) > 0
    assert "cdc.debezium_heartbeat" in config["heartbeat.action.query"]
    assert config["publication.autocreate.mode"] == "disabled"
    tables = config["table.include.list"].split(",")
    assert sorted(tables) == sorted(
        f"public.{t}"
        for t in (
            "customers",
            "products",
            "marketing_campaigns",
            "orders",
            "order_items",
            "inventory_transactions",
        )
    )


def test_placeholders_are_filled_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_TOPIC_PREFIX", "shop")
    monkeypatch.setenv("ECOM_PG_HOST", "pg.example")
    monkeypatch.setenv("ECOM_REPLICATION_PASSWORD", "s3cret-value")
    config = manage.load_definition("ecommerce-source", load())["config"]
    assert config["topic.prefix"] == "shop"
    assert config["database.hostname"] == "pg.example"
    assert config["database.password"] == "s3cret-value"
    assert not any("${ecom:" in v for v in config.values())


def test_no_credentials_committed_in_definition() -> None:
    text = resources.files("connectors").joinpath("ecommerce-source.json").read_text()
    s = load()
    assert s.replication_password.get_secret_value() not in text
    assert s.pg_password.get_secret_value() not in text


def test_unknown_placeholder_is_a_clear_error() -> None:
    raw = {"name": "x", "config": {"database.hostname": "${ecom:no_such_setting}"}}
    with pytest.raises(ConfigError, match="unknown placeholder"):
        manage.render(raw, load())


def test_connector_state_health() -> None:
    ok = manage.ConnectorState("c", "RUNNING", [{"id": "0", "state": "RUNNING"}])
    failed_task = manage.ConnectorState("c", "RUNNING", [{"id": "0", "state": "FAILED"}])
    no_tasks = manage.ConnectorState("c", "RUNNING", [])
    assert ok.healthy
    assert not failed_task.healthy
    assert not no_tasks.healthy
