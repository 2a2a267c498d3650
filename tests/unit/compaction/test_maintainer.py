"""Which day partitions the lake maintainer compacts."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from compaction.maintainer import recent_days


def test_recent_days_are_the_newest_utc_dates_oldest_first() -> None:
    now = datetime(2026, 12, 1, 0, 30, tzinfo=UTC)
    assert recent_days(now, 2) == [date(2026, 11, 30), date(2026, 12, 1)]
    assert recent_days(now, 1) == [date(2026, 12, 1)]
    # 23:30 on Nov 30 in New York is Dec 1 in UTC, the partitions' calendar
    new_york = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert recent_days(new_york, 2) == [date(2026, 11, 30), date(2026, 12, 1)] == recent_days(
        new_york.astimezone(UTC), 2
    )
    assert recent_days(datetime(2027, 1, 1, 12, tzinfo=UTC), 3) == [
        date(2026, 12, 30), date(2026, 12, 31), date(2027, 1, 1),
    ]  # fmt: skip


def test_a_failed_or_locked_round_is_reported_and_the_next_one_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from compaction import configuration, maintainer
    from compaction.exceptions import LakeMaintenanceLocked

    stop = threading.Event()
    outcomes: list[Exception | None] = [
        RuntimeError("MinIO went away"),
        LakeMaintenanceLocked("another lake optimize or vacuum is running (since x)"),
        None,
    ]

    def round_(gs: object) -> list[object]:
        outcome = outcomes.pop(0)
        if not outcomes:
            stop.set()
        if outcome is not None:
            raise outcome
        return []

    monkeypatch.setattr(maintainer, "compact_recent", round_)
    gs = configuration.load().model_copy(update={"lake_maintain_seconds": 0.01})
    lines: list[str] = []
    assert maintainer.run(gs, progress=lines.append, stop=stop) == 1
    assert lines == [
        "round failed, next in 0.01s: MinIO went away",
        "round skipped: another lake optimize or vacuum is running (since x)",
    ]
    monkeypatch.setattr(maintainer, "compact_recent", lambda gs: (_ for _ in ()).throw(
        RuntimeError("boom")))  # fmt: skip
    with pytest.raises(RuntimeError):
        maintainer.run(gs, once=True)
