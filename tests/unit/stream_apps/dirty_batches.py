"""Hypothesis strategies for dirty batches of CDC messages: valid change events of all
six tables (every op, snapshot flags, nulls, unicode, whitespace and case noise,
negative and maximum-precision decimals, 64-bit integers, boundary timestamps and
dates, the contract's quarantine cases) mixed with every kind of bad input of the
README's "Bad input" table."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from schemas import PRIMARY_KEYS, SOURCE_TABLES
from schemas.columns import COLUMNS, Column
from stream_apps.envelope import MAX_MESSAGE_BYTES
from stream_apps.pipeline import Msg
from tests.unit.stream_apps import messages as m

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MIN_US = (datetime.min.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
MAX_US = (datetime.max.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)
MIN_DAYS = (date.min - date(1970, 1, 1)).days
MAX_DAYS = (date.max - date(1970, 1, 1)).days
INT64 = (-(2**63), 2**63 - 1)

ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("orders", "order_status"): ("Pending", "Processing", "Shipped", "Delivered", "Cancelled"),
    ("inventory_transactions", "transaction_type"): ("IN", "OUT", "ADJUSTMENT"),
    ("marketing_campaigns", "channel"): ("EMAIL", "SMS", "SOCIAL", "DISPLAY", "SEARCH"),
    ("customers", "customer_segment"): ("Premium", "Regular", "New"),
    ("customers", "loyalty_tier"): ("Gold", "Silver", "Bronze", "None"),
}

#: Characters whose case mapping differs between Python and Unicode's simple mapping,
#: plus spaces other than U+0020 (which trim() keeps).
TRICKY = "İıßẞΣσςǅﬀ\u00a0\t\u3000ÉéŉÅ"


def _one_in(n: int) -> st.SearchStrategy[bool]:
    """True once in ``n`` draws (hypothesis' integers favour small values)."""
    return st.sampled_from(range(n)).map(lambda i: i == 0)


noise = st.sampled_from(["", " ", "  ", "\t", "\u00a0"])


@functools.cache
def _noisy(word: str) -> st.SearchStrategy[str]:
    """A word with space and case noise around it."""
    cased = st.sampled_from([word, word.lower(), word.upper(), word.swapcase()])
    return st.tuples(noise, cased, noise).map("".join)


text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
tricky_text = st.text(alphabet=st.sampled_from(TRICKY + "aZ@. "), max_size=8)


@functools.cache
def _str_value(table: str, name: str) -> st.SearchStrategy[Any]:
    words = ENUMS.get((table, name), ("x",))
    return st.one_of(
        st.none(),
        st.sampled_from(words).flatmap(_noisy),
        text,
        tricky_text,
        st.tuples(noise, text, noise).map("".join),
    )


@functools.cache
def _decimal_value(col: Column, wild: bool) -> st.SearchStrategy[Any]:
    p, s = col.precision or 38, col.scale or 0
    whole = st.integers(-(10 ** (p - s)) + 1, 10 ** (p - s) - 1)
    frac = st.integers(0, 10**s - 1)

    def plain(w: int, f: int, pad: int) -> str:
        sign = "-" if w < 0 else ""
        return f"{sign}{abs(w)}.{f:0{s}d}" + "0" * pad

    cents = st.builds(
        lambda c: f"{c // 100}.{c % 100:02d}" if c >= 0 else f"-{-c // 100}.{-c % 100:02d}",
        st.integers(-500, 10**6),
    )
    valid = st.one_of(
        st.none(),
        cents,
        st.builds(plain, whole, frac, st.integers(0, 3)),
        st.sampled_from(
            [
                "9" * (p - s) + "." + "9" * s,
                "-" + "9" * (p - s) + "." + "9" * s,
                "-0.00",
                "0",
                "5.150",
                "007.50",
            ]
        ),
    )
    if not wild:
        return valid
    return st.one_of(
        st.sampled_from(
            [
                "1" + "0" * (p - s) + "." + "0" * s,  # one digit too many
                "5.155",  # more decimals than the scale
                "1e3", "+5", ".5", "5.", " 5", "NaN", "", "٣",
                "0000000000000000000000000000000000000000001.00",
            ]
        ),
        st.floats(allow_nan=False, allow_infinity=False),  # a float price: wrong_type
    )  # fmt: skip


@functools.cache
def _int_value(wild: bool) -> st.SearchStrategy[Any]:
    if wild:
        return st.sampled_from([INT64[1] + 1, INT64[0] - 1, 2**70, "7", 2.0, 1.5, True])
    return st.one_of(
        st.none(),
        st.integers(-5, 1000),
        st.integers(*INT64),
        st.sampled_from([INT64[0], INT64[1], 0, -1]),
    )


@functools.cache
def _timestamp_value(wild: bool) -> st.SearchStrategy[Any]:
    if wild:
        return st.sampled_from([MIN_US - 1, MAX_US + 1, 10**18, INT64[1], "2024-01-01"])
    return st.one_of(
        st.none(),
        st.integers(1_600_000_000_000_000, 1_900_000_000_000_000),
        st.integers(MIN_US, MAX_US),
        st.sampled_from([MIN_US, MAX_US, -1, 0, 86_400_000_000 - 1]),
    )


@functools.cache
def _date_value(wild: bool) -> st.SearchStrategy[Any]:
    if wild:
        return st.sampled_from([MIN_DAYS - 1, MAX_DAYS + 1, 2**40, "2024-01-01"])
    return st.one_of(
        st.none(),
        st.integers(18000, 22000),
        st.integers(MIN_DAYS, MAX_DAYS),
        st.sampled_from([MIN_DAYS, MAX_DAYS, -1, 0]),
    )


@functools.cache
def _value(table: str, col: Column, wild: bool) -> st.SearchStrategy[Any]:
    if col.kind == "int":
        if col.name == PRIMARY_KEYS[table] and not wild:
            return st.one_of(st.integers(1, 10**6), st.sampled_from([0, -7, INT64[1], INT64[0]]))
        if table == "order_items" and col.name == "quantity" and not wild:
            return st.one_of(st.integers(-2, 3), _int_value(wild))
        return st.one_of(_int_value(wild), st.none()) if wild else _int_value(wild)
    if col.kind == "str":
        if wild:
            return st.sampled_from([5, 1.5, True, ["x"]])
        return _str_value(table, col.name)
    if col.kind == "decimal":
        return _decimal_value(col, wild)
    if col.kind == "timestamp":
        return _timestamp_value(wild)
    return _date_value(wild)


@st.composite
def row(draw: st.DrawFn, table: str, wild: bool) -> dict[str, Any]:
    """A row image: values that are valid but dirty (nulls, noise, unicode, boundaries,
    quarantine cases); when ``wild``, one value that cannot be typed."""
    image = {c.name: draw(_value(table, c, False)) for c in COLUMNS[table]}
    if wild:
        col = draw(st.sampled_from(COLUMNS[table]))
        image[col.name] = draw(_value(table, col, True))
    if draw(_one_in(20)):  # a column dropped at the source
        image.pop(draw(st.sampled_from([c.name for c in COLUMNS[table]])))
    return image


_sequence = st.one_of(
    st.just('["30921384","30922040"]'),
    st.builds(
        lambda a, b: f'["{a}","{b}"]', st.integers(0, 10**18 - 1), st.integers(0, 10**18 - 1)
    ),
    st.sampled_from(['[null,"30922040"]', None, '["0001","2"]']),
)
_wild_sequence = st.sampled_from(
    [
        '["30921384", "30922040"]',
        "[]",
        '["-5","1"]',
        '["99999999999999999999","1"]',
        "not json",
        '[30921384,"1"]',
        '{"a":1}',
    ]
)


@st.composite
def envelope_doc(draw: st.DrawFn, table: str, wild: bool = False) -> dict[str, Any]:
    """An envelope as Debezium writes it; when ``wild``, one field out of the ordinary
    (a value that cannot be typed, an LSN beyond 64 bits, a commit time out of range,
    a sequence in another form, a truncate)."""
    op = draw(st.sampled_from(["c", "r", "u", "d", "t"] if wild else ["c", "r", "u", "d"]))
    wild_part = draw(st.sampled_from(["row", "row", "envelope"])) if wild else None
    image = draw(row(table, wild_part == "row"))
    before = image if op in ("d", "u") else None
    after = image if op in ("c", "r", "u") else None
    if op == "u" and draw(st.booleans()):
        before = draw(row(table, False))
    doc = m.envelope(
        table,
        op,
        before=before,
        after=after,
        snapshot=draw(st.sampled_from(["false", "true", "last", "first", "incremental"])),
        lsn=draw(st.one_of(st.integers(0, 2**40), st.none(), st.just(INT64[1]))),
        sequence=draw(_sequence),
        tx_id=draw(st.one_of(st.integers(0, 10**6), st.none())),
        total_order=draw(st.one_of(st.integers(1, 100), st.none())),
        ts_us=draw(
            st.one_of(st.just(m.TS_US), st.none(), st.sampled_from([MIN_US, MAX_US, -1, 0]))
        ),
        ts_ms=draw(
            st.one_of(st.just(m.TS_US // 1000), st.none(), st.sampled_from([-1, MIN_US // 1000]))
        ),
    )
    if draw(_one_in(3)):  # Debezium 3.6 also writes these
        doc["source"].update(ts_ns=m.TS_US * 1000, origin=None, origin_lsn=None)
        doc["ts_ns"] = m.TS_US * 1000 + 5
    if wild_part == "envelope":
        _wild_envelope(draw, doc)
    if op == "t":
        doc["before"] = doc["after"] = None
    return doc


def _wild_envelope(draw: st.DrawFn, doc: dict[str, Any]) -> None:
    source = doc["source"]
    field = draw(
        st.sampled_from(["lsn", "txId", "sequence", "ts_us", "ts_ms", "snapshot", "total_order"])
    )
    if field == "sequence":
        source["sequence"] = draw(_wild_sequence)
    elif field == "snapshot":
        source["snapshot"] = draw(st.sampled_from([True, False, None, 1]))
    elif field in ("ts_us", "ts_ms"):
        source["ts_us"] = None
        source[field] = draw(st.sampled_from([MAX_US + 1, MIN_US - 1, 2**62, "1"]))
    elif field == "total_order" and doc["transaction"] is not None:
        doc["transaction"]["total_order"] = draw(st.sampled_from([2**63, "5", 1.5]))
    else:
        source[field if field != "total_order" else "lsn"] = draw(
            st.sampled_from([2**63, "123", -1, True])
        )


def _encode(doc: Any, style: int) -> bytes:
    if style == 0:
        return json.dumps(doc).encode()
    if style == 1:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(doc, indent=1).encode()  # newlines inside the value


@st.composite
def good_message(
    draw: st.DrawFn, table: str, wild: bool = False
) -> tuple[bytes | None, bytes | None]:
    doc = draw(envelope_doc(table, wild))
    pk = PRIMARY_KEYS[table]
    image = doc["after"] or doc["before"] or {}
    key_value = image.get(pk)
    if not isinstance(key_value, int) or isinstance(key_value, bool):
        key_value = draw(st.integers(1, 1000))
    key = None if doc["op"] == "t" else m.key(table, key_value)
    style = draw(st.sampled_from([0, 0, 1]))
    return key, _encode(doc, style)


_OVERSIZED = json.dumps(
    m.envelope("orders", "c", after={**m.ORDER, "order_status": "x" * (MAX_MESSAGE_BYTES + 1)})
).encode()

Message = tuple[bytes | None, bytes | None]


def _dumps(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _with(doc: dict[str, Any], **fields: Any) -> bytes:
    return _dumps({**doc, **fields})


def _without_source(draw: st.DrawFn, table: str, key: Any, value: bytes, doc: Any) -> Message:
    doc.pop("source") if draw(st.booleans()) else doc.update(source=None)
    return key, _dumps(doc)


def _bad_key(draw: st.DrawFn, table: str, key: Any, value: bytes, doc: Any) -> Message:
    pk = PRIMARY_KEYS[table]
    keys = [None, "not json", "{}", '{"x":1}', "[1]", f'{{"{pk}":"7"}}', f'{{"{pk}":7.0}}',
            f'{{"{pk}":true}}', f'{{"{pk}":7,"x":1}}', f'{{"{pk}": 7}}', f'{{"{pk}":{2**64}}}']  # fmt: skip
    chosen = draw(st.sampled_from(keys))
    return (None if chosen is None else chosen.encode()), value


def added_column(draw: st.DrawFn, table: str, key: Any, value: bytes, doc: Any) -> Message:
    image = doc["after"] or doc["before"]
    if image is not None:
        name = draw(st.sampled_from(["extra_col", "gift_wrap"]))
        image[name] = draw(
            st.one_of(st.none(), st.integers(), st.text(max_size=5), st.just({"a": [1]}))
        )
    return key, _dumps(doc)


def _unknown_field(draw: st.DrawFn, table: str, key: Any, value: bytes, doc: Any) -> Message:
    target = doc if draw(st.booleans()) else doc["source"]
    name = draw(st.sampled_from(["zz", "origin", "ts_ns"]))
    target[name] = draw(
        st.one_of(
            st.integers(), st.just(2**70), st.text(max_size=3), st.just([1, [2]]), st.just({})
        )
    )
    return key, _dumps(doc)


Kind = Callable[[st.DrawFn, str, Any, bytes, Any], Message]

#: Bad input (README, "Bad input"), each made from a good message (key, value, its doc).
BAD_KINDS: dict[str, Kind] = {
    "not JSON": lambda d, t, k, v, doc: (k, b"\x00\xffnot json"),
    "truncated": lambda d, t, k, v, doc: (k, v[: d(st.integers(0, len(v) - 1))]),
    "not an object": lambda d, t, k, v, doc: (
        k, d(st.sampled_from([b"[1, 2]", b"42", b'"text"', b"null", b"true"]))
    ),
    "unknown op": lambda d, t, k, v, doc: (
        k, _with(doc, op=d(st.sampled_from(["x", None, "C", ""])))
    ),
    "missing after": lambda d, t, k, v, doc: (k, _with(doc, op="c", after=None)),
    "missing before": lambda d, t, k, v, doc: (k, _with(doc, op="d", before=None)),
    "missing source": _without_source,
    "bad key": _bad_key,
    "oversized": lambda d, t, k, v, doc: (k, _OVERSIZED),
    "tombstone": lambda d, t, k, v, doc: (k, None),
    "truncate": lambda d, t, k, v, doc: (None, _with(doc, op="t", before=None, after=None)),
    "added column": added_column,
    "unknown field": _unknown_field,
    "duplicate name": lambda d, t, k, v, doc: (k, v[:-1] + b', "op": "c"}'),
    "byte order mark": lambda d, t, k, v, doc: (k, b"\xef\xbb\xbf" + v),
    "surrounding space": lambda d, t, k, v, doc: (k, b"  " + v + b" \r"),
    "escaped name": lambda d, t, k, v, doc: (k, v.replace(b'"op"', b'"\\u006fp"', 1)),
    "two documents": lambda d, t, k, v, doc: (k, v + b" " + v),
    "lone surrogate": lambda d, t, k, v, doc: (k, v.replace(b"3.6.1.Final", b"\\ud800", 1)),
    "invalid UTF-8": lambda d, t, k, v, doc: (k, v.replace(b"postgresql", b"postgr\xc3sql", 1)),
    "deep nesting": lambda d, t, k, v, doc: (
        k, v[:-1] + b', "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    ),
    "NaN": lambda d, t, k, v, doc: (k, v.replace(b'"ecom"', b"NaN", 1)),
    "newlines": lambda d, t, k, v, doc: (k, json.dumps(doc, indent=1).encode()),
    "transaction not an object": lambda d, t, k, v, doc: (k, _with(doc, transaction="x")),
    "after not an object": lambda d, t, k, v, doc: (k, _with(doc, after=[1], op="c")),
}  # fmt: skip


@st.composite
def bad_message(draw: st.DrawFn, table: str) -> Message:
    """A bad message of one of :data:`BAD_KINDS`, or (a third of them) a change event
    with one value out of the ordinary (wrong type, out of range, ...)."""
    if draw(_one_in(3)):
        return draw(good_message(table, wild=True))
    key, value = draw(good_message(table))
    assert value is not None
    kind = BAD_KINDS[draw(st.sampled_from(sorted(BAD_KINDS)))]
    return kind(draw, table, key, value, json.loads(value))


@st.composite
def batch(draw: st.DrawFn, max_size: int = 24, among: tuple[str, ...] = SOURCE_TABLES) -> list[Msg]:
    """A batch of messages over some of the tables ``among``, in Kafka's order per
    partition (with the odd repeated or earlier offset): without bad input, with one bad
    message, or with several."""
    tables = draw(st.lists(st.sampled_from(among), min_size=1, max_size=6, unique=True))
    n = draw(st.integers(1, max_size))
    dirt = draw(st.sampled_from(["clean", "one", "one", "some"]))
    one_bad = draw(st.integers(0, n - 1)) if dirt == "one" else -1
    msgs: list[Msg] = []
    offsets: dict[tuple[str, int], int] = {}
    for i in range(n):
        table = draw(st.sampled_from(tables))
        bad = i == one_bad or (dirt == "some" and draw(_one_in(5)))
        key, value = draw(bad_message(table) if bad else good_message(table))
        if not bad and draw(_one_in(10)):
            value = None  # a tombstone
        partition = draw(st.integers(0, 2))
        tp = (m.topic(table), partition)
        step = draw(st.sampled_from([1, 1, 1, 1, 2, 0, -3]))
        offsets[tp] = max(0, offsets.get(tp, draw(st.integers(0, 10**6))) + step)
        stamp = draw(st.one_of(st.just(1_700_000_000_000), st.none(), _stamps))
        msgs.append(Msg(m.topic(table), partition, offsets[tp], stamp, key, value))
    return msgs


_stamps = st.sampled_from(
    [-1, 0, MAX_US // 1000, MAX_US // 1000 + 1, MIN_US // 1000 - 1, MIN_US // 1000]
)
