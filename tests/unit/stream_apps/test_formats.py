from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from schemas.columns import COLUMNS
from stream_apps.envelope import DecodeError, decode, table_of_topic
from stream_apps.formats import (
    BRONZE_SCHEMA,
    _ts_or_none,
    bronze_row,
    bronze_table,
    commit_date,
    micros_in_range,
    silver_table,
)
from stream_apps.rules import SilverRecord, to_silver
from tests.unit.stream_apps.messages import ORDER, ORDER_ITEM, PREFIX, envelope, key, topic, value

INGEST = datetime(2026, 11, 28, 6, 0, 0, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
UTC_TS = pa.timestamp("us", tz="UTC")


def read_back(table: pa.Table) -> pa.Table:
    """Through Parquet and back, as the lake stores it."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return pq.read_table(io.BytesIO(buf.getvalue()))


def row(k: bytes | None, v: bytes | None, tp: str = topic("orders"), offset: int = 5) -> dict:
    """A bronze row as the pipeline builds it: decode once, keep the message whatever."""
    try:
        event, error = decode(tp, 0, offset, 1700000000000, k, v, prefix=PREFIX), None
    except DecodeError as exc:
        event, error = None, exc.reason
    table = table_of_topic(tp, PREFIX)
    return bronze_row(tp, 0, offset, 1700000000000, k, v, table=table, event=event,
                      decode_error=error, ingest_ts=INGEST)  # fmt: skip


def test_bronze_schema() -> None:
    assert BRONZE_SCHEMA.names == [
        "topic", "partition", "offset", "kafka_timestamp_ms", "key", "value", "table", "op",
        "source_lsn", "commit_lsn", "tx_id", "tx_order", "commit_ts", "snapshot",
        "is_tombstone", "decode_error", "ingest_ts", "commit_date",
    ]  # fmt: skip
    types = {f.name: f.type for f in BRONZE_SCHEMA}
    assert types["partition"] == pa.int32() and types["offset"] == pa.int64()
    assert types["key"] == pa.binary() and types["commit_ts"] == UTC_TS
    assert types["ingest_ts"] == UTC_TS and types["snapshot"] == pa.bool_()
    assert types["commit_date"] == pa.date32()


def test_bronze_rows_and_round_trip() -> None:
    good_v = value(envelope("orders", "r", after=ORDER, snapshot="first"))
    rows = [
        row(key("orders", 42), good_v, offset=5),
        row(key("orders", 42), None, offset=6),
        row(None, b'{"op": "c", "after": {', offset=7),
        row(b"k", b"\xff\x00", tp="ecom.public.unknown", offset=8),
        row(None, value(envelope("orders", "t")), offset=9),
    ]
    good, tomb, trunc, unknown, trunc_ev = rows
    assert good["op"] == "r" and good["snapshot"] is True and good["table"] == "orders"
    assert (good["source_lsn"], good["commit_lsn"], good["tx_id"], good["tx_order"]) == (
        30922040, 30921384, 731, 2,
    )  # fmt: skip
    commit = datetime(2026, 11, 28, 5, 31, 12, 254467, tzinfo=UTC)
    assert good["commit_ts"] == (commit - EPOCH) // timedelta(microseconds=1)  # exact micros
    assert good["decode_error"] is None and good["is_tombstone"] is False
    assert tomb["is_tombstone"] is True and tomb["decode_error"] is None and tomb["op"] is None
    assert tomb["table"] == "orders"
    assert trunc["decode_error"] == "truncated_json" and trunc["op"] is None
    assert trunc["table"] == "orders" and trunc["commit_ts"] is None
    assert unknown["decode_error"] == "unknown_topic" and unknown["table"] is None
    assert trunc_ev["op"] == "t" and trunc_ev["decode_error"] is None
    assert good["commit_date"] == date(2026, 11, 28)
    assert tomb["commit_date"] == date(2023, 11, 14)  # no event: the Kafka timestamp's date

    back = read_back(bronze_table(rows))
    assert back.schema.equals(BRONZE_SCHEMA)
    got = back.to_pylist()
    assert got[0]["commit_ts"] == commit
    as_datetimes = [{**r, "commit_ts": _ts_or_none(r["commit_ts"])} for r in rows]
    assert got == as_datetimes
    assert got[0]["value"] == good_v and got[1]["value"] is None and got[3]["value"] == b"\xff\x00"
    assert got[0]["ingest_ts"].microsecond == 1


def test_bronze_row_keeps_undecodable_messages() -> None:
    r = row(key("orders", 1), b"x" * (5 * 1024 * 1024 + 1))
    assert r["decode_error"] == "oversized" and r["value"] == b"x" * (5 * 1024 * 1024 + 1)
    r = bronze_row("t", 0, 0, None, None, b"{}", table=None, event=None,
                   decode_error="unknown_topic", ingest_ts=INGEST)  # fmt: skip
    assert r["decode_error"] == "unknown_topic" and r["kafka_timestamp_ms"] is None
    assert r["commit_date"] == date(1970, 1, 1)


def silver_records() -> list[dict]:
    items: list[dict[str, Any]] = [
        {**ORDER_ITEM, "order_item_id": 1, "unit_price": "99999999.99"},
        {**ORDER_ITEM, "order_item_id": 2, "unit_price": "-0.05", "quantity": 3},
        {**ORDER_ITEM, "order_item_id": 3, "unit_price": None},
    ]
    out = []
    for i, item in enumerate(items):
        ev = decode(topic("order_items"), 0, i, None, key("order_items", item["order_item_id"]),
                    value(envelope("order_items", "d", before=item)), prefix=PREFIX)  # fmt: skip
        assert ev is not None
        s = to_silver(ev)
        assert isinstance(s, SilverRecord)
        out.append({**s.record, "commit_date": date(2026, 11, 28)})
    return out


def test_silver_table_round_trip_exact() -> None:
    records = silver_records()
    table = silver_table("order_items", records)
    types = {f.name: f.type for f in table.schema}
    assert types["unit_price"] == pa.decimal128(10, 2)
    assert types["commit_ts"] == UTC_TS and types["commit_date"] == pa.date32()
    assert table.schema.names[12:] == [c.name for c in COLUMNS["order_items"]]
    back = read_back(table)
    assert back.schema.equals(table.schema)
    got = back.to_pylist()
    assert [g["unit_price"] for g in got] == [Decimal("99999999.99"), Decimal("-0.05"), None]
    assert str(got[1]["unit_price"]) == "-0.05"
    assert got == records
    assert got[0]["commit_ts"] == datetime(2026, 11, 28, 5, 31, 12, 254467, tzinfo=UTC)
    assert got[0]["is_delete"] is True


def test_silver_timestamps_and_dates_exact() -> None:
    doc = envelope(
        "orders", "c", after={**ORDER, "order_date": -1, "updated_at": 253402300799999999}
    )
    ev = decode(topic("orders"), 0, 0, None, key("orders", 42), value(doc), prefix=PREFIX)
    assert ev is not None
    s = to_silver(ev)
    assert isinstance(s, SilverRecord)
    rec = {**s.record, "commit_date": date(2026, 11, 28)}
    got = read_back(silver_table("orders", [rec])).to_pylist()[0]
    assert got["order_date"] == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert got["updated_at"] == datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    assert got["total_amount"] == Decimal("12.30")

    camp = {"campaign_id": 3, "campaign_name": "x", "channel": "SMS", "budget": "0.00",
            "roi": "1.50", "start_date": 0, "end_date": -719162}  # fmt: skip
    doc = envelope("marketing_campaigns", "c", after=camp)
    ev = decode(
        topic("marketing_campaigns"),
        0,
        0,
        None,
        key("marketing_campaigns", 3),
        value(doc),
        prefix=PREFIX,
    )
    assert ev is not None
    s = to_silver(ev)
    assert isinstance(s, SilverRecord)
    t = silver_table("marketing_campaigns", [{**s.record, "commit_date": date(2026, 11, 28)}])
    assert t.schema.field("start_date").type == pa.date32()
    got = read_back(t).to_pylist()[0]
    assert (got["start_date"], got["end_date"]) == (date(1970, 1, 1), date(1, 1, 1))


def test_added_source_columns_become_nullable_string_columns() -> None:
    """A column added at the source is a new column of the silver table (its JSON text),
    which the Delta table takes in by schema merge; rows without it hold null."""
    rec = silver_records()[0]
    t = silver_table(
        "order_items", [{**rec, "gift_wrap": True, "note": "x", "n": Decimal("1.5")}, rec]
    )
    assert t.schema.names[-3:] == ["gift_wrap", "n", "note"]
    assert {t.schema.field(n).type for n in ("gift_wrap", "n", "note")} == {pa.string()}
    got = read_back(t).to_pylist()
    assert (got[0]["gift_wrap"], got[0]["note"], got[0]["n"]) == ("true", "x", '"1.5"')
    assert (got[1]["gift_wrap"], got[1]["note"], got[1]["n"]) == (None, None, None)
    assert silver_table("order_items", [rec]).schema.names[-1] == "unit_price"


def test_silver_rejects_wrong_types() -> None:
    rec = silver_records()[0]
    with pytest.raises((pa.ArrowInvalid, pa.ArrowTypeError)):
        silver_table("order_items", [{**rec, "quantity": "many"}])


def test_empty_tables() -> None:
    assert read_back(bronze_table([])).num_rows == 0
    assert read_back(silver_table("orders", [])).num_rows == 0


def test_commit_date() -> None:
    assert commit_date(1795843872254467, None) == date(2026, 11, 28)
    assert commit_date(86_399_999_999, 0) == date(1970, 1, 1)
    assert commit_date(86_400_000_000, 0) == date(1970, 1, 2)
    assert commit_date(-1, None) == date(1969, 12, 31)
    assert commit_date(None, 1795843872254) == date(2026, 11, 28)
    assert commit_date(2**62, 1795843872254) == date(2026, 11, 28)
    assert commit_date(None, None) == date(1970, 1, 1)


def test_bronze_commit_time_outside_datetime_range_is_null_not_an_error() -> None:
    far = 400_000 * 365 * 86_400 * 1_000_000  # year ~400,000: an int64, not a datetime
    assert micros_in_range(far) is None and micros_in_range(-far) is None
    assert micros_in_range(0) == 0 and micros_in_range(None) is None
    doc = envelope("orders", "c", after=dict(ORDER))
    doc["source"]["ts_us"] = far
    r = row(key("orders", 42), value(doc))
    assert r["commit_ts"] is None and r["op"] == "c"
    assert read_back(bronze_table([r])).to_pylist()[0]["commit_ts"] is None
