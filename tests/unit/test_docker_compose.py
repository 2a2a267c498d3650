"""docker-compose.yml cannot run here; check it agrees with the local stack."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from common.settings import load
from stack import versions

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _ports(service: dict) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_component_versions_match_the_pins(compose: dict) -> None:
    svc = compose["services"]
    assert svc["kafka"]["image"].endswith(":" + versions.kafka_version())
    assert svc["connect"]["image"].endswith(":" + versions.debezium_version())
    assert svc["minio"]["build"]["args"]["MINIO_VERSION"] == versions.MINIO_VERSION
    assert svc["registry"]["image"] == f"apicurio/apicurio-registry:{versions.apicurio_version()}"
    pg_major = int(svc["postgres"]["image"].split(":")[1].split(".")[0])
    assert pg_major >= versions.MIN_POSTGRES


def test_ports_are_loopback_and_match_defaults(
    compose: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [k for k in os.environ if k.startswith("ECOM_")]:
        monkeypatch.delenv(name)  # the defaults, not a shifted test stack's ports
    s = load()
    svc = compose["services"]
    expected = {
        "postgres": [s.pg_port],
        "kafka": [s.kafka_port],
        "connect": [s.connect_port],
        "minio": [s.s3_port, s.s3_console_port],
        "registry": [s.registry_port],
    }
    for name, ports in expected.items():
        published = _ports(svc[name])
        assert all(p.startswith("127.0.0.1:") for p in published), (name, published)
        assert [int(p.split(":")[1]) for p in published] == ports, name


def test_postgres_settings_match_local_stack(compose: dict) -> None:
    s = load()
    cmd = compose["services"]["postgres"]["command"]
    flags = {c.split("=", 1)[0]: c.split("=", 1)[1] for c in cmd if "=" in c}
    assert flags["wal_level"] == "logical"
    assert flags["max_slot_wal_keep_size"] == s.max_slot_wal_keep_size
    assert compose["services"]["postgres"]["environment"]["POSTGRES_DB"] == s.source_db


def test_apps_use_same_prefix_and_databases(compose: dict) -> None:
    s = load()
    env = compose["services"]["init"]["environment"]
    assert env["ECOM_TOPIC_PREFIX"] == s.topic_prefix
    assert env["ECOM_SOURCE_DB"] == s.source_db
    assert env["ECOM_GOLD_DB"] == s.gold_db
    assert env["ECOM_PG_HOST"] == "postgres"


def test_registry_stores_in_its_own_database_that_init_creates(compose: dict) -> None:
    s = load()
    svc = compose["services"]
    reg = svc["registry"]["environment"]
    assert reg["APICURIO_STORAGE_KIND"] == "sql"
    assert reg["APICURIO_DATASOURCE_URL"].endswith(f"/{s.registry_db}")
    assert svc["init"]["environment"]["ECOM_REGISTRY_DB"] == s.registry_db
    assert "ecom db init" in " ".join(svc["init"]["entrypoint"])
    assert svc["registry"]["restart"] == "on-failure"  # until init created its database
    assert "registry" in svc["stream"]["depends_on"]
    app = svc["stream"]["environment"]
    assert (app["ECOM_REGISTRY_HOST"], app["ECOM_REGISTRY_PORT"]) == ("registry", "8080")


def test_connect_storage_topics_match_worker_template(compose: dict) -> None:
    template = (ROOT / "stack" / "templates" / "connect-distributed.properties").read_text()
    env = compose["services"]["connect"]["environment"]
    for key, prop in (
        ("CONFIG_STORAGE_TOPIC", "config.storage.topic"),
        ("OFFSET_STORAGE_TOPIC", "offset.storage.topic"),
        ("STATUS_STORAGE_TOPIC", "status.storage.topic"),
        ("GROUP_ID", "group.id"),
    ):
        assert f"{prop}={env[key]}" in template


def test_stream_workers_and_lake_setup_are_services(compose: dict) -> None:
    svc = compose["services"]
    assert svc["stream"]["command"] == ["stream", "run"]
    assert "stack.minio_setup" in " ".join(svc["init"]["entrypoint"])
    env = svc["stream"]["environment"]
    for name in ("ECOM_STREAM_S3_ACCESS_KEY", "ECOM_STREAM_S3_SECRET_KEY", "ECOM_GOLD_USER"):
        assert name in env, name
