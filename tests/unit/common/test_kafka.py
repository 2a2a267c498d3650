"""common.kafka: every confluent-kafka client logs through Python logging, never raw stderr.

The clients here point at a closed local port, so librdkafka has something to report
(connection refused, several times a second) without any broker running."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import textwrap

from common import kafka
from common.settings import load

LIBRDKAFKA_LINE = re.compile(r"%\d+\|")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_config_has_the_settings_bootstrap_the_extras_and_the_logger(monkeypatch) -> None:
    monkeypatch.setenv("ECOM_KAFKA_PORT", "19092")
    conf = kafka.client_config(load(), {"group.id": "g", "enable.auto.commit": False})
    assert conf["bootstrap.servers"] == "127.0.0.1:19092"
    assert conf["group.id"] == "g" and conf["enable.auto.commit"] is False
    assert conf["logger"] is kafka.librdkafka_logger()
    assert conf["logger"].name == kafka.LOGGER_NAME


def test_extras_cannot_drop_the_logger() -> None:
    conf = kafka.client_config("h:1", {"logger": None, "bootstrap.servers": "elsewhere:2"})
    assert conf["logger"] is kafka.librdkafka_logger()
    assert conf["bootstrap.servers"] == "elsewhere:2"


def test_logger_gets_one_null_handler() -> None:
    kafka.librdkafka_logger()
    handlers = kafka.librdkafka_logger().handlers
    assert sum(type(h).__name__ == "NullHandler" for h in handlers) == 1


def _run_clients(configure: str) -> subprocess.CompletedProcess[str]:
    """A Producer, a Consumer and an AdminClient against a closed port, in a fresh
    interpreter (librdkafka writes to file descriptor 2 directly)."""
    code = textwrap.dedent(
        f"""
        from confluent_kafka import Consumer, Producer
        from confluent_kafka.admin import AdminClient
        from common import log
        from common.kafka import client_config
        {configure}
        boot = "127.0.0.1:{_closed_port()}"
        admin = AdminClient(client_config(boot))
        try:
            admin.list_topics(timeout=1.5)
        except Exception:
            pass
        consumer = Consumer(client_config(boot, {{"group.id": "unit"}}))
        consumer.poll(1.0)
        consumer.close()
        producer = Producer(client_config(boot))
        producer.produce("t", b"x")
        producer.poll(1.0)
        producer.flush(0.5)
        print("done")
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_librdkafka_lines_never_reach_stdout_or_stderr() -> None:
    for configure in ("", "log.configure(verbose=False)"):
        out = _run_clients(configure)
        assert out.returncode == 0, out.stderr
        assert "done" in out.stdout
        assert not LIBRDKAFKA_LINE.search(out.stdout + out.stderr), out.stdout + out.stderr


def test_debug_logging_shows_them_as_log_records() -> None:
    out = _run_clients("log.configure(verbose=True)")
    assert out.returncode == 0, out.stderr
    assert not LIBRDKAFKA_LINE.search(out.stdout + out.stderr)
    assert re.search(r"librdkafka: FAIL .*Connection refused", out.stderr), out.stderr[-2000:]
