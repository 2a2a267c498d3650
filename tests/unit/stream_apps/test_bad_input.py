"""The bad-input catalogue (README, "Bad input"), on the pure parts of one micro-batch.

Each kind of bad message goes through what a worker does with it, without any service:
``pipeline.BatchProcessor.process`` decodes each message once, keeps it byte for byte
in its bronze row, and gives its silver record or a dead letter with its stage and
reason. tests/integration/test_bad_input.py sends the same kinds through the real stack.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from schemas.columns import COLUMNS
from stream_apps import configuration, formats, pipeline
from tests.unit.schema_ids import registry
from tests.unit.stream_apps.messages import ORDER, ORDER_ITEM, PREFIX, envelope, key, topic, value

S = configuration.load()
REGISTRY = registry()
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _precision_overflow(table: str, column: str) -> str:
    col = next(c for c in COLUMNS[table] if c.name == column)
    assert col.precision is not None and col.scale is not None
    return "9" * (col.precision - col.scale + 1) + "." + "0" * col.scale


def _item(**changes: Any) -> bytes:
    return value(envelope("order_items", "c", after={**ORDER_ITEM, **changes}))


ITEM_KEY = key("order_items", int(str(ORDER_ITEM["order_item_id"])))
ORDER_KEY = key("orders", int(str(ORDER["order_id"])))
GOOD = _item()

#: kind -> (topic table, key, value, dead-letter stage, reason, bronze decode_error)
DEAD_LETTERED: dict[str, tuple[str, bytes | None, bytes, str, str, str | None]] = {
    "not JSON": ("order_items", ITEM_KEY, b"\x00\xffnot json", "decode", "not_json", "not_json"),
    "truncated JSON": ("order_items", ITEM_KEY, GOOD[: len(GOOD) // 2], "decode",
                       "truncated_json", "truncated_json"),
    "JSON but not an object": ("order_items", ITEM_KEY, b"[1, 2]", "decode", "not_an_object",
                               "not_an_object"),
    "unknown op": ("order_items", ITEM_KEY,
                   value(dict(envelope("order_items", "c", after=ORDER_ITEM), op="x")),
                   "decode", "unknown_op", "unknown_op"),
    "missing after on a create": ("orders", ORDER_KEY, value(envelope("orders", "c")), "decode",
                                  "missing_after", "missing_after"),
    "missing before on a delete": ("orders", ORDER_KEY, value(envelope("orders", "d")),
                                   "decode", "missing_before", "missing_before"),
    "no source block": ("orders", ORDER_KEY,
                        value(dict(envelope("orders", "c", after=ORDER), source=None)),
                        "decode", "missing_source", "missing_source"),
    "no message key": ("order_items", None, GOOD, "decode", "missing_key", "missing_key"),
    "wrong type (string quantity)": ("order_items", ITEM_KEY, _item(quantity="seven"), "decode",
                                     "wrong_type", None),
    "wrong type (float price)": ("order_items", ITEM_KEY, _item(unit_price=5.15), "decode",
                                 "wrong_type", None),
    "decimal out of range": ("order_items", ITEM_KEY,
                             _item(unit_price=_precision_overflow("order_items", "unit_price")),
                             "decode", "decimal_out_of_range", None),
    "decimal with too many decimals": ("order_items", ITEM_KEY, _item(unit_price="5.155"),
                                       "decode", "decimal_out_of_range", None),
    "timestamp out of range": ("orders", ORDER_KEY,
                               value(envelope("orders", "c", after={**ORDER,
                                                                    "order_date": 10**18})),
                               "decode", "timestamp_out_of_range", None),
    "oversized message": ("orders", ORDER_KEY,
                          value(envelope("orders", "c", after={
                              **ORDER, "order_status": "x" * (6 * 1024 * 1024)})),
                          "decode", "oversized", "oversized"),
    "quarantine rule (quantity 0)": ("order_items", ITEM_KEY, _item(quantity=0), "silver",
                                     "order_items.quantity<=0", None),
}  # fmt: skip


def _process(table_topic: str, k: bytes | None, v: bytes | None) -> pipeline.Processed:
    processor = pipeline.BatchProcessor(S, REGISTRY)
    return processor.process([pipeline.Msg(table_topic, 2, 41, 1_700_000_000_000, k, v)])


def _bronze(table_topic: str, k: bytes | None, v: bytes | None) -> dict[str, Any]:
    (part,) = _process(table_topic, k, v).tables.values()
    (row,) = part.bronze.to_pylist()
    return row


def _dead_lettered(batch: pipeline.Processed) -> int:
    return sum(batch.dead_letters.values())


@pytest.mark.parametrize("kind", list(DEAD_LETTERED))
def test_bad_message_is_dead_lettered_with_its_reason_and_kept_in_bronze(kind: str) -> None:
    table, k, v, stage, reason, bronze_error = DEAD_LETTERED[kind]
    row = _bronze(topic(table), k, v)
    assert (row["key"], row["value"], row["table"]) == (k, v, table)
    assert row["decode_error"] == bronze_error

    batch = _process(topic(table), k, v)
    assert _dead_lettered(batch) == 1 and batch.dead_letters[(stage, reason)] == 1
    dlq = [o for o in batch.outputs if o.topic == S.dlq_topic]
    assert len(dlq) == 1
    doc = json.loads(dlq[0].value)
    assert (doc["stage"], doc["reason"], doc["table"]) == (stage, reason, table)
    assert (doc["topic"], doc["partition"], doc["offset"]) == (topic(table), 2, 41)
    assert base64.b64decode(doc["value_b64"]) == v
    assert doc["key_b64"] is None if k is None else base64.b64decode(doc["key_b64"]) == k
    silver = [o for o in batch.outputs if o.topic != S.dlq_topic]
    (part,) = batch.tables.values()
    if stage == "silver":  # a quarantined version still ends its key: a 'q' marker
        assert len(silver) == 1
        assert REGISTRY.decode(silver[0].value)[2]["op"] == "q"
        assert part.silver.column("op").to_pylist() == ["q"]  # in the silver change-log too
    else:
        assert silver == [] and batch.silver == 0 and part.silver.num_rows == 0


def test_a_topic_of_an_unknown_table_is_refused_by_the_batch() -> None:
    # The workers subscribe to the six table topics only, so such a topic is never read
    # (see the integration test); a batch that held one would be a bug, not bad input.
    tp = f"{PREFIX}.public.wishlists"
    row = formats.bronze_row(tp, 0, 1, None, b"{}", GOOD, table=None, event=None,
                             decode_error="unknown_topic", ingest_ts=NOW)  # fmt: skip
    assert row["decode_error"] == "unknown_topic" and row["value"] == GOOD
    with pytest.raises(ValueError, match="wishlists"):
        _process(tp, b"{}", GOOD)


def _silver_records(batch: pipeline.Processed) -> list[dict[str, Any]]:
    assert _dead_lettered(batch) == 0
    return [REGISTRY.decode(o.value)[2] for o in batch.outputs]


def test_truncate_becomes_a_silver_truncate_record() -> None:
    doc = value(envelope("orders", "t"))
    assert _bronze(topic("orders"), None, doc)["op"] == "t"
    (rec,) = _silver_records(_process(topic("orders"), None, doc))
    assert (rec["op"], rec["is_delete"], rec["order_id"]) == ("t", True, None)


def test_dropped_column_arrives_as_null() -> None:
    after = {k: v for k, v in ORDER.items() if k != "campaign_id"}
    (rec,) = _silver_records(_process(topic("orders"), ORDER_KEY,
                                      value(envelope("orders", "c", after=after))))  # fmt: skip
    assert rec["campaign_id"] is None and rec["order_status"] == "Shipped"


def test_duplicate_delivery_is_processed_again_identically() -> None:
    # The same change delivered twice at two offsets (Debezium re-publishing after a
    # Connect restart) gives the same record twice, at its two bronze offsets; the current
    # state keeps one per (key, LSN, op).
    first = _silver_records(_process(topic("orders"), ORDER_KEY, value(envelope(
        "orders", "u", after=ORDER))))  # fmt: skip
    processor = pipeline.BatchProcessor(S, REGISTRY)
    again = processor.process([pipeline.Msg(topic("orders"), 2, 99, 1_700_000_000_000, ORDER_KEY,
                                            value(envelope("orders", "u", after=ORDER)))])  # fmt: skip
    (a,), (b,) = first, _silver_records(again)
    assert (a["bronze_offset"], b["bronze_offset"]) == (41, 99)
    assert {**a, "bronze_offset": 0} == {**b, "bronze_offset": 0}


def test_tombstone_is_counted_not_dead_lettered() -> None:
    assert _bronze(topic("orders"), ORDER_KEY, None)["is_tombstone"] is True
    batch = _process(topic("orders"), ORDER_KEY, None)
    assert (batch.outputs, batch.tombstones, _dead_lettered(batch)) == ([], 1, 0)
