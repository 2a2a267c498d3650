"""Decode one Debezium change message (JSON converter, schemas disabled).

:func:`decode` turns the raw Kafka key/value of a ``<prefix>.public.<table>`` topic
into a :class:`ChangeEvent`, or raises :class:`DecodeError` whose ``reason`` is one of
:data:`REASONS` (a short stable code, used as the dead-letter reason and metric label).
A tombstone (value ``None``) decodes to ``None``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson

from schemas import PRIMARY_KEYS, SOURCE_TABLES

REASONS: tuple[str, ...] = (
    "not_json",
    "truncated_json",
    "not_an_object",
    "unknown_op",
    "missing_after",
    "missing_before",
    "missing_key",
    "unknown_topic",
    "wrong_type",
    "oversized",
    "missing_source",
    "decimal_out_of_range",
    "timestamp_out_of_range",
)

MAX_MESSAGE_BYTES = 5 * 1024 * 1024

OPS: tuple[str, ...] = ("c", "u", "d", "r", "t")
SNAPSHOT_VALUES: frozenset[str] = frozenset(
    ("true", "first", "last", "first_in_data_collection", "last_in_data_collection")
)

# What can be left of a JSON text after the parser's error position when the text
# was cut short: the start of a literal or of a number's fraction/exponent.
_PARTIAL_NUMBER = re.compile(r"-|\.\d*|(\.\d+)?[eE][+-]?")
_PARTIAL_ESCAPE = re.compile(r"\\u[0-9a-fA-F]{0,4}(\\(u[0-9a-fA-F]{0,3})?)?")


class DecodeError(Exception):
    """A message that cannot become a change event; ``reason`` is in :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Coordinates:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None


@dataclass(frozen=True)
class ChangeEvent:
    table: str
    op: str
    key: dict[str, Any] | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int | None
    commit_lsn: int | None
    tx_id: int | None
    tx_order: int | None
    commit_ts_us: int | None
    snapshot: bool
    coords: Coordinates

    @property
    def row(self) -> dict[str, Any] | None:
        """The row image this event carries: after for c/r/u, before for d, None for t."""
        if self.op in ("c", "r", "u"):
            return self.after
        if self.op == "d":
            return self.before
        return None


def table_of_topic(topic: str, prefix: str) -> str | None:
    """``"<prefix>.public.orders"`` -> ``"orders"`` if a known source table, else None."""
    head = f"{prefix}.public."
    if not topic.startswith(head):
        return None
    table = topic[len(head) :]
    return table if table in SOURCE_TABLES else None


def _is_truncated(text: str, exc: json.JSONDecodeError) -> bool:
    """Whether the parser failed because the text ends early (vs. being malformed)."""
    body = text.rstrip()
    if not body or exc.msg.startswith("Extra data"):
        return False
    if exc.msg.startswith("Unterminated string"):
        return True  # the scanner reached the end of input inside a string
    if exc.msg.startswith("Invalid \\uXXXX escape"):
        return _PARTIAL_ESCAPE.fullmatch(body[exc.pos - 1 :]) is not None
    tail = body[exc.pos :]
    if tail == "":
        return True
    if any(lit.startswith(tail) and lit != tail for lit in ("true", "false", "null")):
        return True
    return _PARTIAL_NUMBER.fullmatch(tail) is not None


def _fast_loads(data: bytes | str) -> Any:
    """orjson for well-formed input (several times faster than :mod:`json`); ``_REFUSED``
    when it cannot be trusted to agree, and the caller uses :mod:`json`, which also
    classifies errors.

    orjson refuses some input :mod:`json` takes (NaN, lone surrogates) and turns integers
    beyond 64 bits into floats. Such an integer has 20 or more digits, or is negative
    with 19 (-9223372036854775809); input with either run of digits anywhere therefore
    goes to :mod:`json`, so results are exactly those of :mod:`json`. (Plain 19-digit
    runs are common: Debezium's ``ts_ns``.)
    """
    shape = (data if isinstance(data, bytes) else data.encode()).translate(_DIGIT_SHAPE)
    if _TWENTY_DIGITS in shape or _MINUS_NINETEEN_DIGITS in shape:
        return _REFUSED
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _REFUSED


# Runs of digits are found by mapping every ASCII digit to "0", "-" to itself and
# everything else to a space, then searching the result: two C loops over the bytes,
# about ten times cheaper than a regular expression (a third of the decoding time).
_DIGIT_SHAPE = bytes(0x30 if 0x30 <= b <= 0x39 else (b if b == 0x2D else 0x20) for b in range(256))
_TWENTY_DIGITS = b"0" * 20
_MINUS_NINETEEN_DIGITS = b"-" + b"0" * 19
_REFUSED: Any = object()


def _load_json(value: bytes) -> Any:
    parsed = _fast_loads(value)
    if parsed is not _REFUSED:
        return parsed
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason != "unexpected end of data" or exc.end != len(value):
            raise DecodeError("not_json", f"invalid UTF-8 at byte {exc.start}") from None
        # the value ends in the middle of a multi-byte character: it was cut short
        text = value[: exc.start].decode("utf-8", errors="replace")
        try:
            json.loads(text)
        except json.JSONDecodeError as inner:
            if _is_truncated(text, inner):
                raise DecodeError("truncated_json", "ends inside a UTF-8 character") from None
        raise DecodeError("not_json", f"invalid UTF-8 at byte {exc.start}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        reason = "truncated_json" if _is_truncated(text, exc) else "not_json"
        raise DecodeError(reason, f"{exc.msg} at {exc.pos} of {len(text)} chars") from None
    except RecursionError:
        raise DecodeError("not_json", "nesting too deep") from None


def _opt_int(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)  # LSNs inside source.sequence are decimal strings
        raise DecodeError("wrong_type", f"{what}: expected an integer, got {value!r:.60}")
    return value


def _commit_lsn(sequence: Any) -> int | None:
    """source.sequence is a JSON string ``["<lastCommitLsn>", "<lsn>"]``; either may be null."""
    if sequence is None:
        return None
    if isinstance(sequence, str):
        fast = _fast_loads(sequence)
        try:
            sequence = json.loads(sequence) if fast is _REFUSED else fast
        except json.JSONDecodeError:
            raise DecodeError(
                "wrong_type", f"source.sequence: not JSON: {sequence!r:.60}"
            ) from None
    if not isinstance(sequence, list):
        raise DecodeError("wrong_type", f"source.sequence: not a list: {sequence!r:.60}")
    return _opt_int(sequence[0], "source.sequence[0]") if sequence else None


def _image(obj: dict[str, Any], name: str) -> dict[str, Any] | None:
    image = obj.get(name)
    if image is not None and not isinstance(image, dict):
        raise DecodeError("wrong_type", f"{name}: expected an object, got {type(image).__name__}")
    return image


def _key(table: str, key: bytes | None) -> dict[str, Any]:
    pk = PRIMARY_KEYS[table]
    if key is None:
        raise DecodeError("missing_key", "no message key")
    try:
        parsed = _fast_loads(key)
        if parsed is _REFUSED:
            parsed = json.loads(key)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise DecodeError("missing_key", f"key is not JSON: {key[:60]!r}") from None
    if not isinstance(parsed, dict) or parsed.get(pk) is None:
        raise DecodeError("missing_key", f"key does not hold {table}.{pk}: {key[:60]!r}")
    if isinstance(parsed[pk], bool) or not isinstance(parsed[pk], int):
        raise DecodeError("wrong_type", f"key.{pk}: expected an integer, got {parsed[pk]!r:.40}")
    return parsed


def _envelope(value: bytes) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The message's JSON object, its op and its source block, each checked."""
    if len(value) > MAX_MESSAGE_BYTES:
        raise DecodeError("oversized", f"{len(value)} bytes > {MAX_MESSAGE_BYTES}")
    obj = _load_json(value)
    if not isinstance(obj, dict):
        raise DecodeError("not_an_object", f"JSON {type(obj).__name__}")
    op = obj.get("op")
    if op not in OPS:
        raise DecodeError("unknown_op", f"op={op!r:.40}")
    source = obj.get("source")
    if not isinstance(source, dict):
        raise DecodeError("missing_source", "no source block")
    return obj, op, source


def _commit_ts_us(source: dict[str, Any]) -> int | None:
    """The source commit time in microseconds (``ts_us``, else ``ts_ms`` x 1000)."""
    ts_us = _opt_int(source.get("ts_us"), "source.ts_us")
    if ts_us is None:
        ts_ms = _opt_int(source.get("ts_ms"), "source.ts_ms")
        ts_us = None if ts_ms is None else ts_ms * 1000
    return ts_us


def decode(
    topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    key: bytes | None,
    value: bytes | None,
    *,
    prefix: str,
) -> ChangeEvent | None:
    """Decode one message of a source-table topic; None for a tombstone."""
    table = table_of_topic(topic, prefix)
    if table is None:
        raise DecodeError(
            "unknown_topic", f"{topic} is not a source table topic of prefix {prefix!r}"
        )
    if value is None:
        return None
    obj, op, source = _envelope(value)
    before = _image(obj, "before")
    after = _image(obj, "after")
    if op in ("c", "r", "u") and after is None:
        raise DecodeError("missing_after", f"op {op} without after image")
    if op == "d" and before is None:
        raise DecodeError("missing_before", "delete without before image")
    parsed_key = None if op == "t" else _key(table, key)

    transaction = obj.get("transaction")
    if transaction is not None and not isinstance(transaction, dict):
        raise DecodeError("wrong_type", "transaction: expected an object")
    ts_us = _commit_ts_us(source)
    snapshot = source.get("snapshot")
    return ChangeEvent(
        table=table,
        op=op,
        key=parsed_key,
        before=before,
        after=after,
        lsn=_opt_int(source.get("lsn"), "source.lsn"),
        commit_lsn=_commit_lsn(source.get("sequence")),
        tx_id=_opt_int(source.get("txId"), "source.txId"),
        tx_order=_opt_int((transaction or {}).get("total_order"), "transaction.total_order"),
        commit_ts_us=ts_us,
        snapshot=snapshot is True or (isinstance(snapshot, str) and snapshot in SNAPSHOT_VALUES),
        coords=Coordinates(topic, partition, offset, timestamp_ms),
    )
