"""The CLI contract: every command has --help; errors are one line and exit 1."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ecom.cli import build_parser, main

COMMANDS = [
    [],
    ["stack"],
    ["stack", "up"],
    ["stack", "down"],
    ["stack", "status"],
    ["stack", "reset"],
    ["stack", "logs"],
    ["db"],
    ["db", "init"],
    ["connectors"],
    ["connectors", "apply"],
    ["connectors", "status"],
    ["config"],
    ["config", "show"],
    ["demo"],
    ["stream"], ["stream", "run"], ["stream", "start"], ["stream", "stop"], ["stream", "status"],
    ["status"], ["generate"], ["generate", "seed"], ["generate", "live"],
    ["gold"], ["gold", "rebuild"], ["gold", "verify"], ["gold", "schedule"], ["kpi"],
]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "ecom")
def test_every_command_has_help(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*cmd, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ecom")


def test_config_show_json_has_the_documented_keys(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in (
        "source_dsn",
        "gold_dsn",
        "kafka_bootstrap",
        "connect_url",
        "s3_endpoint",
        "s3_access_key",
        "s3_secret_key",
    ):
        assert key in data
    assert data["s3_secret_key"] == "****"


def test_config_show_secrets_on_request(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECOM_S3_SECRET_KEY", "visible-secret")
    assert main(["config", "show", "--json", "--show-secrets"]) == 0
    assert json.loads(capsys.readouterr().out)["s3_secret_key"] == "visible-secret"


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ, **env),
        timeout=60,
    )


def test_bad_setting_is_one_line_and_exit_1() -> None:
    res = _run("config", "show", ECOM_PG_PORT="not-a-port")
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ECOM_PG_PORT='not-a-port' is not an integer")
    assert "Traceback" not in res.stderr


def test_debug_shows_the_traceback() -> None:
    res = _run("--debug", "config", "show", ECOM_PG_PORT="not-a-port")
    assert res.returncode == 1
    assert "Traceback" in res.stderr


def test_unknown_log_name_is_a_clear_error(tmp_path) -> None:
    res = _run("stack", "logs", "nosuch", ECOM_HOME=str(tmp_path))
    assert res.returncode == 1
    assert "unknown component 'nosuch'" in res.stderr
    assert "postgres, kafka, connect, minio" in res.stderr


def test_reset_without_yes_refuses_when_not_interactive(tmp_path) -> None:
    (tmp_path / "keep").mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "ecom.cli", "stack", "reset"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env=dict(os.environ, ECOM_HOME=str(tmp_path)),
        timeout=60,
    )
    assert res.returncode == 1
    assert "--yes" in res.stderr
    assert (tmp_path / "keep").exists()


def test_parser_lists_the_groups() -> None:
    help_text = build_parser().format_help()
    for group in ("stack", "db", "connectors", "config", "demo"):
        assert group in help_text
