"""Silver keys: the primary key as text; a truncate always gets the same (empty) key."""

from __future__ import annotations

from stream_apps import configuration
from stream_apps.pipeline import BatchProcessor, Msg
from tests.unit.schema_ids import registry
from tests.unit.stream_apps import messages as m


def _processor() -> BatchProcessor:
    return BatchProcessor(configuration.load(), registry())


def test_keyed_record_uses_the_primary_key() -> None:
    doc = m.envelope("orders", "c", after=dict(m.ORDER))
    msg = Msg(m.topic("orders"), 0, 7, None, m.key("orders", m.ORDER["order_id"]), m.value(doc))
    batch = _processor().process([msg])
    assert [o.key for o in batch.outputs] == [str(m.ORDER["order_id"]).encode()]


def test_truncate_gets_the_empty_key_every_time() -> None:
    doc = m.envelope("orders", "t")
    msgs = [Msg(m.topic("orders"), p, 10 + p, None, None, m.value(doc)) for p in range(3)]
    batch = _processor().process(msgs)
    assert len(batch.outputs) == 3
    assert {o.key for o in batch.outputs} == {b""}
    assert {o.topic for o in batch.outputs} == {"silver.orders"}
