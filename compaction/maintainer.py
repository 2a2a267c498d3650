"""The lake maintainer: compacts the newest day partitions of every lake table, every
``ECOM_GOLD_LAKE_MAINTAIN_SECONDS``, while the stream runs.

Why it exists: the stream commits each table about once a second per worker, one small
file per commit, and delta-rs (1.6) does work in proportion to a table's files on every
commit (an append of 40 rows cost 24 ms of CPU on a new table and 109 ms once it held 300
files). Left to the nightly ``ecom lake optimize``, a day of live traffic would slow every
worker down hour by hour. Compacting the day partitions the stream writes into (today and
yesterday, in UTC) every minute keeps a table to a few files more than the last round
left (a test table compacted every 50 commits stayed at about 20 ms a commit).

One round at a time, under the lake's maintenance lock (``rebuild.lake_lock``), which
``ecom lake optimize`` and ``vacuum`` take too: delta-rs lets two compactions of the same
files both commit, which would leave every row twice. A round that finds the lock taken
is skipped. It compacts into files of ``lake_recent_target_file_mb`` (small: today's
compacted file is rewritten with the new small files each round until it reaches that
size); the nightly optimize merges whole days into larger ones.

Started in the background by ``ecom stream start`` (``--no-maintainer`` to leave it out),
or in the foreground by ``ecom lake maintain`` (the compose service).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from common import process
from common.errors import EcomError, first_line
from common.progress import SILENT, Reporter
from common.settings import Settings
from compaction.configuration import GoldSettings
from compaction.exceptions import LakeMaintenanceLocked
from compaction.lake import Lake, TableRef

log = logging.getLogger(__name__)

MODULE = "compaction.maintainer"


@dataclass(frozen=True)
class Compacted:
    ref: TableRef
    files_removed: int
    files_added: int


def recent_days(now: datetime, days: int) -> list[date]:
    """The ``days`` newest UTC dates up to ``now``'s, oldest first."""
    today = now.astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def compact_recent(
    gs: GoldSettings, *, now: datetime | None = None, lake: Lake | None = None
) -> list[Compacted]:
    """One round: under the lake lock, compact the recent day partitions of every table.
    Raises ``LakeMaintenanceLocked`` when another maintenance holds the lock."""
    from compaction.rebuild import lake_lock

    lake = lake or Lake(gs.base)
    days = recent_days(now or datetime.now(UTC), gs.lake_recent_days)
    target = gs.lake_recent_target_file_mb * 1024 * 1024
    done = []
    with lake_lock(gs):
        for ref in lake.refs():
            stats = lake.optimize(ref, target, days=days, checkpoint=False)
            if stats is None or not stats.get("numFilesRemoved"):
                continue
            done.append(
                Compacted(ref, int(stats["numFilesRemoved"]), int(stats.get("numFilesAdded", 0)))
            )
    return done


def run(gs: GoldSettings, *, once: bool = False, progress: Reporter = SILENT,
        stop: threading.Event | None = None) -> int:  # fmt: skip
    """Compact every ``lake_maintain_seconds`` until ``stop`` is set (or once); returns the
    rounds done. A failing round is reported and the next one tries again."""
    stop = stop or threading.Event()
    rounds = 0
    while True:
        try:
            for c in compact_recent(gs):
                progress(f"{c.ref}: {c.files_removed:,} files compacted into {c.files_added:,}")
            rounds += 1
        except LakeMaintenanceLocked as exc:
            progress(f"round skipped: {exc.message}")
        except Exception as exc:  # noqa: BLE001 - a background loop: report, try again
            if once:
                raise
            if not isinstance(exc, EcomError):
                log.exception("lake maintenance round failed")
            progress(f"round failed, next in {gs.lake_maintain_seconds:g}s: {first_line(exc)}")
        if once or stop.wait(gs.lake_maintain_seconds):
            return rounds


# ---------------------------------------------------------------- the background process
def _pid_file(s: Settings) -> Path:
    return s.home / "run" / "lake-maintainer.pid"


def log_file(s: Settings) -> Path:
    return s.home / "logs" / "lake-maintainer.log"


def running(s: Settings) -> int | None:
    """The pid of the background maintainer, if it runs."""
    return process.running_pid(_pid_file(s))


def start(s: Settings) -> tuple[int, bool]:
    """Start the background maintainer unless it runs; (pid, whether it was started)."""
    pid = running(s)
    if pid is not None:
        return pid, False
    cmd = [sys.executable, "-m", MODULE]
    return process.start_detached(cmd, out_file=log_file(s), pid_file=_pid_file(s)), True


def stop(s: Settings, timeout: float = 120.0) -> int | None:
    """Stop the background maintainer (a round under way finishes first); its pid."""
    pid = running(s)
    if pid is not None and not process.stop_pid(pid, timeout=timeout):
        raise EcomError(f"lake maintainer (pid {pid}) did not stop", hint=f"kill -9 {pid}")
    _pid_file(s).unlink(missing_ok=True)
    return pid


def main() -> int:
    """The background process: rounds until SIGTERM, each reported on stdout (its log)."""
    from common.log import configure
    from compaction import configuration

    configure()
    stop_event = threading.Event()
    # a round under way finishes; the loop then ends instead of waiting for the next one
    signal.signal(signal.SIGTERM, lambda signum, frame: stop_event.set())

    def say(line: str) -> None:
        print(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {line}", flush=True)

    gs = configuration.load()
    say(f"compacting the newest {gs.lake_recent_days} day partitions every "
        f"{gs.lake_maintain_seconds:g}s")  # fmt: skip
    run(gs, progress=say, stop=stop_event)
    say("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
