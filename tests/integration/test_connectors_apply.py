"""`ecom connectors apply` against the real Connect worker."""

from __future__ import annotations

import pytest

from common.settings import Settings
from connectors import manage
from connectors.exceptions import ConnectorConfigInvalid

from .conftest import run_cli


def test_invalid_config_shows_connects_validation_errors(capture: Settings) -> None:
    definition = manage.load_definition("ecommerce-source", capture)
    broken = {
        "name": "ecom-invalid-test",
        "config": dict(
            definition["config"],
            **{"database.port": "not-a-port", "snapshot.mode": "sometimes"},
        ),
    }
    with pytest.raises(ConnectorConfigInvalid) as err:
        manage.apply_definition(capture, broken)
    text = str(err.value)
    assert "database.port" in text
    assert "snapshot.mode" in text
    # nothing was registered
    assert manage.state(capture, "ecom-invalid-test").state == "NOT_REGISTERED"


def test_wrong_password_is_reported_before_anything_is_registered(capture: Settings) -> None:
    definition = manage.load_definition("ecommerce-source", capture)
    broken = {
        "name": "ecom-badpass-test",
        "config": dict(definition["config"], **{"database.password": "wrong-password"}),
    }
    with pytest.raises(ConnectorConfigInvalid, match="ecom-badpass-test"):
        manage.apply_definition(capture, broken)
    assert manage.state(capture, "ecom-badpass-test").state == "NOT_REGISTERED"


def test_apply_is_idempotent_and_status_reports_running(capture: Settings) -> None:
    first = run_cli("connectors", "apply")
    assert first.returncode == 0, first.stderr
    assert "config unchanged" in first.stderr
    status = run_cli("connectors", "status", "--json")
    assert status.returncode == 0, status.stderr
    assert '"healthy": true' in status.stdout
