"""`ecom gold schedule --print`: cron line and systemd timer for --at values, clear errors,
and the docker-compose `gold-nightly` loop (run for real with stand-in commands)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.errors import ConfigError, EcomError
from compaction import schedule

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def _no_schedule_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(schedule.ENV_VAR, raising=False)
    monkeypatch.delenv(schedule.REFRESH_ENV, raising=False)


@pytest.mark.parametrize(
    ("at", "cron", "calendar"),
    [
        ("02:30", "30 2 * * *", "*-*-* 02:30:00 UTC"),
        ("00:00", "0 0 * * *", "*-*-* 00:00:00 UTC"),
        ("7:05", "5 7 * * *", "*-*-* 07:05:00 UTC"),
        ("23:59", "59 23 * * *", "*-*-* 23:59:00 UTC"),
        (" 12:00 ", "0 12 * * *", "*-*-* 12:00:00 UTC"),
    ],
)
def test_time_of_day_to_cron_and_on_calendar(at: str, cron: str, calendar: str) -> None:
    t = schedule.parse_time(at)
    assert t.cron == cron
    assert t.on_calendar == calendar


@pytest.mark.parametrize("bad", ["24:00", "12:60", "2:3", "noon", "", "12:30:00", "-1:30", "1230"])
def test_bad_at_is_one_clear_error(bad: str) -> None:
    with pytest.raises(EcomError) as err:
        schedule.parse_time(bad)
    text = str(err.value)
    assert (
        text == f"--at {bad!r} is not a time of day (use HH:MM in UTC, 00:00 to 23:59, e.g. 02:30)"
    )


def test_default_env_and_flag_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert str(schedule.configured_time()) == "02:30" == schedule.DEFAULT_AT
    monkeypatch.setenv(schedule.ENV_VAR, "04:15")
    assert str(schedule.configured_time()) == "04:15"
    assert str(schedule.configured_time("01:00")) == "01:00"  # --at wins
    monkeypatch.setenv(schedule.ENV_VAR, "4.15")
    with pytest.raises(ConfigError, match=f"{schedule.ENV_VAR} '4.15' is not a time of day"):
        schedule.configured_time()
    monkeypatch.setenv(schedule.ENV_VAR, "")
    assert str(schedule.configured_time()) == "02:30"


@pytest.mark.parametrize(
    ("now", "seconds"),
    [
        (dt.datetime(2026, 11, 28, 2, 29, 30, tzinfo=dt.UTC), 30),
        (dt.datetime(2026, 11, 28, 2, 30, 0, tzinfo=dt.UTC), 86400),  # just ran: tomorrow
        (dt.datetime(2026, 11, 28, 2, 29, 59, 500000, tzinfo=dt.UTC), 1),  # rounded up
        (dt.datetime(2026, 11, 28, 23, 0, tzinfo=dt.UTC), 3 * 3600 + 1800),
        (dt.datetime(2026, 11, 28, 3, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))), 86400),
        (dt.datetime(2026, 11, 28, 1, 30), 3600),  # naive = UTC
    ],
)
def test_seconds_until_next(now: dt.datetime, seconds: int) -> None:
    assert schedule.seconds_until_next(schedule.TimeOfDay(2, 30), now) == seconds


@pytest.fixture()
def plan(tmp_path: Path) -> schedule.Schedule:
    repo = tmp_path / "my repo"
    repo.mkdir()
    return schedule.build("03:45", repo=repo, user="analyst", logs=tmp_path / "logs")


def test_cron_line_cds_to_the_repo_and_runs_rebuild_then_verify(plan: schedule.Schedule) -> None:
    line = plan.cron_line()
    assert line.startswith("45 3 * * * cd ")
    ecom = str(plan.repo / ".venv" / "bin" / "ecom")
    assert f"'{plan.repo}'" in line  # quoted: the path has a space
    order = [line.index(f"'{ecom}' {' '.join(args)}") for args in schedule.NIGHTLY]
    assert order == sorted(order)
    assert "&&" in line.split("gold rebuild")[1].split("gold verify")[0]
    assert "&&" in line.split("gold verify")[1].split("lake optimize")[0]
    assert line.endswith(f">> {plan.logs / 'gold-nightly.log'} 2>&1")
    assert "%" not in line  # cron would turn it into a newline
    # the command part is valid POSIX shell
    command = line.split(" ", 5)[5]
    assert subprocess.run(["sh", "-n", "-c", command], capture_output=True).returncode == 0


def test_cron_line_really_runs_rebuild_then_verify(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    fake = repo / ".venv" / "bin" / "ecom"
    fake.write_text('#!/bin/sh\necho "$PWD: ecom $*"\n')
    fake.chmod(0o755)
    plan = schedule.build("02:30", repo=repo, user="u", logs=tmp_path / "logs")
    command = plan.cron_line().split(" ", 5)[5]
    subprocess.run(["sh", "-c", command], check=True, cwd=tmp_path)
    assert (tmp_path / "logs" / "gold-nightly.log").read_text().splitlines() == [
        f"{repo}: ecom gold rebuild --full --wait-lock 900",
        f"{repo}: ecom gold verify",
        f"{repo}: ecom lake optimize --wait-lock 900",
        f"{repo}: ecom lake vacuum --wait-lock 900",
    ]


def _unit_lines(text: str) -> list[tuple[str, str, str]]:
    section, out = "", []
    for line in text.splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        elif "=" in line:
            key, value = line.split("=", 1)
            out.append((section, key, value))
    return out


def test_systemd_units(plan: schedule.Schedule) -> None:
    service = _unit_lines(plan.service_unit())
    ecom = str(plan.repo / ".venv" / "bin" / "ecom")
    assert ("Service", "Type", "oneshot") in service
    assert ("Service", "WorkingDirectory", str(plan.repo)) in service
    assert ("Service", "User", "analyst") in service
    assert [v for s, k, v in service if k == "ExecStart"] == [
        f'"{ecom}" gold rebuild --full --wait-lock 900',
        f'"{ecom}" gold verify',
        f'"{ecom}" lake optimize --wait-lock 900',
        f'"{ecom}" lake vacuum --wait-lock 900',
    ]
    timer = _unit_lines(plan.timer_unit())
    assert ("Timer", "OnCalendar", "*-*-* 03:45:00 UTC") in timer
    assert ("Timer", "Persistent", "true") in timer
    assert ("Timer", "Unit", f"{schedule.UNIT_NAME}.service") in timer
    assert ("Install", "WantedBy", "timers.target") in timer


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    plan = schedule.build("03:45", repo=ROOT, logs=tmp_path)
    res = subprocess.run(
        ["systemd-analyze", "calendar", plan.at.on_calendar], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    assert "Normalized form: *-*-* 03:45:00 UTC" in res.stdout
    units = {
        f"{schedule.UNIT_NAME}.service": plan.service_unit(),
        f"{schedule.UNIT_NAME}.timer": plan.timer_unit(),
        f"{schedule.REFRESH_UNIT}.service": plan.refresh_service_unit(),
        f"{schedule.REFRESH_UNIT}.timer": plan.refresh_timer_unit(),
    }
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    res = subprocess.run(
        ["systemd-analyze", "verify", *(str(p) for p in sorted(tmp_path.glob("ecom-*")))],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr
    assert "ecom-gold-" not in res.stderr, res.stderr  # no warning about our units


# ---------------------------------------------------------------- the CLI, headless
def _ecom(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in (schedule.ENV_VAR, schedule.REFRESH_ENV)}
    return subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**base, **env},
    )


def test_cli_prints_cron_and_systemd_for_at() -> None:
    res = _ecom("gold", "schedule", "--print", "--at", "03:45")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    cron = [line for line in lines if line.startswith("45 3 * * * ")]
    assert len(cron) == 1
    assert f"cd {ROOT} && " in cron[0]
    assert f"{ROOT}/.venv/bin/ecom gold rebuild --full --wait-lock 900 && {ROOT}/.venv/bin/ecom gold verify" in cron[0]
    assert "OnCalendar=*-*-* 03:45:00 UTC" in lines
    assert "Persistent=true" in lines
    assert f"WorkingDirectory={ROOT}" in lines
    assert f"ExecStart={ROOT}/.venv/bin/ecom gold rebuild --full --wait-lock 900" in lines


def test_cli_default_and_env_time() -> None:
    res = _ecom("gold", "schedule", "--print")
    assert res.returncode == 0, res.stderr
    assert "OnCalendar=*-*-* 02:30:00 UTC" in res.stdout.splitlines()
    res = _ecom("gold", "schedule", "--print", ECOM_GOLD_SCHEDULE_AT="05:10")
    assert res.returncode == 0, res.stderr
    assert any(line.startswith("10 5 * * * ") for line in res.stdout.splitlines())


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--print", "--at", "25:00"], {}, "error: --at '25:00' is not a time of day"),
        (["--print"], {"ECOM_GOLD_SCHEDULE_AT": "late"}, "error: ECOM_GOLD_SCHEDULE_AT 'late'"),
        ([], {}, "error: `ecom gold schedule` only prints the schedule"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    res = _ecom("gold", "schedule", *args, **env)
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(message), lines[0]


# ---------------------------------------------------------------- docker compose
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_gold_nightly_service(compose: dict) -> None:
    svc = compose["services"]["gold-nightly"]
    init = compose["services"]["init"]
    assert svc["profiles"] == ["nightly"]
    assert svc["build"] == init["build"]
    for key, value in init["environment"].items():
        assert svc["environment"][key] == value
    assert svc["environment"]["ECOM_GOLD_SCHEDULE_AT"] == "${ECOM_GOLD_SCHEDULE_AT:-02:30}"
    assert svc["entrypoint"] == ["sh", "-c"]
    assert "ecom gold rebuild --full --wait-lock 900 && ecom gold verify" in svc["command"][0]


def test_compose_loop_sleeps_until_the_time_then_rebuilds_and_verifies(
    compose: dict, tmp_path: Path
) -> None:
    """Run the service's shell loop with stand-ins for `sleep` and `ecom` (two rounds)."""
    script = compose["services"]["gold-nightly"]["command"][0].replace("$$", "$")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    stubs = {
        "python": f'#!/bin/sh\nexec {sys.executable} "$@"\n',
        "ecom": f'#!/bin/sh\necho "ecom $*" >> {calls}\n[ "$*" != "gold verify" ] || '
        f"[ ! -e {tmp_path}/fail-verify ] || exit 1\n",
        # sleep records how long; the third sleep stops the loop (kills its shell)
        "sleep": f'#!/bin/sh\necho "sleep $1" >> {calls}\n'
        f'n=$(grep -c sleep {calls}); [ "$n" -lt 2 ] || touch {tmp_path}/fail-verify\n'
        f'[ "$n" -lt 3 ] || kill -TERM $PPID\n',
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "ECOM_GOLD_SCHEDULE_AT": "04:00",
        "HOME": str(tmp_path),
    }
    res = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0  # stopped by the third sleep's TERM
    got = calls.read_text().splitlines()
    # first night: all four commands; second night: verify fails, maintenance is skipped
    assert [c.split()[0] for c in got] == [
        "sleep",
        "ecom",
        "ecom",
        "ecom",
        "ecom",
        "sleep",
        "ecom",
        "ecom",
        "sleep",
    ]
    assert got[1:5] == [
        "ecom gold rebuild --full --wait-lock 900",
        "ecom gold verify",
        "ecom lake optimize --wait-lock 900",
        "ecom lake vacuum --wait-lock 900",
    ]
    assert 1 <= int(got[0].split()[1]) <= 86400
    assert "gold-nightly: next rebuild at 04:00 UTC" in res.stdout
    assert "rebuild, verify and lake maintenance done" in res.stdout
    assert "FAILED" in res.stderr  # the second night's verify failed; the loop went on


def test_compose_loop_stops_on_a_bad_time(compose: dict, tmp_path: Path) -> None:
    script = compose["services"]["gold-nightly"]["command"][0].replace("$$", "$")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    (bin_dir / "python").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT),
           "ECOM_GOLD_SCHEDULE_AT": "25:99", "HOME": str(tmp_path)}  # fmt: skip
    res = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        "error: ECOM_GOLD_SCHEDULE_AT '25:99' is not a time of day "
        "(set ECOM_GOLD_SCHEDULE_AT to HH:MM in UTC, or unset it)"
    ]


# ---------------------------------------------------------------- the incremental refresh
@pytest.mark.parametrize(
    ("minutes", "cron", "calendar"),
    [
        (5, "*/5 * * * *", "*-*-* *:00/5:00 UTC"),
        (1, "*/1 * * * *", "*-*-* *:00/1:00 UTC"),
        (30, "*/30 * * * *", "*-*-* *:00/30:00 UTC"),
        (60, "0 */1 * * *", "*-*-* 00/1:00:00 UTC"),
        (360, "0 */6 * * *", "*-*-* 00/6:00:00 UTC"),
    ],
)
def test_refresh_interval_to_cron_and_on_calendar(minutes: int, cron: str, calendar: str) -> None:
    every = schedule.parse_every(minutes)
    assert (every.cron, every.on_calendar) == (cron, calendar)


@pytest.mark.parametrize("bad", [0, 7, 45, 90, 300, 1441, -5])
def test_refresh_interval_cron_cannot_repeat_evenly_is_an_error(bad: int) -> None:
    with pytest.raises(EcomError, match=f"--every {bad} is not a refresh interval"):
        schedule.parse_every(bad)


def test_refresh_default_env_and_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    assert schedule.configured_every().minutes == 5
    monkeypatch.setenv(schedule.REFRESH_ENV, "15")
    assert schedule.configured_every().minutes == 15
    assert schedule.configured_every(10).minutes == 10  # --every wins
    monkeypatch.setenv(schedule.REFRESH_ENV, "7")
    with pytest.raises(ConfigError, match=f"{schedule.REFRESH_ENV} 7 is not a refresh"):
        schedule.configured_every()


def test_refresh_cron_line_and_units(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".venv" / "bin").mkdir(parents=True)
    fake = repo / ".venv" / "bin" / "ecom"
    fake.write_text('#!/bin/sh\necho "$PWD: ecom $*"\n')
    fake.chmod(0o755)
    plan = schedule.build("02:30", every=10, repo=repo, user="u", logs=tmp_path / "logs")
    line = plan.refresh_cron_line()
    assert line.startswith("*/10 * * * * cd ")
    subprocess.run(["sh", "-c", line.split(" ", 5)[5]], check=True, cwd=tmp_path)
    assert (tmp_path / "logs" / "gold-refresh.log").read_text().splitlines() == [
        f"{repo}: ecom gold rebuild --if-idle"
    ]
    service = _unit_lines(plan.refresh_service_unit())
    assert [v for s, k, v in service if k == "ExecStart"] == [f"{fake} gold rebuild --if-idle"]
    assert ("Service", "Type", "oneshot") in service
    timer = _unit_lines(plan.refresh_timer_unit())
    assert ("Timer", "OnCalendar", "*-*-* *:00/10:00 UTC") in timer
    assert ("Timer", "Unit", f"{schedule.REFRESH_UNIT}.service") in timer


def test_cli_prints_both_jobs() -> None:
    res = _ecom("gold", "schedule", "--print", "--every", "15")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    refresh = [line for line in lines if line.startswith("*/15 * * * * ")]
    assert len(refresh) == 1 and refresh[0].endswith("gold-refresh.log 2>&1"), refresh
    assert f"{ROOT}/.venv/bin/ecom gold rebuild --if-idle >> " in refresh[0]
    assert "OnCalendar=*-*-* *:00/15:00 UTC" in lines
    assert "OnCalendar=*-*-* 02:30:00 UTC" in lines
    res = _ecom("gold", "schedule", "--print", ECOM_GOLD_REFRESH_MINUTES="30")
    assert any(line.startswith("*/30 * * * * ") for line in res.stdout.splitlines())
    res = _ecom("gold", "schedule", "--print", "--every", "7")
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.strip().startswith("error: --every 7 is not a refresh interval")


def test_module_prints_the_refresh_seconds(capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    assert schedule.main(["refresh"]) == 0
    assert capsys.readouterr().out.strip() == "300"
    monkeypatch.setenv(schedule.REFRESH_ENV, "45")
    assert schedule.main(["refresh"]) == 1
    assert "error: ECOM_GOLD_REFRESH_MINUTES 45 is not a refresh interval" in capsys.readouterr().err


def test_compose_gold_refresh_service(compose: dict, tmp_path: Path) -> None:
    """The refresh loop, run with stand-ins for `ecom` and `sleep`: a refresh, the sleep
    of the configured interval, a failed refresh that does not stop the loop."""
    svc = compose["services"]["gold-refresh"]
    assert svc["profiles"] == ["nightly"]
    assert svc["environment"]["ECOM_GOLD_REFRESH_MINUTES"] == "${ECOM_GOLD_REFRESH_MINUTES:-5}"
    script = svc["command"][0].replace("$$", "$")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    stubs = {
        "python": f'#!/bin/sh\nexec {sys.executable} "$@"\n',
        "ecom": f'#!/bin/sh\necho "ecom $*" >> {calls}\n[ ! -e {tmp_path}/fail ] || exit 1\n',
        "sleep": f'#!/bin/sh\necho "sleep $1" >> {calls}\ntouch {tmp_path}/fail\n'
        f'n=$(grep -c sleep {calls}); [ "$n" -lt 2 ] || kill -TERM $PPID\n',
    }
    for name, text in stubs.items():
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "ECOM_GOLD_REFRESH_MINUTES": "10"}  # fmt: skip
    res = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode != 0  # stopped by the second sleep's TERM
    assert calls.read_text().splitlines() == [
        "ecom gold rebuild --if-idle", "sleep 600", "ecom gold rebuild --if-idle", "sleep 600",
    ]  # fmt: skip
    assert "gold-refresh: build FAILED" in res.stderr
