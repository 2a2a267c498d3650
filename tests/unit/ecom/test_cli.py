"""The CLI contract: every command has --help; errors are one line and exit 1."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from ecom.cli import build_parser, main


def _walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    """Every command of the real parser, depth first: (words, parser, summary in the
    parent's listing)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, summaries.get(name)
                yield from _walk(sub, (*path, name))


COMMANDS = list(_walk(build_parser()))


def _words(text: str) -> str:
    """The text without white space (argparse re-wraps lines, also at hyphens)."""
    return "".join(text.split())


def test_the_walk_reaches_every_level() -> None:
    paths = {path for path, _, _ in COMMANDS}
    # a group and one of its actions, a command without actions, an action of the last group
    assert {("stack",), ("stack", "up"), ("status",), ("gold", "schedule")} <= paths
    assert len(paths) == len(COMMANDS) > 20


@pytest.mark.parametrize(
    ("path", "parser", "summary"), COMMANDS, ids=[" ".join(c[0]) for c in COMMANDS]
)
def test_every_command_has_help_with_usage_and_description(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    summary: str | None,
    capfd: pytest.CaptureFixture[str],
) -> None:
    assert summary, f"`ecom {' '.join(path)}` has no summary in `ecom --help`"
    with pytest.raises(SystemExit) as exit_:
        code = main([*path, "--help"])
        raise SystemExit(code)  # a command that hands --help on (ecom bench) returns
    assert exit_.value.code == 0
    out = capfd.readouterr().out
    assert out.startswith("usage: "), out[:200]
    if parser.add_help:
        assert out.startswith(f"usage: ecom {' '.join(path)}")
        assert parser.description, f"`ecom {' '.join(path)} --help` has no description"
        assert _words(parser.description) in _words(out)
    else:  # its arguments, --help included, go to the program it runs
        assert parser.description and len(out.splitlines()) > 3


def test_top_level_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ecom")
    for path, _, summary in COMMANDS:
        if len(path) == 1:
            assert path[0] in out and summary and _words(summary) in _words(out)


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
