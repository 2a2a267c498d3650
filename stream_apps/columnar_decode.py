"""Decode a batch of one table's Debezium envelopes into Arrow columns (pure, no I/O).

:func:`decode` reads the values of one source table's messages in one
``pyarrow.json`` pass, with the envelope's fields typed as
:func:`stream_apps.envelope.decode` and :func:`stream_apps.rules.convert` expect them
(decimals stay the connector's strings; timestamps and dates stay integers).

It takes only input whose result is certain to be that of the record-by-record path,
and raises :class:`Unsupported` for anything else: values that are not one valid UTF-8
JSON object each, a type other than the one expected (which covers integers beyond 64 bits), a
column the schema does not know (added at the source), an op other than c/r/u/d, a
missing ``after``/``before``/``source``/key, a commit time out of range, a
``source.sequence`` or a key in a form Debezium does not write. The caller then
processes those messages record by record, which gives their dead letters.

Why this is exact: Arrow's JSON parser accepts no document that :mod:`json` rejects
(tested in ``tests/unit/stream_apps/test_columnar_decode.py``), except invalid UTF-8,
which is checked here; a field of an unexpected JSON type is an error, not a
conversion; duplicate names are an error. Unknown envelope and ``source`` fields are
ignored by both paths; they must be scalars, so nesting stays shallow (:mod:`json`
refuses documents nested about a thousand levels deep).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from schemas import PRIMARY_KEYS
from schemas.columns import COLUMNS
from stream_apps.envelope import MAX_MESSAGE_BYTES, SNAPSHOT_VALUES
from stream_apps.formats import _MAX_US, _MIN_US


class Unsupported(Exception):
    """Input the column-wise path does not take; ``reason`` names the check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


#: The JSON type of each column kind under the connector's settings
#: (decimal.handling.mode=string, adaptive_time_microseconds, dates as days).
JSON_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "str": pa.string(),
    "decimal": pa.string(),
    "timestamp": pa.int64(),
    "date": pa.int64(),
}

_SOURCE = pa.struct(
    [
        ("snapshot", pa.string()),
        ("sequence", pa.string()),
        ("ts_us", pa.int64()),
        ("ts_ms", pa.int64()),
        ("txId", pa.int64()),
        ("lsn", pa.int64()),
    ]
)
_TRANSACTION = pa.struct([("total_order", pa.int64())])
_KNOWN = ("before", "after", "source", "transaction", "op")
_OPS = pa.array(["c", "r", "u", "d"])
_IMAGE_OPS = pa.array(["c", "r", "u"])
_SNAPSHOT = pa.array(sorted(SNAPSHOT_VALUES))
# source.sequence as Debezium writes it: ["<last commit lsn>","<lsn>"], either may be
# null. 18 digits keep the value inside 64 bits.
_SEQUENCE = r'^\[(?:null|"(?P<lsn>[0-9]{1,18})"),(?:null|"[0-9]{1,18}")\]$'


@functools.cache
def row_type(table: str) -> pa.StructType:
    """A row image of ``table`` as JSON carries it."""
    return pa.struct([pa.field(c.name, JSON_TYPES[c.kind]) for c in COLUMNS[table]])


@functools.cache
def envelope_schema(table: str) -> pa.Schema:
    """The envelope fields read from a value of ``table``'s topic."""
    row = row_type(table)
    return pa.schema(
        [
            ("before", row),
            ("after", row),
            ("source", _SOURCE),
            ("transaction", _TRANSACTION),
            ("op", pa.string()),
        ]
    )


@functools.cache
def _key_pattern(table: str) -> str:
    # the key as Debezium writes it; its value is only checked, never used (the row
    # image holds the primary key), so any integer will do
    return r'^\{"' + PRIMARY_KEYS[table] + r'":-?(0|[1-9][0-9]*)\}$'


@dataclass
class Envelopes:
    """The decoded envelopes of a batch of one table, one entry per message."""

    op: pa.Array  # string: c, r, u or d
    row: dict[str, pa.Array]  # the row image (after for c/r/u, before for d), JSON types
    source_lsn: pa.Array  # int64
    commit_lsn: pa.Array  # int64
    tx_id: pa.Array  # int64
    tx_order: pa.Array  # int64
    commit_us: pa.Array  # int64, inside the range of a datetime
    snapshot: pa.Array  # bool, never null


def _all(mask: pa.Array) -> bool:
    """True when every value is true (nulls count as false)."""
    return len(mask) == 0 or bool(pc.all(mask.fill_null(False)).as_py())


def _check_text(values: list[bytes], binary: pa.Array) -> bytes:
    """The values, valid UTF-8 each starting with ``{`` and ending with ``}``, joined by
    newlines (``binary``: the same values as an Arrow array).

    The parser reads the joined text as a stream of documents, whatever the newlines.
    No document can span two values: the ``}`` ending a value is not inside a string (a
    string cannot hold the raw newline that follows), and after a ``}`` a document can
    only go on with ``,``, ``}`` or ``]``, never with the ``{`` that starts the next
    value. So each value holds one or more whole documents, and when the parser returns
    as many rows as there are values (see :func:`_read`), each value is exactly one
    document, as :mod:`json` requires.
    """
    try:
        text = binary.cast(pa.string())
    except pa.ArrowInvalid:
        raise Unsupported("not_utf8") from None
    if not _all(pc.and_(pc.starts_with(text, "{"), pc.ends_with(text, "}"))):
        raise Unsupported("not_one_object")
    return b"\n".join(values)


def _read(table: str, joined: bytes, n: int) -> pa.Table:
    options = pj.ParseOptions(
        explicit_schema=envelope_schema(table), unexpected_field_behavior="infer"
    )
    # one block: the reader would cut blocks at newlines, which may be inside a value
    read = pj.ReadOptions(use_threads=False, block_size=len(joined) + 1)
    try:
        parsed = pj.read_json(pa.BufferReader(joined), read_options=read, parse_options=options)
    except pa.ArrowInvalid:
        raise Unsupported("json") from None
    if parsed.num_rows != n:
        raise Unsupported("json")
    _check_fields(table, parsed.schema)
    return parsed


def _nested(t: pa.DataType) -> bool:
    return pa.types.is_nested(t)


def _check_fields(table: str, schema: pa.Schema) -> None:
    """Row images must hold exactly the known columns (another one was added at the
    source); other unknown fields must be scalars."""
    row = row_type(table)
    for f in schema:
        if f.name in ("before", "after"):
            if f.type != row:
                raise Unsupported("added_column")
        elif f.name in ("source", "transaction"):
            known = _SOURCE if f.name == "source" else _TRANSACTION
            extra = [c for c in f.type if known.get_field_index(c.name) < 0]
            if any(_nested(c.type) for c in extra):
                raise Unsupported("nested_field")
        elif f.name not in _KNOWN and _nested(f.type):
            raise Unsupported("nested_field")


def _column(parsed: pa.Table, name: str) -> pa.Array:
    return parsed.column(name).combine_chunks()


def _row_image(table: str, op: pa.Array, before: pa.Array, after: pa.Array) -> dict[str, pa.Array]:
    images = pc.is_in(op, _IMAGE_OPS)
    if not _all(pc.or_(pc.invert(images), after.is_valid())):
        raise Unsupported("missing_after")
    if not _all(pc.or_(images, before.is_valid())):
        raise Unsupported("missing_before")
    all_images = _all(images)
    deletes_only = not all_images and not pc.any(images).as_py()
    row: dict[str, pa.Array] = {}
    for c in COLUMNS[table]:
        if all_images:
            row[c.name] = pc.struct_field(after, c.name)
        elif deletes_only:
            row[c.name] = pc.struct_field(before, c.name)
        else:
            row[c.name] = pc.if_else(
                images, pc.struct_field(after, c.name), pc.struct_field(before, c.name)
            )
    if row[PRIMARY_KEYS[table]].null_count:
        raise Unsupported("missing_primary_key")
    return row


def _commit_us(source: pa.Array) -> pa.Array:
    ts_us = pc.struct_field(source, "ts_us")
    ts_ms = pc.struct_field(source, "ts_ms")
    if ts_us.null_count:
        try:
            ts_us = pc.coalesce(ts_us, pc.multiply_checked(ts_ms, 1000))
        except pa.ArrowInvalid:
            raise Unsupported("commit_ts") from None
    if len(ts_us) > ts_us.null_count:
        low, high = pc.min_max(ts_us).values()
        if low.as_py() < _MIN_US or high.as_py() > _MAX_US:
            raise Unsupported("commit_ts")
    return ts_us


def _commit_lsn(source: pa.Array) -> pa.Array:
    """The first element of ``source.sequence`` as an integer."""
    sequence = pc.struct_field(source, "sequence")
    if sequence.null_count == len(sequence):
        return pa.nulls(len(sequence), pa.int64())
    head = pc.struct_field(pc.extract_regex(sequence, _SEQUENCE), "lsn")
    if head.null_count != sequence.null_count:  # a sequence in another form
        raise Unsupported("sequence")
    return pc.if_else(pc.equal(head, ""), pa.scalar(None, pa.string()), head).cast(pa.int64())


def _check_keys(table: str, keys: list[bytes | None]) -> None:
    if any(k is None for k in keys):
        raise Unsupported("missing_key")
    try:
        text = pa.array(keys, pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        raise Unsupported("missing_key") from None
    if not _all(pc.match_substring_regex(text, _key_pattern(table))):
        raise Unsupported("key")


def decode(
    table: str, keys: list[bytes | None], values: list[bytes], binary: pa.Array | None = None
) -> Envelopes:
    """The envelopes of messages of ``table``'s topic (none of them a tombstone);
    ``binary`` may give the values as an Arrow binary array already."""
    if binary is None:
        binary = pa.array(values, pa.binary())
    longest = pc.max(pc.binary_length(binary)).as_py()
    if longest > MAX_MESSAGE_BYTES:
        raise Unsupported("oversized")
    parsed = _read(table, _check_text(values, binary), len(values))
    op = _column(parsed, "op")
    if not _all(pc.is_in(op, _OPS)):
        raise Unsupported("op")
    source = _column(parsed, "source")
    if source.null_count:
        raise Unsupported("missing_source")
    _check_keys(table, keys)
    row = _row_image(table, op, _column(parsed, "before"), _column(parsed, "after"))
    snapshot = pc.is_in(pc.struct_field(source, "snapshot"), _SNAPSHOT).fill_null(False)
    return Envelopes(
        op=op,
        row=row,
        source_lsn=pc.struct_field(source, "lsn"),
        commit_lsn=_commit_lsn(source),
        tx_id=pc.struct_field(source, "txId"),
        tx_order=pc.struct_field(_column(parsed, "transaction"), "total_order"),
        commit_us=_commit_us(source),
        snapshot=snapshot,
    )
