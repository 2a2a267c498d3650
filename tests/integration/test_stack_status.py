"""`ecom stack status` tells a stopped component apart, and `stack up` names a busy port.

Runs the real `ecom` CLI in a subprocess. The first test stops the shared MinIO for
a few seconds and always starts it again.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from common import process
from common.settings import Settings
from tests.integration.conftest import run_cli

COMPONENTS = ("postgres", "kafka", "connect", "minio", "registry")


def _status_table(stdout: str) -> dict[str, str]:
    """component -> state column ('up' / 'DOWN') of the human status table."""
    lines = stdout.strip().splitlines()
    assert lines and lines[0].split()[:2] == ["component", "state"], stdout
    states = {}
    for line in lines[1:]:
        parts = line.split()
        states[parts[0]] = parts[1]
    return states


def _status(*names: str) -> tuple[int, dict[str, str], dict[str, dict[str, object]]]:
    text = run_cli("stack", "status", *names, timeout=120)
    js = run_cli("stack", "status", *names, "--json", timeout=120)
    rows = json.loads(js.stdout)
    assert text.returncode == js.returncode, (text.returncode, js.returncode, js.stderr)
    return text.returncode, _status_table(text.stdout), {r["name"]: r for r in rows}


def test_status_reports_a_stopped_component(stack: Settings) -> None:
    rc, table, rows = _status()
    assert rc == 0, table
    assert table == dict.fromkeys(COMPONENTS, "up")
    try:
        down = run_cli("stack", "down", "minio", timeout=120)
        assert down.returncode == 0, down.stderr
        minio_pid = process.read_pid(stack.home / "run" / "minio.pid")
        assert minio_pid is None or not process.pid_alive(minio_pid)

        rc, table, rows = _status()
        assert rc == 1
        assert table == {"postgres": "up", "kafka": "up", "connect": "up", "minio": "DOWN",
                         "registry": "up"}  # fmt: skip
        assert [r["name"] for r in rows.values()] == list(COMPONENTS)
        assert rows["minio"]["up"] is False
        assert rows["minio"]["pid"] is None
        assert rows["minio"]["endpoint"] == f"{stack.host}:{stack.s3_port}"
        assert rows["minio"]["detail"], "a down component must say why"
        for name in ("postgres", "kafka", "connect", "registry"):
            assert rows[name]["up"] is True, rows[name]
            assert isinstance(rows[name]["pid"], int)

        # asking only about the healthy ones succeeds; only about minio fails
        rc_ok, table_ok, _ = _status("postgres", "kafka", "connect")
        assert rc_ok == 0 and set(table_ok) == {"postgres", "kafka", "connect"}
        rc_m, table_m, rows_m = _status("minio")
        assert rc_m == 1 and table_m == {"minio": "DOWN"} and rows_m["minio"]["up"] is False
    finally:
        up = run_cli("stack", "up", "minio", timeout=180)
        assert up.returncode == 0, up.stderr
    rc, table, rows = _status()
    assert rc == 0, table
    assert table == dict.fromkeys(COMPONENTS, "up")
    assert all(r["up"] is True for r in rows.values())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def listener() -> Iterator[int]:
    """A port on 127.0.0.1 that another process (this one) listens on."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    try:
        yield int(s.getsockname()[1])
    finally:
        s.close()


@pytest.mark.parametrize("busy", ["ECOM_S3_PORT", "ECOM_S3_CONSOLE_PORT"])
def test_stack_up_names_a_port_in_use(stack: Settings, tmp_path: Path, listener: int,
                                      busy: str) -> None:
    home = tmp_path / "home"
    other = "ECOM_S3_CONSOLE_PORT" if busy == "ECOM_S3_PORT" else "ECOM_S3_PORT"
    env = {"ECOM_HOME": str(home), busy: str(listener), other: str(_free_port())}
    result = run_cli("stack", "up", "minio", env=env, timeout=300)

    assert result.returncode == 1, (result.stdout, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    (line,) = errors
    assert busy in line, line
    assert f"127.0.0.1:{listener}" in line, line
    if busy == "ECOM_S3_PORT":
        assert "already in use" in line, line
    else:
        assert "in use" in line, line
    assert "Traceback" not in result.stderr
    assert "minio up" not in result.stderr
    # nothing was started for that home
    pid = process.read_pid(home / "run" / "minio.pid")
    assert pid is None or not process.pid_alive(pid), f"a minio (pid {pid}) was started"


def test_stack_up_names_the_registry_management_port_in_use(
    stack: Settings, tmp_path: Path, listener: int
) -> None:
    env = {"ECOM_HOME": str(tmp_path / "home"), "ECOM_REGISTRY_PORT": str(_free_port()),
           "ECOM_REGISTRY_MANAGEMENT_PORT": str(listener)}  # fmt: skip
    result = run_cli("stack", "up", "registry", env=env, timeout=300)
    assert result.returncode == 1, (result.stdout, result.stderr)
    (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert "ECOM_REGISTRY_MANAGEMENT_PORT" in line and f"127.0.0.1:{listener}" in line, line
    pid = process.read_pid(tmp_path / "home" / "run" / "registry.pid")
    assert pid is None or not process.pid_alive(pid), f"a registry (pid {pid}) was started"


def test_data_survives_down_and_up(stack) -> None:  # type: ignore[no-untyped-def]
    """An object written to MinIO is still there after `stack down minio` / `stack up minio`."""
    import io
    import uuid

    from minio import Minio

    def client() -> Minio:
        return Minio(stack.s3_endpoint, access_key=stack.s3_access_key,
                     secret_key=stack.s3_secret_key.get_secret_value(), secure=False)

    name = f"_tests/survives-{uuid.uuid4().hex}.txt"
    client().put_object(stack.bronze_bucket, name, io.BytesIO(b"still here"), 10)
    try:
        assert run_cli("stack", "down", "minio").returncode == 0
        up = run_cli("stack", "up", "minio")
        assert up.returncode == 0, up.stderr
        resp = client().get_object(stack.bronze_bucket, name)
        try:
            assert resp.read() == b"still here"
        finally:
            resp.close()
            resp.release_conn()
    finally:
        run_cli("stack", "up", "minio")
        client().remove_object(stack.bronze_bucket, name)
