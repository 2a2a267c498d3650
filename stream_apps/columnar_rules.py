"""The data contract's silver rules over Arrow columns (pure, no I/O).

The column-wise twin of :mod:`stream_apps.rules`: :func:`typed` types a row image's
columns (exact decimals, UTC microsecond timestamps, dates), :func:`normalise` applies
the contract's normalisation and :func:`quarantine` its quarantine rules. Results equal
the record-by-record functions value for value; where a value would be a dead letter
there (``wrong_type``, ``decimal_out_of_range``, ``timestamp_out_of_range``) or a
vectorised step could differ, :class:`~stream_apps.columnar_decode.Unsupported` is
raised and the caller processes the batch record by record.

Text case: Arrow's Unicode case mapping is not Python's (``"ß".upper()`` is ``"SS"``,
``"İ".lower()`` two code points), so only ASCII values are mapped in Arrow; the few
others go through ``str.lower``/``str.upper``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pyarrow as pa
import pyarrow.compute as pc

from common.pii import EmailPolicy
from schemas.columns import COLUMNS, Column
from stream_apps.columnar_decode import Unsupported
from stream_apps.formats import _MAX_US, _MIN_US, silver_schema
from stream_apps.rules import EPOCH_DATE, ORDER_STATUSES, TRANSACTION_TYPES

_TS = pa.timestamp("us", tz="UTC")
_MIN_DAYS = (date.min - EPOCH_DATE).days
_MAX_DAYS = (date.max - EPOCH_DATE).days
# The decimal strings Debezium writes; other forms :mod:`decimal` takes (exponents, a
# plus sign, a bare point, Unicode digits) go record by record.
_DECIMAL = r"^-?[0-9]+(\.[0-9]+)?$"
_NULL_TEXT = pa.scalar(None, pa.string())


def _in_range(values: pa.Array, low: int, high: int) -> bool:
    if values.null_count == len(values):
        return True
    lo, hi = pc.min_max(values).values()
    return bool(low <= lo.as_py() and hi.as_py() <= high)


def _decimal(values: pa.Array, col: Column) -> pa.Array:
    text = values.drop_null()
    if len(text) and not pc.all(pc.match_substring_regex(text, _DECIMAL)).as_py():
        raise Unsupported("decimal_form")
    try:
        # Arrow refuses a value that needs rounding or exceeds the precision.
        return values.cast(pa.decimal128(col.precision or 38, col.scale or 0))
    except pa.ArrowInvalid:
        raise Unsupported("decimal_out_of_range") from None


def typed(table: str, row: dict[str, pa.Array]) -> dict[str, pa.Array]:
    """The silver value of each column of the row image (``rules.convert``)."""
    types = silver_schema(table)
    out: dict[str, pa.Array] = {}
    for col in COLUMNS[table]:
        values = row[col.name]
        if col.kind == "decimal":
            values = _decimal(values, col)
        elif col.kind == "timestamp":
            if not _in_range(values, _MIN_US, _MAX_US):
                raise Unsupported("timestamp_out_of_range")
            values = values.cast(_TS)
        elif col.kind == "date":
            if not _in_range(values, _MIN_DAYS, _MAX_DAYS):
                raise Unsupported("timestamp_out_of_range")
            values = values.cast(pa.int32()).cast(pa.date32())
        elif col.kind not in ("int", "str"):
            raise ValueError(f"unknown column kind {col.kind!r} of {table}.{col.name}")
        out[col.name] = values.cast(types.field(col.name).type)
    return out


def trim(values: pa.Array) -> pa.Array:
    """PostgreSQL ``trim()``: leading and trailing spaces (U+0020) removed."""
    return pc.utf8_trim(values, " ")


def _recase(
    values: pa.Array, ascii_fn: Callable[..., pa.Array], py: Callable[[str], str]
) -> pa.Array:
    mapped = ascii_fn(values)
    other = pc.invert(pc.string_is_ascii(values)).fill_null(False)
    if not pc.any(other).as_py():
        return mapped
    replacements = [py(s) for s in pc.filter(values, other).to_pylist()]
    return pc.replace_with_mask(mapped, other, pa.array(replacements, pa.string()))


def lower(values: pa.Array) -> pa.Array:
    return _recase(values, pc.ascii_lower, str.lower)


def upper(values: pa.Array) -> pa.Array:
    return _recase(values, pc.ascii_upper, str.upper)


def _email(values: pa.Array, policy: EmailPolicy) -> pa.Array:
    emails = lower(trim(values))
    if policy.mode == "keep":
        return emails
    return pa.array([policy.apply(e) for e in emails.to_pylist()], pa.string())


def normalise(table: str, cols: dict[str, pa.Array], policy: EmailPolicy) -> None:
    """The contract's normalisation, in place (``rules.normalise``)."""
    if table == "customers":
        cols["email"] = _email(cols["email"], policy)
        cols["first_name"] = trim(cols["first_name"])
        cols["last_name"] = trim(cols["last_name"])
    elif table == "products":
        cols["sku"] = upper(trim(cols["sku"]))
        cols["category"] = trim(cols["category"])
    elif table == "orders":
        cols["order_status"] = trim(cols["order_status"])
    elif table == "inventory_transactions":
        cols["transaction_type"] = trim(cols["transaction_type"])
    elif table == "marketing_campaigns":
        cols["channel"] = trim(cols["channel"])


def _when(mask: pa.Array, reason: str, otherwise: pa.Array | None = None) -> pa.Array:
    rest = otherwise if otherwise is not None else pa.nulls(len(mask), pa.string())
    return pc.if_else(mask.fill_null(False), pa.scalar(reason), rest)


def _not_one_of(values: pa.Array, allowed: frozenset[str]) -> pa.Array:
    # a NULL is "not one of" the allowed values
    return pc.invert(pc.is_in(values, pa.array(sorted(allowed))).fill_null(False))


def _reasons(table: str, cols: dict[str, pa.Array]) -> pa.Array | None:
    if table == "order_items":
        zero = pa.scalar(0, pa.int64())
        price = _when(pc.less(cols["unit_price"], 0), "order_items.unit_price<0")
        return _when(pc.less_equal(cols["quantity"], zero), "order_items.quantity<=0", price)
    if table == "orders":
        return _when(
            _not_one_of(cols["order_status"], ORDER_STATUSES), "orders.order_status invalid"
        )
    if table == "inventory_transactions":
        bad = _not_one_of(cols["transaction_type"], TRANSACTION_TYPES)
        return _when(bad, "inventory_transactions.transaction_type invalid")
    if table == "marketing_campaigns":
        return _when(pc.less(cols["budget"], 0), "marketing_campaigns.budget<0")
    return None


def quarantine(table: str, op: pa.Array, cols: dict[str, pa.Array]) -> pa.Array | None:
    """Per row, the quarantine rule a normalised c/r/u version breaks (null when none);
    None when no row breaks one (``rules.quarantine_reason``)."""
    reasons = _reasons(table, cols)
    if reasons is None or reasons.null_count == len(reasons):
        return None
    versions = pc.is_in(op, pa.array(["c", "r", "u"]))
    reasons = pc.if_else(versions, reasons, _NULL_TEXT)
    return None if reasons.null_count == len(reasons) else reasons
