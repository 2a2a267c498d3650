"""When the nightly gold rebuild runs, written out for the schedulers people use.

One time of day, in UTC: ``--at HH:MM``, else ``ECOM_GOLD_SCHEDULE_AT``, else 02:30.
:func:`render` prints a crontab entry and a systemd service + timer pair that run the
repo's ``.venv/bin/ecom`` with each of :data:`NIGHTLY` in turn from the repo's folder:
rebuild and verify gold, then maintain the lake (after the swap, so compaction never
delays gold). The docker-compose ``gold-nightly`` service sleeps with
:func:`seconds_until_next`, and ``airflow/dags/nightly_gold_rebuild.py`` derives its
cron schedule from the same variable (it cannot import this package, so it repeats
the small parse; a unit test keeps the two in step).
"""

from __future__ import annotations

import datetime as dt
import getpass
import math
import os
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from common.errors import ConfigError, EcomError
from common.settings import REPO_ROOT
from common.settings import load as load_settings

ENV_VAR = "ECOM_GOLD_SCHEDULE_AT"
DEFAULT_AT = "02:30"
UNIT_NAME = "ecom-gold-rebuild"
#: The nightly job's commands, in order; each runs only if the one before succeeded.
NIGHTLY: tuple[tuple[str, ...], ...] = (
    ("gold", "rebuild"),
    ("gold", "verify"),
    ("lake", "optimize"),
    ("lake", "vacuum"),
)

_HHMM = re.compile(r"^(?P<h>\d{1,2}):(?P<m>\d{2})$")


@dataclass(frozen=True)
class TimeOfDay:
    """A UTC wall-clock time at minute precision."""

    hour: int
    minute: int

    def __str__(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def cron(self) -> str:
        """The five cron fields: every day at this minute."""
        return f"{self.minute} {self.hour} * * *"

    @property
    def on_calendar(self) -> str:
        """systemd ``OnCalendar=`` value, explicitly in UTC."""
        return f"*-*-* {self.hour:02d}:{self.minute:02d}:00 UTC"


def parse_time(text: str, *, what: str = "--at") -> TimeOfDay:
    """``HH:MM`` (00:00 to 23:59) to a :class:`TimeOfDay`; anything else is one clear error."""
    match = _HHMM.match(text.strip())
    if match:
        hour, minute = int(match.group("h")), int(match.group("m"))
        if hour < 24 and minute < 60:
            return TimeOfDay(hour, minute)
    raise EcomError(
        f"{what} {text!r} is not a time of day",
        hint="use HH:MM in UTC, 00:00 to 23:59, e.g. 02:30",
    )


def configured_time(at: str | None = None) -> TimeOfDay:
    """``at`` if given, else ``ECOM_GOLD_SCHEDULE_AT``, else :data:`DEFAULT_AT`."""
    if at is not None:
        return parse_time(at, what="--at")
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return parse_time(DEFAULT_AT)
    try:
        return parse_time(raw, what=ENV_VAR)
    except EcomError as exc:
        raise ConfigError(exc.message, hint=f"set {ENV_VAR} to HH:MM in UTC, or unset it") from None


def seconds_until_next(at: TimeOfDay, now: dt.datetime | None = None) -> int:
    """Whole seconds from ``now`` (UTC) until the next ``at``, strictly in the future.

    Rounded up, so a sleep of this length never wakes before the time (and so never
    runs twice in the same minute).
    """
    now = now or dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.UTC)
    now = now.astimezone(dt.UTC)
    target = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    if target <= now:
        target += dt.timedelta(days=1)
    return max(1, math.ceil((target - now).total_seconds()))


@dataclass(frozen=True)
class Schedule:
    """Everything :func:`render` writes, derived from the time and the repo's folder."""

    at: TimeOfDay
    repo: Path
    user: str
    logs: Path  # where the cron job appends its output (ECOM_HOME/logs)

    @property
    def ecom(self) -> Path:
        return self.repo / ".venv" / "bin" / "ecom"

    @property
    def log_file(self) -> Path:
        return self.logs / "gold-nightly.log"

    def commands(self) -> list[str]:
        ecom = shlex.quote(str(self.ecom))
        return [" ".join([ecom, *args]) for args in NIGHTLY]

    def cron_line(self) -> str:
        """One crontab line: cd to the repo, run the nightly commands, append to a log."""
        repo = shlex.quote(str(self.repo))
        log = shlex.quote(str(self.log_file))
        logs_dir = shlex.quote(str(self.log_file.parent))
        return (
            f"{self.at.cron} cd {repo} && mkdir -p {logs_dir} && "
            f"{{ {' && '.join(self.commands())}; }} >> {log} 2>&1"
        )

    def service_unit(self) -> str:
        starts = [f"ExecStart={self._systemd_quote(args)}" for args in NIGHTLY]
        return "\n".join(
            [
                "[Unit]",
                "Description=ecom nightly gold rebuild (gold tables, verify, lake maintenance)",
                "Wants=network-online.target",
                "After=network-online.target",
                "",
                "[Service]",
                "Type=oneshot",
                f"User={self.user}",
                f"WorkingDirectory={self.repo}",
                f"EnvironmentFile=-{self.repo / '.env'}",
                # oneshot runs ExecStart lines in order and stops at the first failure
                *starts,
                "TimeoutStartSec=2h",
                "Nice=5",
                "",
            ]
        )

    def timer_unit(self) -> str:
        return "\n".join(
            [
                "[Unit]",
                f"Description=Run the ecom gold rebuild every day at {self.at} UTC",
                "",
                "[Timer]",
                f"OnCalendar={self.at.on_calendar}",
                "Persistent=true",
                f"Unit={UNIT_NAME}.service",
                "",
                "[Install]",
                "WantedBy=timers.target",
                "",
            ]
        )

    def _systemd_quote(self, args: tuple[str, ...]) -> str:
        words = [str(self.ecom), *args]
        return " ".join(f'"{w}"' if any(c.isspace() for c in w) else w for w in words)


def build(
    at: str | None = None,
    *,
    repo: Path | None = None,
    user: str | None = None,
    logs: Path | None = None,
) -> Schedule:
    """The schedule for ``at`` (or the configured time) and this checkout."""
    when = configured_time(at)  # first: a bad --at is the error to report
    return Schedule(
        at=when,
        repo=(repo or REPO_ROOT).resolve(),
        user=user or _current_user(),
        logs=logs or load_settings().home / "logs",
    )


def _current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "root"


def render(schedule: Schedule) -> str:
    """The crontab line and the two systemd units, with where each goes."""
    unit_dir = "/etc/systemd/system"
    return "\n".join(
        [
            f"# Nightly gold rebuild at {schedule.at} UTC "
            f"(--at, or {ENV_VAR}; default {DEFAULT_AT})",
            "",
            "# --- crontab (`crontab -e`). cron uses the system time zone: run it in UTC,",
            "# --- or keep the CRON_TZ line (cronie; other crons ignore it).",
            "CRON_TZ=UTC",
            schedule.cron_line(),
            "",
            f"# --- systemd: {unit_dir}/{UNIT_NAME}.service",
            schedule.service_unit(),
            f"# --- systemd: {unit_dir}/{UNIT_NAME}.timer",
            schedule.timer_unit(),
            "# --- then: sudo systemctl daemon-reload && "
            f"sudo systemctl enable --now {UNIT_NAME}.timer",
            f"# ---       systemctl list-timers {UNIT_NAME}.timer   (next run)",
        ]
    )


def main() -> int:
    """``python -m compaction.schedule``: seconds until the next configured run.

    For shell loops such as the docker-compose ``gold-nightly`` service; a bad
    ``ECOM_GOLD_SCHEDULE_AT`` is one ``error:`` line and exit status 1.
    """
    try:
        print(seconds_until_next(configured_time()))
    except EcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
