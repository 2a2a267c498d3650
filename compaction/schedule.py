"""When the gold builds run, written out for the schedulers people use.

Two jobs. The **nightly** one, at one time of day in UTC (``--at HH:MM``, else
``ECOM_GOLD_SCHEDULE_AT``, else 02:30), runs each of :data:`NIGHTLY` in turn: a full
build from the whole change-log (waiting for a running refresh rather than failing),
verify, then maintain the lake (after the swap, so compaction never delays gold). The
**refresh**, every ``--every`` minutes (else ``ECOM_GOLD_REFRESH_MINUTES``, else 5), runs
:data:`REFRESH`: an incremental build that, when it finds another build holding the
lock, prints that it skipped and exits 0, so an overlap never fails the timer.
:func:`render` prints a crontab entry and a systemd service + timer pair for each, that
run the repo's ``.venv/bin/ecom`` from the repo's folder. The docker-compose ``gold-nightly`` service sleeps with
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
REFRESH_ENV = "ECOM_GOLD_REFRESH_MINUTES"
DEFAULT_AT = "02:30"
UNIT_NAME = "ecom-gold-rebuild"
REFRESH_UNIT = "ecom-gold-refresh"
#: How long the nightly full build waits for a running refresh to finish.
NIGHTLY_LOCK_WAIT_S = 900
#: The nightly job's commands, in order; each runs only if the one before succeeded.
NIGHTLY: tuple[tuple[str, ...], ...] = (
    ("gold", "rebuild", "--full", "--wait-lock", str(NIGHTLY_LOCK_WAIT_S)),
    ("gold", "verify"),
    ("lake", "optimize", "--wait-lock", str(NIGHTLY_LOCK_WAIT_S)),
    ("lake", "vacuum", "--wait-lock", str(NIGHTLY_LOCK_WAIT_S)),
)
#: The frequent incremental refresh (skips, exit 0, when a build is running).
REFRESH: tuple[str, ...] = ("gold", "rebuild", "--if-idle")

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


@dataclass(frozen=True)
class Interval:
    """Minutes between refreshes: a divisor of an hour, or whole hours dividing a day,
    so cron and systemd both run them at the same wall-clock times."""

    minutes: int

    @property
    def cron(self) -> str:
        if self.minutes < 60:
            return f"*/{self.minutes} * * * *"
        return f"0 */{self.minutes // 60} * * *"

    @property
    def on_calendar(self) -> str:
        if self.minutes < 60:
            return f"*-*-* *:00/{self.minutes}:00 UTC"
        return f"*-*-* 00/{self.minutes // 60}:00:00 UTC"


def parse_every(minutes: int, *, what: str = "--every") -> Interval:
    """Refresh minutes to an :class:`Interval`; anything cron cannot repeat evenly is one
    clear error."""
    if (0 < minutes < 60 and 60 % minutes == 0) or (
        minutes >= 60 and minutes % 60 == 0 and 24 % (minutes // 60) == 0
    ):
        return Interval(minutes)
    raise EcomError(
        f"{what} {minutes} is not a refresh interval cron can repeat evenly",
        hint="use minutes dividing 60 (1, 2, 5, 10, 15, 30) or whole hours dividing 24",
    )


def configured_every(every: int | None = None) -> Interval:
    """``every`` if given, else the gold setting ``ECOM_GOLD_REFRESH_MINUTES`` (default 5)."""
    if every is not None:
        return parse_every(every)
    from compaction.configuration import load as load_gold

    minutes = load_gold().refresh_minutes
    try:
        return parse_every(minutes, what=REFRESH_ENV)
    except EcomError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None


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
    logs: Path  # where the cron jobs append their output (ECOM_HOME/logs)
    every: Interval = Interval(5)

    @property
    def ecom(self) -> Path:
        return self.repo / ".venv" / "bin" / "ecom"

    @property
    def log_file(self) -> Path:
        return self.logs / "gold-nightly.log"

    @property
    def refresh_log_file(self) -> Path:
        return self.logs / "gold-refresh.log"

    def commands(self) -> list[str]:
        ecom = shlex.quote(str(self.ecom))
        return [" ".join([ecom, *args]) for args in NIGHTLY]

    def cron_line(self) -> str:
        """One crontab line: cd to the repo, run the nightly commands, append to a log."""
        return self._cron(self.at.cron, f"{{ {' && '.join(self.commands())}; }}", self.log_file)

    def refresh_cron_line(self) -> str:
        """The refresh's crontab line (an overlapping run skips: the build's lock)."""
        command = " ".join([shlex.quote(str(self.ecom)), *REFRESH])
        return self._cron(self.every.cron, command, self.refresh_log_file)

    def _cron(self, when: str, command: str, log_file: Path) -> str:
        repo = shlex.quote(str(self.repo))
        log = shlex.quote(str(log_file))
        logs_dir = shlex.quote(str(log_file.parent))
        return f"{when} cd {repo} && mkdir -p {logs_dir} && {command} >> {log} 2>&1"

    def service_unit(self) -> str:
        return self._service(
            "ecom nightly gold rebuild (full gold build, verify, lake maintenance)", NIGHTLY,
            "2h",
        )

    def refresh_service_unit(self) -> str:
        return self._service("ecom gold refresh (incremental gold build)", (REFRESH,), "30min")

    def _service(self, description: str, commands: tuple[tuple[str, ...], ...],
                 timeout: str) -> str:  # fmt: skip
        starts = [f"ExecStart={self._systemd_quote(args)}" for args in commands]
        return "\n".join(
            [
                "[Unit]",
                f"Description={description}",
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
                f"TimeoutStartSec={timeout}",
                "Nice=5",
                "",
            ]
        )

    def timer_unit(self) -> str:
        return self._timer(f"Run the ecom gold rebuild every day at {self.at} UTC",
                           self.at.on_calendar, UNIT_NAME, persistent=True)  # fmt: skip

    def refresh_timer_unit(self) -> str:
        # not Persistent: a refresh missed while the machine was off has nothing to catch up
        return self._timer(f"Refresh the ecom gold tables every {self.every.minutes} min",
                           self.every.on_calendar, REFRESH_UNIT, persistent=False)  # fmt: skip

    @staticmethod
    def _timer(description: str, on_calendar: str, unit: str, *, persistent: bool) -> str:
        return "\n".join(
            [
                "[Unit]",
                f"Description={description}",
                "",
                "[Timer]",
                f"OnCalendar={on_calendar}",
                f"Persistent={'true' if persistent else 'false'}",
                f"Unit={unit}.service",
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
    every: int | None = None,
    repo: Path | None = None,
    user: str | None = None,
    logs: Path | None = None,
) -> Schedule:
    """The schedule for ``at`` and ``every`` (or the configured ones) and this checkout."""
    when = configured_time(at)  # first: a bad --at is the error to report
    interval = configured_every(every)
    return Schedule(
        at=when,
        repo=(repo or REPO_ROOT).resolve(),
        user=user or _current_user(),
        logs=logs or load_settings().home / "logs",
        every=interval,
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
            "",
            f"# Incremental refresh every {schedule.every.minutes} min "
            f"(--every, or {REFRESH_ENV}; default 5).",
            "# A refresh that finds a build running prints one line saying it skipped, exit 0.",
            "# --- crontab",
            schedule.refresh_cron_line(),
            "",
            f"# --- systemd: {unit_dir}/{REFRESH_UNIT}.service",
            schedule.refresh_service_unit(),
            f"# --- systemd: {unit_dir}/{REFRESH_UNIT}.timer",
            schedule.refresh_timer_unit(),
            "# --- then: sudo systemctl daemon-reload && "
            f"sudo systemctl enable --now {REFRESH_UNIT}.timer",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m compaction.schedule``: seconds until the next nightly run;
    ``python -m compaction.schedule refresh``: seconds between refreshes.

    For shell loops such as the docker-compose ``gold-nightly`` and ``gold-refresh``
    services; a bad ``ECOM_GOLD_SCHEDULE_AT`` or ``ECOM_GOLD_REFRESH_MINUTES`` is one
    ``error:`` line and exit status 1.
    """
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["refresh"]:
            print(configured_every().minutes * 60)
        else:
            print(seconds_until_next(configured_time()))
    except EcomError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
