"""Which day partitions the lake maintainer compacts."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

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
