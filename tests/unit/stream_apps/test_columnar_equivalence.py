"""The column-wise processor gives exactly what the record-by-record one gives.

Property test over generated dirty batches (``dirty_batches``): the bronze and silver
tables (schemas included), the records to produce (bytes and order), the counts, the
spans and the schemas registered are equal, for each customer email policy, and when
the schema registry refuses schemas.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from common.pii import EmailPolicy
from stream_apps import columnar_decode, configuration, rules
from stream_apps.columnar import ColumnarProcessor
from stream_apps.pipeline import SCHEMA_INCOMPATIBLE, BatchProcessor, Msg, Processed
from tests.unit.schema_ids import Ids, Refuse, evolved, never, registry
from tests.unit.stream_apps import messages as m
from tests.unit.stream_apps.dirty_batches import added_column, batch, good_message

S = configuration.load()
REFUSED: list[str] = []
AT = datetime(2026, 11, 28, 12, 30, 15, 123456, tzinfo=UTC)


def assert_same(expected: Processed, got: Processed) -> None:
    assert list(got.tables) == list(expected.tables)
    for table, want in expected.tables.items():
        have = got.tables[table]
        assert have.topic == want.topic
        for layer in ("bronze", "silver"):
            a, b = getattr(want, layer), getattr(have, layer)
            assert b.schema.equals(a.schema, check_metadata=True), (table, layer)
            assert b.equals(a), (table, layer, _first_difference(a, b))
        assert have.spans == want.spans and list(have.spans) == list(want.spans)
        assert have.commit_us == want.commit_us
    assert got.outputs == expected.outputs
    assert got.silver == expected.silver
    assert got.dead_letters == expected.dead_letters
    assert got.tombstones == expected.tombstones
    assert got.silver_commit_us == expected.silver_commit_us
    assert got == expected


def _first_difference(a: Any, b: Any) -> str:
    for name in a.schema.names:
        x, y = a.column(name).to_pylist(), b.column(name).to_pylist()
        if x != y:
            i = next(i for i, (p, q) in enumerate(zip(x, y, strict=True)) if p != q)
            return f"{name}[{i}]: {x[i]!r} != {y[i]!r}"
    return "no difference in values"


def both(msgs: list[Msg], refuse: Refuse = never) -> tuple[Processed, Processed, Ids, Ids] | None:
    """(record by record, column-wise) results of ``msgs``, each from a fresh
    ``AvroRegistry`` whose ids come from one registry (it refuses what ``refuse`` says),
    and the ids each asked for; None when the reference refuses the batch (then the
    column-wise one must too)."""
    shared: dict[tuple[str, str], int] = {}
    ids = Ids(shared, refuse), Ids(shared, refuse)
    reference = BatchProcessor(S, registry(ids[0]), clock=lambda: AT)
    columnar = ColumnarProcessor(S, registry(ids[1]), clock=lambda: AT)
    try:
        expected = reference.process(msgs)
    except Exception as exc:  # noqa: BLE001 - the reference refuses the batch
        # (an input it cannot land, e.g. an LSN beyond 64 bits: the worker stops before
        # committing anything); the column-wise processor must refuse it too
        REFUSED.append(repr(exc))
        try:
            columnar.process(msgs)
        except Exception:  # noqa: BLE001
            return None
        raise AssertionError(f"column-wise took a batch the reference refuses: {exc!r}") from exc
    got = columnar.process(msgs)
    return expected, got, *ids


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def _check(msgs: list[Msg], refuse: Refuse = never) -> None:
    results = both(msgs, refuse)
    if results is None:
        event("refused by both")
        return
    expected, got, ids_a, ids_b = results
    assert_same(expected, got)
    assert set(ids_b.calls) == set(ids_a.calls)
    event("every table column-wise" if not got.fallbacks else "some table record by record")
    if got.dead_letters[("silver", SCHEMA_INCOMPATIBLE)]:
        event("a schema refused by the registry")
    for reason in got.fallbacks:
        event(f"record by record: {reason}")


@_settings(150)
@given(msgs=batch())
def test_columnar_equals_record_by_record(msgs: list[Msg]) -> None:
    _check(msgs)


@pytest.mark.parametrize("mode", ["hash", "mask"])
def test_columnar_equals_record_by_record_under_each_email_policy(mode: str) -> None:
    @_settings(40)
    @given(msgs=batch(among=("customers", "orders")))
    def check(msgs: list[Msg]) -> None:
        _check(msgs)

    rules.set_email_policy(EmailPolicy(mode, "salt" if mode == "hash" else ""))
    try:
        check()
    finally:
        rules.set_email_policy(None)


_REFUSING = ("orders", "order_items", "products")


@st.composite
def _with_added_column(draw: st.DrawFn) -> list[Msg]:
    """A batch of :data:`_REFUSING` tables with one message holding a column its table
    does not have (its silver record needs a new schema version)."""
    msgs = draw(batch(among=_REFUSING))
    table = draw(st.sampled_from(_REFUSING))
    key, value = draw(good_message(table))
    assert value is not None
    key, value = added_column(draw, table, key, value, json.loads(value))
    at = draw(st.integers(0, len(msgs)))
    msgs.insert(at, Msg(m.topic(table), 0, 10**7 + at, 1_700_000_000_000, key, value))
    return msgs


def _refuse_orders(table: str, schema: dict[str, Any]) -> bool:
    return table == "orders"


@pytest.mark.parametrize(
    ("refuse", "batches"),
    [(evolved, _with_added_column()), (_refuse_orders, batch(among=_REFUSING))],
    ids=["evolved schemas", "every orders schema"],
)
def test_columnar_equals_record_by_record_when_the_registry_refuses(
    refuse: Refuse, batches: st.SearchStrategy[list[Msg]]
) -> None:
    @_settings(40)
    @given(msgs=batches)
    def check(msgs: list[Msg]) -> None:
        _check(msgs, refuse)

    check()


_GOOD = [
    json.dumps(m.envelope("orders", op, before=m.ORDER, after=m.ORDER)).encode()
    for op in ("c", "u", "d")
]
_PIECES = st.one_of(
    st.sampled_from(_GOOD).flatmap(
        lambda v: st.tuples(st.integers(0, len(v)), st.integers(0, len(v))).map(
            lambda ij: v[min(ij) : max(ij)]
        )
    ),
    st.sampled_from([b"{", b"}", b"\n", b" ", b",", b":", b'"op":"c"', b"[", b"]", b'"']),
)
#: Values that would make documents span values or values hold two documents: a good
#: document cut after ``"before": `` and its rest, two documents in one value.
_ATOMS = [*_GOOD, _GOOD[0][:11], _GOOD[0][11:], _GOOD[1] + _GOOD[2], b'{"a":', b"{}}", b"{}{}"]


@_settings(300)
@given(
    values=st.lists(
        st.one_of(st.sampled_from(_ATOMS), st.lists(_PIECES, max_size=4).map(b"".join)),
        min_size=1,
        max_size=6,
    )
)
@example(values=[_GOOD[0][:11], _GOOD[0][11:], _GOOD[1] + _GOOD[2]])
def test_decode_takes_a_value_only_as_one_document_json_reads_alike(values: list[bytes]) -> None:
    keys: list[bytes | None] = [m.key("orders", 42)] * len(values)
    try:
        env = columnar_decode.decode("orders", keys, values)
    except columnar_decode.Unsupported:
        return
    docs = [json.loads(v.decode("utf-8")) for v in values]  # raises if json refuses one
    assert env.op.to_pylist() == [d["op"] for d in docs]
    assert env.row["order_id"].to_pylist() == [
        (d["after"] or d["before"])["order_id"] for d in docs
    ]
