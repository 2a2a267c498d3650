"""common.connect against the real Kafka Connect worker: answers, and typed refusals
carrying Connect's own message."""

from __future__ import annotations

import pytest

from common.connect import (
    ConnectClient,
    ConnectNotFound,
    ConnectRequestFailed,
)
from common.errors import TerminalError
from common.settings import Settings

MISSING = "ecom-no-such-connector"


@pytest.fixture(scope="module")
def connect(stack: Settings) -> ConnectClient:
    return ConnectClient(stack.connect_url)


def test_the_worker_answers_with_its_version_and_plugins(connect: ConnectClient) -> None:
    assert connect.root()["version"]
    assert "io.debezium.connector.postgresql.PostgresConnector" in connect.plugin_classes()


def test_a_connector_that_does_not_exist(connect: ConnectClient) -> None:
    assert connect.status(MISSING) is None
    assert connect.config(MISSING) is None
    assert connect.delete(MISSING) is False
    with pytest.raises(ConnectNotFound) as raised:
        connect.request("GET", f"/connectors/{MISSING}/status")
    assert raised.value.status == 404 and MISSING in raised.value.connect_message
    assert str(raised.value).startswith(
        f"Kafka Connect refused GET /connectors/{MISSING}/status (404): "
    )


def test_a_bad_request_is_terminal_with_connects_message(connect: ConnectClient) -> None:
    with pytest.raises(ConnectRequestFailed) as raised:
        connect.put_config(MISSING, {"connector.class": "org.example.NoSuchConnector"})
    error = raised.value
    assert isinstance(error, TerminalError) and 400 <= error.status < 500
    assert "NoSuchConnector" in error.connect_message and "\n" not in str(error)
    assert connect.status(MISSING) is None  # nothing was registered
