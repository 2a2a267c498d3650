"""librdkafka never writes to the user's terminal: real CLI commands that create Kafka
clients, against the running stack and against an unreachable broker, print no
librdkafka-formatted line (``%<level>|<time>|<facility>|...``) on stdout or stderr.

librdkafka reports a refused connection several times a second and purges its queues
on shutdown; without a logger on every client those lines reach stderr, in between the
CLI's own output."""

from __future__ import annotations

import re
import socket

import pytest

from stream_apps.configuration import StreamSettings
from tests.integration.conftest import run_cli

LIBRDKAFKA_LINE = re.compile(r"%\d+\|")

COMMANDS = [
    ("status",),
    ("status", "--json"),
    ("replay", "--group", "nosuch", "--to-earliest", "--dry-run"),
    ("replay", "--group", "ecom-stream-nosuch", "--to-earliest", "--dry-run"),
    ("stream", "status"),
    ("connectors", "status"),
    ("stack", "status"),
]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _assert_quiet(args: tuple[str, ...], out: str, err: str) -> None:
    for stream_name, text in (("stdout", out), ("stderr", err)):
        lines = [x for x in text.splitlines() if LIBRDKAFKA_LINE.search(x)]
        assert lines == [], f"`ecom {' '.join(args)}` printed librdkafka lines on {stream_name}"


@pytest.mark.parametrize("args", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_commands_against_the_stack_print_no_librdkafka_line(
    stream: StreamSettings, args: tuple[str, ...]
) -> None:
    res = run_cli(*args, timeout=180)
    _assert_quiet(args, res.stdout, res.stderr)
    assert res.stdout.strip() or res.stderr.strip()  # each command did say something


def test_unknown_group_is_one_line_every_time(stream: StreamSettings) -> None:
    """The shutdown purge was timing-dependent: several runs, each exactly one line."""
    for _ in range(5):
        res = run_cli("replay", "--group", "nosuch", "--to-earliest", "--dry-run")
        assert res.returncode == 1
        assert res.stdout == ""
        assert len(res.stderr.splitlines()) == 1, res.stderr
        assert res.stderr.startswith("error: unknown group 'nosuch'"), res.stderr


UNREACHABLE = [
    (("status",), "kafka (127.0.0.1:"),
    (("replay", "--group", "nosuch", "--to-earliest", "--dry-run"), "Kafka did not answer"),
]


@pytest.mark.parametrize("args, says", UNREACHABLE, ids=[" ".join(a) for a, _ in UNREACHABLE])
def test_unreachable_broker_is_one_line_without_librdkafka_noise(
    stream: StreamSettings, args: tuple[str, ...], says: str
) -> None:
    """A broker that refuses connections makes librdkafka log on every retry."""
    res = run_cli(*args, env={"ECOM_KAFKA_PORT": str(_closed_port())}, timeout=120)
    _assert_quiet(args, res.stdout, res.stderr)
    assert res.returncode == 1
    assert len(res.stderr.splitlines()) == 1, res.stderr
    assert res.stderr.startswith("error: ") and says in res.stderr, res.stderr


def test_debug_shows_librdkafka_lines_as_log_records(stream: StreamSettings) -> None:
    res = run_cli("--debug", "status", env={"ECOM_KAFKA_PORT": str(_closed_port())}, timeout=120)
    _assert_quiet(("--debug", "status"), res.stdout, res.stderr)
    assert re.search(r"librdkafka: FAIL .*Connection refused", res.stderr), res.stderr[-3000:]
