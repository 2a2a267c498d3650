"""Handmade silver change-log rows for the compaction unit tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa

from compaction.state import silver_arrow_schema
from schemas import PRIMARY_KEYS
from schemas.columns import COLUMNS

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Log:
    """Builds change-log rows; each new event gets the next source LSN and offset."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.rows: list[dict[str, Any]] = []
        self.lsn = 1000
        self.offset = 0

    def add(
        self,
        op: str,
        key: int | None = None,
        *,
        commit_lsn: int | None = None,
        source_lsn: int | None = None,
        at: int = 0,
        partition: int = 0,
        offset: int | None = None,
        **values: Any,
    ) -> dict[str, Any]:
        """One event: ``commit_lsn`` None means a snapshot row; ``at`` is the commit time
        in minutes after T0."""
        self.lsn += 10
        off = self.offset if offset is None else offset
        self.offset = max(self.offset, off) + 1
        row: dict[str, Any] = {c.name: None for c in COLUMNS[self.table]}
        row.update(
            op=op,
            is_delete=op in ("d", "t", "q"),
            source_lsn=self.lsn if source_lsn is None else source_lsn,
            commit_lsn=commit_lsn,
            tx_id=None,
            tx_order=None,
            commit_ts=T0 + timedelta(minutes=at),
            snapshot=commit_lsn is None,
            bronze_topic=f"ecom.public.{self.table}",
            bronze_partition=partition,
            bronze_offset=off,
            extra_json=None,
        )
        if op != "t":
            row[PRIMARY_KEYS[self.table]] = key
        row.update(values)
        self.rows.append(row)
        return row

    def table_(self, rows: list[dict[str, Any]] | None = None) -> pa.Table:
        return pa.Table.from_pylist(
            self.rows if rows is None else rows, schema=silver_arrow_schema(self.table)
        )
