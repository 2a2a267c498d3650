"""Avro binary encoding of a whole Arrow table, column by column.

:class:`TableEncoder` writes, for every row of a table, the bytes fastavro's
``schemaless_writer`` writes for that row as a dict (``table.to_pylist()``): same
union branches, same zig-zag varints, same decimal byte strings. It works on whole
columns with numpy and ``pyarrow.compute`` instead of one Python call per value.

Framing is a separate step: :meth:`TableEncoder.encode` takes a ``header`` written in
front of every body (the Confluent wire header ``00`` + 4-byte schema id,
:func:`confluent_header`), joined in the same pass; :func:`frame` prefixes bodies that
are already encoded.

What the encoder takes (anything else raises :class:`ArrowAvroError`, so a caller can
fall back to fastavro record by record):

* record fields of type ``null``-unions of two branches (``["null", T]`` or
  ``[T, "null"]``) or plain ``T``, where ``T`` is ``long``, ``int``, ``boolean``,
  ``string``, ``bytes``, ``double``, ``float``, ``bytes``/``decimal``,
  ``long``/``timestamp-micros`` or ``int``/``date`` (a logical type fastavro does not
  know is written as its base type, as fastavro does);
* columns: integers for ``long``/``int``; ``timestamp`` (any unit that converts to
  microseconds exactly, any time zone: the stored UTC instant is written) or integers
  (microseconds) for ``timestamp-micros``; ``date32``/``date64`` or integers (days) for
  ``date``; ``decimal128`` with the schema's scale for ``decimal``; ``bool``; strings
  for ``string``; binaries for ``bytes``; ``float64``/``float32`` for ``double`` and
  ``float32`` for ``float``.

Like fastavro with a dict, table columns the schema does not name are ignored, and a
schema field without a column takes its default (null for our optional fields); a
field with neither is an error.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import fastavro
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from common.errors import TerminalError

#: First byte of a Confluent wire-format value (before the 4-byte schema id).
CONFLUENT_MAGIC = b"\x00"

_U64 = np.uint64
# A zig-zag value has varint byte j (from 0) when it is at least 2**(7j).
_VARINT_FLOORS = np.array([0] + [1 << (7 * j) for j in range(1, 10)], dtype=_U64)
_VARINT_SHIFTS = np.arange(0, 70, 7, dtype=_U64)
# fastavro writes bit_length(|v|) // 8 + 1 decimal bytes; a 64-bit half of |v| at or above
# 2**(8k-1) has a bit length of at least 8k.
_BYTE_LIMITS = np.array([1 << (8 * k - 1) for k in range(1, 9)], dtype=_U64)
_COLUMNS = np.arange(17)
_EMPTY = pa.scalar(b"", pa.large_binary())
_JOIN = pc.JoinOptions(null_handling="replace", null_replacement="")

_PRIMITIVES = frozenset(("long", "int", "boolean", "string", "bytes", "double", "float"))
_LOGICAL = {
    ("bytes", "decimal"): "decimal",
    ("long", "timestamp-micros"): "timestamp",
    ("int", "date"): "date",
}
# Logical types fastavro converts values for; any other annotation it writes as the base type.
_FASTAVRO_LOGICAL = frozenset(
    ("timestamp-millis", "local-timestamp-millis", "timestamp-micros", "local-timestamp-micros",
     "date", "decimal", "uuid", "time-millis", "time-micros")
)  # fmt: skip


class ArrowAvroError(TerminalError):
    """A schema or table the column-wise encoder cannot write (``row``: the first bad row,
    when one is to blame)."""

    def __init__(self, message: str, *, row: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.row = row


@dataclass(frozen=True)
class _Field:
    name: str
    kind: str  # a primitive name, or "decimal" | "timestamp" | "date"
    null_branch: int | None  # union index of "null"; None when the field is no union
    precision: int = 0
    scale: int = 0
    default: bytes | None = None  # encoding when the table has no such column


class _Fixed(NamedTuple):
    """Bytes of at most ``width`` per row: ``values[i, j]`` is written when ``keep[i, j]``,
    so ``values[keep]`` is every row's bytes, row after row."""

    values: np.ndarray
    keep: np.ndarray


_Part: TypeAlias = "_Fixed | pa.Array | pa.Scalar"


def confluent_header(schema_id: int) -> bytes:
    """Confluent wire framing: magic byte 0 + the registry's schema id (4 bytes, big-endian)."""
    if not 0 <= schema_id < 1 << 32:
        raise ArrowAvroError(f"schema id {schema_id} does not fit 4 bytes")
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")


def frame(header: bytes, bodies: Sequence[bytes]) -> list[bytes]:
    """``header`` + each body (for bodies encoded without a header)."""
    return [header + body for body in bodies]


class TableEncoder:
    """Encodes Arrow tables with one Avro record schema (see the module's docstring)."""

    def __init__(self, schema: dict[str, Any]) -> None:
        if schema.get("type") != "record" or not isinstance(schema.get("fields"), list):
            raise ArrowAvroError(f"not a record schema: {str(schema)[:80]}")
        self.fields = tuple(_compile_field(f) for f in schema["fields"])

    def encode(self, table: pa.Table, header: bytes = b"") -> list[bytes]:
        """``header`` + the Avro body of each row of ``table``, in row order.

        The body of row ``i`` equals what ``fastavro.schemaless_writer`` writes for
        ``table.slice(i, 1).to_pylist()[0]``. Raises :class:`ArrowAvroError` for a
        schema or column this encoder does not handle and for values fastavro would
        refuse (a null in a field that is no union with null, a decimal beyond the
        schema's precision, an integer beyond 64 bits).

        Cost: a fixed part per call (some tens of µs per schema field: numpy and Arrow
        calls on whole columns) plus about a µs per row, so record-by-record fastavro
        is cheaper below a few dozen rows (``python -m bench.bench_avro``).
        """
        n = table.num_rows
        if n == 0:
            return []
        parts: list[_Part] = [pa.scalar(header, pa.large_binary())] if header else []
        for f in self.fields:
            parts += _field_parts(f, _column(table, f.name), n)
        return _join(_merge_fixed(parts), n)


def encode_bodies(schema: dict[str, Any], table: pa.Table, header: bytes = b"") -> list[bytes]:
    """One-off form of :meth:`TableEncoder.encode` (keep a :class:`TableEncoder` per
    schema when encoding many tables)."""
    return TableEncoder(schema).encode(table, header)


# --- the schema -------------------------------------------------------------------------


def _compile_field(field: dict[str, Any]) -> _Field:
    name = field.get("name")
    ftype = field.get("type")
    if not isinstance(name, str):
        raise ArrowAvroError(f"record field without a name: {str(field)[:80]}")
    null_branch = None
    if isinstance(ftype, list):
        others = [t for t in ftype if t != "null"]
        if len(ftype) != 2 or len(others) != 1:
            raise ArrowAvroError(f"field {name}: only unions of null and one type are supported")
        null_branch = ftype.index("null")
        ftype = others[0]
    kind, precision, scale = _kind(name, ftype)
    return _Field(name, kind, null_branch, precision, scale, _default_body(field))


def _kind(name: str, ftype: Any) -> tuple[str, int, int]:
    if isinstance(ftype, str) and ftype in _PRIMITIVES:
        return ftype, 0, 0
    if isinstance(ftype, dict) and ftype.get("type") in _PRIMITIVES:
        logical = ftype.get("logicalType")
        if logical not in _FASTAVRO_LOGICAL:
            return str(ftype["type"]), 0, 0
        kind = _LOGICAL.get((ftype["type"], logical))
        if kind == "decimal":
            return kind, int(ftype["precision"]), int(ftype.get("scale", 0))
        if kind is not None:
            return kind, 0, 0
    raise ArrowAvroError(f"field {name}: type {str(ftype)[:60]} is not supported")


def _default_body(field: dict[str, Any]) -> bytes | None:
    """What fastavro writes for ``field`` when a record lacks its key (None: it refuses)."""
    probe = {"type": "record", "name": "probe", "fields": [field]}
    buf = io.BytesIO()
    try:
        fastavro.schemaless_writer(buf, fastavro.parse_schema(probe), {})
    except Exception:  # fastavro raises several types for a field without a usable default
        return None
    return buf.getvalue()


# --- one column -------------------------------------------------------------------------


def _column(table: pa.Table, name: str) -> pa.Array | None:
    found = table.schema.get_all_field_indices(name)
    if not found:
        return None
    if len(found) > 1:
        raise ArrowAvroError(f"the table has {len(found)} columns named {name}")
    column = table.column(found[0])
    return column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)


def _field_parts(f: _Field, arr: pa.Array | None, n: int) -> list[_Part]:
    if arr is None:
        if f.default is None:
            raise ArrowAvroError(f"field {f.name} has no column and no default")
        return [pa.scalar(f.default, pa.large_binary())]
    valid = _validity(f, arr)
    if not valid.any():  # every row null (the column may even be of Arrow type null)
        return [pa.scalar(bytes([2 * (f.null_branch or 0)]), pa.large_binary())]
    if f.kind in ("string", "bytes"):
        text = _text(f, arr)
        lengths = pc.binary_length(text)
        if arr.null_count:
            lengths = pc.fill_null(lengths, 0)
        head = _varint(_zigzag(lengths.to_numpy()))
        return [*_branch(f, [_masked(head, valid)], valid), text]
    pieces = _VALUE_ENCODERS[f.kind](f, arr, valid)
    if arr.null_count:
        pieces = [_masked(p, valid) for p in pieces]
    return _branch(f, pieces, valid)


def _validity(f: _Field, arr: pa.Array) -> np.ndarray:
    if arr.null_count == 0:
        return np.ones(len(arr), dtype=bool)
    valid = arr.is_valid().to_numpy(zero_copy_only=False)
    if f.null_branch is None:
        row = int(np.argmin(valid))
        raise ArrowAvroError(f"field {f.name} is null but does not allow null", row=row)
    return valid


def _masked(body: _Fixed, valid: np.ndarray) -> _Fixed:
    return _Fixed(body.values, body.keep & valid[:, None])


def _branch(f: _Field, body: list[_Fixed], valid: np.ndarray) -> list[_Part]:
    """Prefix the union branch index (a one-byte varint: 0 or 2)."""
    if f.null_branch is None:
        return list(body)
    index = np.where(valid, 2 * (1 - f.null_branch), 2 * f.null_branch).astype(np.uint8)
    keep = np.ones((len(valid), 1), dtype=bool)
    return [_Fixed(index[:, None], keep), *body]


def _text(f: _Field, arr: pa.Array) -> pa.Array:
    """A string or binary column as ``large_binary`` (the type every joined part has)."""
    t = arr.type
    if f.kind == "string":
        ok = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    else:
        ok = pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t)
    if not ok:
        raise ArrowAvroError(f"field {f.name} is {f.kind} but its column is {t}")
    return arr.cast(pa.large_binary())


# --- value encoders: the Avro bytes of every row's value (nulls masked later) -------------


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64, copy=False)
    return (v.view(_U64) << _U64(1)) ^ (v >> 63).view(_U64)


def _varint(z: np.ndarray) -> _Fixed:
    """Avro varints of the zig-zag values ``z``: 7 bits a byte, low group first, the top
    bit set on every byte but the last."""
    width = max(1, -(-int(z.max()).bit_length() // 7))
    if width == 1:
        return _Fixed(z.astype(np.uint8)[:, None], np.ones((len(z), 1), dtype=bool))
    keep = z[:, None] >= _VARINT_FLOORS[:width]  # byte j exists when z >= 2**(7j)
    groups = (z[:, None] >> _VARINT_SHIFTS[:width]).astype(np.uint8) & np.uint8(0x7F)
    groups[:, :-1] |= keep[:, 1:].view(np.uint8) << np.uint8(7)
    return _Fixed(groups, keep)


def _values(arr: pa.Array, dtype: type[np.generic]) -> np.ndarray:
    """The value buffer of a fixed-width column, without a copy (what a null slot holds
    does not matter: null rows are masked)."""
    size = np.dtype(dtype).itemsize
    return np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr), offset=size * arr.offset)


def _whole_numbers(f: _Field, arr: pa.Array) -> np.ndarray:
    """An integer column's values; an unsigned 64-bit value must fit a long."""
    t = arr.type
    if not pa.types.is_integer(t):
        raise ArrowAvroError(f"field {f.name} is {f.kind} but its column is {t}")
    if t != pa.uint64():
        return _values(arr, t.to_pandas_dtype())
    return _values(_converted(f, arr, pa.int64()), np.int64)


def _converted(f: _Field, arr: pa.Array, target: pa.DataType) -> pa.Array:
    """``arr`` converted exactly to ``target`` (refused when a value would change)."""
    if arr.type == target:
        return arr
    try:
        return pc.cast(arr, target, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise ArrowAvroError(
            f"field {f.name}: {arr.type} does not convert to {target}: {exc}"
        ) from exc


def _long(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    # fastavro writes an int beyond 32 bits as it writes a long, without complaint
    return [_varint(_zigzag(_whole_numbers(f, arr)))]


def _timestamp(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    t = arr.type
    if pa.types.is_timestamp(t):
        micros = _values(_converted(f, arr, pa.timestamp("us", t.tz)), np.int64)
    else:
        micros = _whole_numbers(f, arr)
    return [_varint(_zigzag(micros))]


def _date(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    if pa.types.is_date(arr.type):
        days = _values(_converted(f, arr, pa.date32()), np.int32)
    else:
        days = _whole_numbers(f, arr)
    return [_varint(_zigzag(days))]


def _boolean(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    if not pa.types.is_boolean(arr.type):
        raise ArrowAvroError(f"field {f.name} is boolean but its column is {arr.type}")
    if arr.null_count:
        arr = pc.fill_null(arr, False)
    values = arr.to_numpy(zero_copy_only=False).view(np.uint8)
    return [_Fixed(values[:, None], np.ones((len(values), 1), dtype=bool))]


def _floating(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    t = arr.type
    wide = f.kind == "double"
    if not (pa.types.is_float32(t) or (wide and pa.types.is_float64(t))):
        raise ArrowAvroError(f"field {f.name} is {f.kind} but its column is {t}")
    dtype = np.dtype("<f8" if wide else "<f4")
    values = pc.fill_null(arr, 0.0).to_numpy().astype(dtype)
    raw = values.view(np.uint8).reshape(len(values), dtype.itemsize)
    return [_Fixed(raw, np.ones(raw.shape, dtype=bool))]


def _decimal(f: _Field, arr: pa.Array, valid: np.ndarray) -> list[_Fixed]:
    """Length (a one-byte varint) + the unscaled value as big-endian two's complement.

    fastavro sizes the bytes as ``bit_length(|v|) // 8 + 1``: minimal, except that a
    negative ``-2**(8k-1)`` gets one byte more than it needs; the same is done here.
    """
    t = arr.type
    if not pa.types.is_decimal128(t) or t.scale != f.scale:
        raise ArrowAvroError(f"field {f.name} is decimal(…, {f.scale}) but its column is {t}")
    n = len(arr)
    raw = np.frombuffer(arr.buffers()[1], dtype=np.uint8)[16 * arr.offset : 16 * (arr.offset + n)]
    words = raw.view("<u8").reshape(n, 2)
    lo, hi = words[:, 0], words[:, 1]
    negative = (hi >> _U64(63)).astype(bool)
    mag_lo = np.where(negative, ~lo + _U64(1), lo)
    mag_hi = np.where(negative, ~hi + (lo == 0).astype(_U64), hi)
    _check_precision(f, valid, mag_hi, mag_lo)
    nbytes = np.where(
        mag_hi != 0,
        9 + np.searchsorted(_BYTE_LIMITS, mag_hi, side="right"),
        1 + np.searchsorted(_BYTE_LIMITS, mag_lo, side="right"),
    )
    nbytes[~valid] = 1  # whatever a null slot holds is not written
    width = int(nbytes.max())
    if width > 16:  # only -2**127, which no decimal128 within its precision holds
        row = int(np.argmax(nbytes > 16))
        raise ArrowAvroError(f"field {f.name}: decimal in row {row} is out of range", row=row)
    big_endian = raw.reshape(n, 16)[:, ::-1][:, 16 - width :]
    length = (2 * nbytes).astype(np.uint8)[:, None]
    ones = np.ones((n, 1), dtype=bool)
    return [_Fixed(length, ones), _Fixed(big_endian, _COLUMNS[:width] >= (width - nbytes)[:, None])]


def _check_precision(f: _Field, valid: np.ndarray, mag_hi: np.ndarray, mag_lo: np.ndarray) -> None:
    """fastavro refuses a decimal with more digits than the schema's precision."""
    limit = 10**f.precision
    if limit >= 1 << 128:
        return
    top, bottom = _U64(limit >> 64), _U64(limit & ((1 << 64) - 1))
    over = ((mag_hi > top) | ((mag_hi == top) & (mag_lo >= bottom))) & valid
    if over.any():
        row = int(np.argmax(over))
        raise ArrowAvroError(
            f"field {f.name}: decimal in row {row} has more than {f.precision} digits", row=row
        )


_VALUE_ENCODERS: dict[str, Callable[[_Field, pa.Array, np.ndarray], list[_Fixed]]] = {
    "long": _long,
    "int": _long,
    "timestamp": _timestamp,
    "date": _date,
    "boolean": _boolean,
    "double": _floating,
    "float": _floating,
    "decimal": _decimal,
}


# --- rows -------------------------------------------------------------------------------


def _merge_fixed(parts: list[_Part]) -> list[_Part]:
    """Adjacent fixed-width parts as one Arrow binary column each (fewer parts to join)."""
    merged: list[_Part] = []
    run: list[_Fixed] = []
    for part in [*parts, None]:
        if isinstance(part, _Fixed):
            run.append(part)
            continue
        if run:
            merged.append(_to_binary(run))
            run = []
        if part is not None:
            merged.append(part)
    return merged


def _to_binary(run: list[_Fixed]) -> pa.Array:
    values = np.concatenate([p.values for p in run], axis=1)
    keep = np.concatenate([p.keep for p in run], axis=1)
    data = values[keep]
    offsets = np.zeros(len(keep) + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(keep, axis=1), out=offsets[1:])
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.large_binary(), len(keep), buffers)


def _join(parts: list[_Part], n: int) -> list[bytes]:
    """Each row's parts, concatenated, as one ``bytes`` per row."""
    joined = pc.binary_join_element_wise(*parts, _EMPTY, options=_JOIN)
    if isinstance(joined, pa.Scalar):  # no column at all: every row is the same
        return [joined.as_py()] * n
    rows: list[bytes] = joined.to_pylist()
    return rows
