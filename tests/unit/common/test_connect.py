"""The Connect client where no Connect answers (a real closed port), and how it reads
Connect's error bodies. Its answers from a real Connect are tests/integration."""

from __future__ import annotations

import socket

import pytest

from common import http
from common.connect import ConnectClient, ConnectUnavailable
from common.errors import TransientError


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_connect_is_transient_and_says_to_start_the_stack() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ConnectUnavailable) as raised:
        ConnectClient(url, timeout=2).status("ecommerce-source")
    error = raised.value
    assert isinstance(error, TransientError)
    text = str(error)
    assert text.startswith(f"Kafka Connect at {url} did not answer (")
    assert "Connection refused" in text and "\n" not in text
    assert text.endswith(
        "(start it with `ecom stack up`; `ecom stack logs connect` shows why it is down)"
    )


def test_metrics_of_a_worker_that_is_not_there_is_transient() -> None:
    with pytest.raises(http.HttpUnavailable, match="Connection refused"):
        http.get_text(f"http://127.0.0.1:{closed_port()}/metrics", timeout=2)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error_code":404,"message":"Connector nope not found"}', "Connector nope not found"),
        (b"<html>\n<body>Bad   gateway</body></html>", "<html> <body>Bad gateway</body></html>"),
        (b"", "no message"),
    ],
)
def test_connects_message_is_read_from_its_error_body(body: bytes, expected: str) -> None:
    assert http.error_message(http.json_body(body), body) == expected
