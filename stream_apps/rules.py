"""Silver cleaning rules (data contract, section 2): typing, normalisation, quarantine.

:func:`to_silver` turns one :class:`~stream_apps.envelope.ChangeEvent` into a
:class:`SilverRecord` ready for ``AvroRegistry.encode(table, record)`` or, when a
quarantine rule matches, a :class:`Quarantined` (the caller dead-letters it and counts
it; a quarantined version still ends the previous version of its key). Values that
cannot be typed raise :class:`~stream_apps.envelope.DecodeError` (``wrong_type``,
``decimal_out_of_range``, ``timestamp_out_of_range``).

Value conventions of a silver record:

* int -> ``int``; str -> ``str``; decimal -> ``decimal.Decimal`` quantized to the
  column's scale (parsed from Debezium's string, never through float);
* timestamp -> **timezone-aware UTC** ``datetime`` exact to the microsecond (the
  source holds UTC wall-clock time); ``commit_ts`` likewise; date -> ``datetime.date``.
  ``AvroRegistry.decode`` returns the same aware UTC datetimes.
* "trimmed" means PostgreSQL's ``trim()``: leading/trailing spaces (U+0020) removed.
* a NULL numeric never matches a ``<= 0``/``< 0`` rule (SQL semantics); a NULL (or
  missing) status/type/channel is "not one of" the allowed values, so an order or an
  inventory transaction without one is quarantined.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from typing import Any

from common.pii import EmailPolicy
from schemas import PRIMARY_KEYS
from schemas.columns import COLUMNS, Column
from stream_apps.envelope import ChangeEvent, Coordinates, DecodeError

ORDER_STATUSES = frozenset(("Pending", "Processing", "Shipped", "Delivered", "Cancelled"))
TRANSACTION_TYPES = frozenset(("IN", "OUT", "ADJUSTMENT"))

#: The envelope fields every silver record starts with (Avro field order).
ENVELOPE_FIELDS: tuple[str, ...] = (
    "op",
    "is_delete",
    "source_lsn",
    "commit_lsn",
    "tx_id",
    "tx_order",
    "commit_ts",
    "snapshot",
    "bronze_topic",
    "bronze_partition",
    "bronze_offset",
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DATE = date(1970, 1, 1)
_INT64 = (-(2**63), 2**63 - 1)
_DECIMAL_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class SilverRecord:
    table: str
    key: int | None
    record: dict[str, Any]
    extra_columns: dict[str, Any]


@dataclass(frozen=True)
class Quarantined:
    table: str
    key: int | None
    reason: str
    record: dict[str, Any]


def micros_to_datetime(value: int, what: str) -> datetime:
    """Aware UTC datetime of ``value`` microseconds since the epoch (exact)."""
    try:
        return EPOCH + timedelta(microseconds=value)
    except OverflowError:
        raise DecodeError("timestamp_out_of_range", f"{what}: {value} us") from None


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DecodeError("wrong_type", f"{what}: expected an integer, got {value!r:.60}")
    if not _INT64[0] <= value <= _INT64[1]:
        raise DecodeError("wrong_type", f"{what}: {value} outside the 64-bit range")
    return value


_QUANTA: dict[tuple[int, int], tuple[Decimal, Context]] = {}


def _quantum(precision: int, scale: int) -> tuple[Decimal, Context]:
    """The quantum (10**-scale) and the context of a (precision, scale), built once."""
    found = _QUANTA.get((precision, scale))
    if found is None:
        found = _QUANTA[(precision, scale)] = (Decimal(1).scaleb(-scale), Context(prec=precision))
    return found


def _decimal(value: Any, col: Column, what: str) -> Decimal:
    if not isinstance(value, str) or not _DECIMAL_RE.fullmatch(value):
        raise DecodeError("wrong_type", f"{what}: expected a decimal string, got {value!r:.60}")
    precision, scale = col.precision or 38, col.scale or 0
    number = Decimal(value)
    if number and number.adjusted() >= precision - scale:
        raise DecodeError("decimal_out_of_range", f"{what}: {value} exceeds ({precision},{scale})")
    quantum, context = _quantum(precision, scale)
    try:
        quantized = number.quantize(quantum, context=context)
    except InvalidOperation:
        raise DecodeError(
            "decimal_out_of_range", f"{what}: {value} exceeds ({precision},{scale})"
        ) from None
    if quantized != number:
        raise DecodeError("decimal_out_of_range", f"{what}: {value} has more than {scale} decimals")
    return quantized if quantized else abs(quantized)  # no negative zero


def convert(table: str, col: Column, value: Any) -> Any:
    """The silver value of one source column value (see the module docstring)."""
    if value is None:
        return None
    kind = col.kind
    # the common cases first, without building the error label
    if kind == "int" and type(value) is int and _INT64[0] <= value <= _INT64[1]:
        return value
    if kind == "str" and type(value) is str:
        return value
    return _convert_checked(f"{table}.{col.name}", col, value)


def _convert_checked(what: str, col: Column, value: Any) -> Any:
    """:func:`convert` of a value that is not already of its column's plain type."""
    kind = col.kind
    if kind == "int":
        return _int(value, what)
    if kind == "str":
        if not isinstance(value, str):
            raise DecodeError("wrong_type", f"{what}: expected a string, got {value!r:.60}")
        return value
    if kind == "decimal":
        return _decimal(value, col, what)
    if kind == "timestamp":
        return micros_to_datetime(_int(value, what), what)
    if kind == "date":
        days = _int(value, what)
        try:
            return EPOCH_DATE + timedelta(days=days)
        except OverflowError:
            raise DecodeError("timestamp_out_of_range", f"{what}: {days} days") from None
    raise ValueError(f"unknown column kind {col.kind!r} of {what}")


def trim(value: str | None) -> str | None:
    """PostgreSQL ``trim()``: strip leading and trailing spaces."""
    return None if value is None else value.strip(" ")


_email_policy: EmailPolicy | None = None


def set_email_policy(policy: EmailPolicy | None) -> None:
    """Use ``policy`` for customer emails from now on (None: read ECOM_PII_* again)."""
    global _email_policy
    _email_policy = policy


def email_policy() -> EmailPolicy:
    """The customer-email policy (ECOM_PII_EMAIL), read from the settings on first use."""
    global _email_policy
    if _email_policy is None:
        from stream_apps.configuration import email_policy as configured

        _email_policy = configured()
    return _email_policy


def normalise(table: str, row: dict[str, Any]) -> None:
    """Apply the contract's normalisation to a typed row, in place (then the email
    policy: ``keep`` by default, else hashed or masked, see :mod:`common.pii`)."""
    if table == "customers":
        email = trim(row.get("email"))
        row["email"] = email_policy().apply(None if email is None else email.lower())
        row["first_name"] = trim(row.get("first_name"))
        row["last_name"] = trim(row.get("last_name"))
    elif table == "products":
        sku = trim(row.get("sku"))
        row["sku"] = None if sku is None else sku.upper()
        row["category"] = trim(row.get("category"))
    elif table == "orders":
        row["order_status"] = trim(row.get("order_status"))
    elif table == "inventory_transactions":
        row["transaction_type"] = trim(row.get("transaction_type"))
    elif table == "marketing_campaigns":
        row["channel"] = trim(row.get("channel"))


def quarantine_reason(table: str, row: dict[str, Any]) -> str | None:
    """The quarantine rule a normalised row version breaks, or None."""
    if table == "order_items":
        quantity, unit_price = row.get("quantity"), row.get("unit_price")
        if quantity is not None and quantity <= 0:
            return "order_items.quantity<=0"
        if unit_price is not None and unit_price < 0:
            return "order_items.unit_price<0"
    elif table == "orders":
        if row.get("order_status") not in ORDER_STATUSES:
            return "orders.order_status invalid"
    elif table == "inventory_transactions":
        if row.get("transaction_type") not in TRANSACTION_TYPES:
            return "inventory_transactions.transaction_type invalid"
    elif table == "marketing_campaigns":
        budget = row.get("budget")
        if budget is not None and budget < 0:
            return "marketing_campaigns.budget<0"
    return None


def to_silver(event: ChangeEvent) -> SilverRecord | Quarantined:
    """Type, normalise and check one change event (see the module docstring)."""
    table = event.table
    columns = COLUMNS[table]
    row = event.row or {}
    known = {c.name for c in columns}
    values = {c.name: convert(table, c, row.get(c.name)) for c in columns}
    extra = {k: v for k, v in row.items() if k not in known}
    pk = PRIMARY_KEYS[table]
    if event.op != "t" and values[pk] is None and event.key is not None:
        values[pk] = _int(event.key.get(pk), f"key.{pk}")
    normalise(table, values)
    commit_ts = None
    if event.commit_ts_us is not None:
        commit_ts = micros_to_datetime(event.commit_ts_us, "source.ts_us")
    record: dict[str, Any] = {
        "op": event.op,
        "is_delete": event.op in ("d", "t"),
        "source_lsn": event.lsn,
        "commit_lsn": event.commit_lsn,
        "tx_id": event.tx_id,
        "tx_order": event.tx_order,
        "commit_ts": commit_ts,
        "snapshot": event.snapshot,
        "bronze_topic": event.coords.topic,
        "bronze_partition": event.coords.partition,
        "bronze_offset": event.coords.offset,
        **values,
    }
    key = None if event.op == "t" else values[pk]
    if event.op in ("c", "r", "u"):
        reason = quarantine_reason(table, values)
        if reason is not None:
            return Quarantined(table, key, reason, record)
    return SilverRecord(table, key, record, extra)


#: op of the silver marker that stands for a quarantined version (see quarantine_marker).
QUARANTINED_OP = "q"


def quarantine_marker(q: Quarantined) -> dict[str, Any]:
    """The silver record that ends the key's previous version when a version is quarantined.

    The contract: a quarantined version does not enter silver, yet it ends the previous
    version of its key (an order updated to an invalid status leaves silver's current
    state until a valid version arrives). So silver gets this marker: op ``q``, a
    delete flag, the key and the envelope fields; every other column is null. The full
    row, with its reason, goes to the dead-letter topic.
    """
    pk = PRIMARY_KEYS[q.table]
    envelope_fields = (
        "source_lsn", "commit_lsn", "tx_id", "tx_order", "commit_ts", "snapshot",
        "bronze_topic", "bronze_partition", "bronze_offset",
    )  # fmt: skip
    marker: dict[str, Any] = {c.name: None for c in COLUMNS[q.table]}
    marker.update({name: q.record.get(name) for name in envelope_fields})
    marker.update(op=QUARANTINED_OP, is_delete=True)
    marker[pk] = q.key
    return marker


def dlq_record(
    stage: str,
    reason: str,
    coords: Coordinates,
    key: bytes | None,
    value: bytes | None,
    table: str | None,
    detail: str = "",
    *,
    at: datetime | None = None,
) -> bytes:
    """The dead-letter message (UTF-8 JSON) for a message that cannot enter its stage,
    dead-lettered at ``at`` (now by default)."""

    def b64(data: bytes | None) -> str | None:
        return None if data is None else base64.b64encode(data).decode("ascii")

    doc = {
        "stage": stage,
        "reason": reason,
        "detail": detail,
        "table": table,
        "topic": coords.topic,
        "partition": coords.partition,
        "offset": coords.offset,
        "timestamp_ms": coords.timestamp_ms,
        "key_b64": b64(key),
        "value_b64": b64(value),
        "dead_lettered_at": (at or datetime.now(UTC)).isoformat(),
    }
    return json.dumps(doc, separators=(",", ":")).encode("utf-8")
