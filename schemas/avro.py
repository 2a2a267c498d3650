"""Silver Avro schemas and their encoding in the Confluent wire format.

Each silver record is the magic byte ``00``, the writer schema's id in the schema
registry (4 bytes, big-endian) and the schemaless Avro body: what any Kafka client's
Avro deserializer reads, given the registry's URL. An :class:`AvroRegistry` holds the
schemas (the ``schemas/avro/<table>.v<N>.avsc`` files plus versions made at run time by
:meth:`AvroRegistry.evolve`), keyed by the CRC-64-AVRO fingerprint of their parsing
canonical form; a schema's registry id is asked once, from the :data:`SchemaIds`
function the registry was built with, and kept.

Record name ``ecom.silver.<table>``; a top-level ``"version"`` property numbers the
versions of one table here (the schema registry numbers a subject's versions itself,
so the property is left out of what it is given). Datetimes: ``timestamp-micros``
fields take timezone-aware UTC datetimes (naive ones are read as UTC wall clock), and
:meth:`AvroRegistry.decode` returns aware UTC datetimes exact to the microsecond.
Decimals are ``decimal.Decimal`` with the column's scale.
"""

from __future__ import annotations

import copy
import io
import json
import re
from collections.abc import Callable
from importlib import resources
from typing import Any

import fastavro
import pyarrow as pa
from fastavro.schema import fingerprint as _fingerprint
from fastavro.schema import to_parsing_canonical_form

from common.errors import TerminalError
from common.schema_registry import SchemaIncompatible
from schemas.avro_arrow import CONFLUENT_MAGIC, ArrowAvroError, TableEncoder, confluent_header
from schemas.columns import COLUMNS, Column

#: How a writer schema gets its registry id: ``(table, schema as the registry is given
#: it) -> id``. Called once per schema; may raise (the caller's errors pass through).
SchemaIds = Callable[[str, dict[str, Any]], int]
NAMESPACE = "ecom.silver"
EVOLVABLE_TYPES: frozenset[str] = frozenset(("long", "double", "string", "boolean"))
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

_TIMESTAMP = {"type": "long", "logicalType": "timestamp-micros"}


class AvroError(TerminalError):
    """Silver Avro data or schema that cannot be used."""


class UnknownSchema(AvroError):
    """A fingerprint (or table) that is not registered."""


def _column_type(col: Column) -> Any:
    if col.kind == "int":
        return "long"
    if col.kind == "str":
        return "string"
    if col.kind == "decimal":
        return {
            "type": "bytes",
            "logicalType": "decimal",
            "precision": col.precision,
            "scale": col.scale,
        }
    if col.kind == "timestamp":
        return dict(_TIMESTAMP)
    if col.kind == "date":
        return {"type": "int", "logicalType": "date"}
    raise ValueError(f"unknown column kind {col.kind!r}")


def _optional(name: str, avro_type: Any) -> dict[str, Any]:
    return {"name": name, "type": ["null", avro_type], "default": None}


def build_schema(table: str) -> dict[str, Any]:
    """Version 1 of ``table``'s silver schema, derived from ``schemas.columns``."""
    fields: list[dict[str, Any]] = [
        {"name": "op", "type": "string"},
        {"name": "is_delete", "type": "boolean"},
        _optional("source_lsn", "long"),
        _optional("commit_lsn", "long"),
        _optional("tx_id", "long"),
        _optional("tx_order", "long"),
        _optional("commit_ts", dict(_TIMESTAMP)),
        {"name": "snapshot", "type": "boolean"},
        {"name": "bronze_topic", "type": "string"},
        {"name": "bronze_partition", "type": "int"},
        {"name": "bronze_offset", "type": "long"},
    ]
    fields += [_optional(c.name, _column_type(c)) for c in COLUMNS[table]]
    return {"type": "record", "name": f"{NAMESPACE}.{table}", "version": 1, "fields": fields}


def table_of_schema(schema: dict[str, Any]) -> str:
    name = schema.get("name")
    if schema.get("type") != "record" or not isinstance(name, str):
        raise AvroError(f"not a record schema: {str(schema)[:80]}")
    if not name.startswith(f"{NAMESPACE}."):
        raise AvroError(f"schema {name} is not in namespace {NAMESPACE}")
    return name[len(NAMESPACE) + 1 :]


def published(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as the schema registry is given it: without our ``version`` property."""
    return {k: v for k, v in schema.items() if k != "version"}


class AvroRegistry:
    """Silver schemas by fingerprint and by (table, version), and their registry ids.

    ``schema_ids`` gives a schema its id in the schema registry (:data:`SchemaIds`);
    without it, encoding raises :class:`AvroError`. A schema the registry refuses
    (``SchemaIncompatible`` from ``schema_ids``) stops being the table's default writer
    and the base of its next versions, until the registry gives it an id after all.
    """

    def __init__(self, schema_ids: SchemaIds | None = None) -> None:
        self._schemas: dict[bytes, dict[str, Any]] = {}
        self._parsed: dict[bytes, Any] = {}
        self._names: dict[bytes, tuple[str, int]] = {}  # fingerprint -> (table, version)
        self._versions: dict[tuple[str, int], bytes] = {}
        self._latest: dict[str, tuple[int, bytes]] = {}  # table -> (version, fingerprint)
        self._table_encoders: dict[bytes, TableEncoder] = {}
        self._schema_ids = schema_ids
        self._headers: dict[bytes, bytes] = {}  # fingerprint -> its Confluent header
        self._by_id: dict[int, bytes] = {}  # registry id -> fingerprint
        self._refused: set[bytes] = set()  # fingerprints the schema registry refused

    @classmethod
    def from_package(cls, schema_ids: SchemaIds | None = None) -> AvroRegistry:
        """A registry holding every ``schemas/avro/*.avsc`` file."""
        registry = cls(schema_ids)
        folder = resources.files("schemas").joinpath("avro")
        for entry in sorted(folder.iterdir(), key=lambda e: e.name):
            if entry.name.endswith(".avsc"):
                registry.register(json.loads(entry.read_text(encoding="utf-8")))
        return registry

    def register(self, schema: dict[str, Any]) -> bytes:
        """Register ``schema`` (idempotent) and return its 8-byte fingerprint."""
        table = table_of_schema(schema)
        version = schema.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise AvroError(f"schema of {table} has no valid integer 'version': {version!r}")
        parsed, fp = _parse(table, version, schema)
        if fp in self._names and self._names[fp] != (table, version):
            raise AvroError(
                f"schema {table} v{version} has the fingerprint of {self._names[fp][0]} v{self._names[fp][1]}"
            )
        other = self._versions.get((table, version))
        if other is not None and other != fp:
            raise AvroError(
                f"conflicting schemas for {table} v{version} ({other.hex()} vs {fp.hex()})",
                hint="two writers evolved the same version differently",
            )
        if fp not in self._schemas:
            self._schemas[fp] = copy.deepcopy(schema)
            self._parsed[fp] = parsed
            self._names[fp] = (table, version)
            self._versions[(table, version)] = fp
            if version > self._latest.get(table, (0, b""))[0]:
                self._latest[table] = (version, fp)
        return fp

    def latest(self, table: str) -> tuple[bytes, dict[str, Any]]:
        """Fingerprint and schema of ``table``'s highest version the schema registry has
        not refused (its highest version when the registry refused every one)."""
        fp = self._latest_fingerprint(table)
        return fp, copy.deepcopy(self._schemas[fp])

    def _latest_fingerprint(self, table: str) -> bytes:
        try:
            top = self._latest[table][1]
        except KeyError:
            raise UnknownSchema(f"no silver schema registered for table {table!r}") from None
        if top not in self._refused:
            return top
        usable = [(v, fp) for (t, v), fp in self._versions.items()
                  if t == table and fp not in self._refused]  # fmt: skip
        return max(usable)[1] if usable else top

    def schema(self, fingerprint: bytes) -> dict[str, Any]:
        if fingerprint not in self._schemas:
            raise UnknownSchema(f"unknown schema fingerprint {fingerprint.hex()}")
        return copy.deepcopy(self._schemas[fingerprint])

    def parsed(self, fingerprint: bytes) -> Any:
        """The fastavro-parsed schema of ``fingerprint`` (for schema resolution)."""
        if fingerprint not in self._parsed:
            raise UnknownSchema(f"unknown schema fingerprint {fingerprint.hex()}")
        return self._parsed[fingerprint]

    def schema_id(self, table: str, fingerprint: bytes | None = None) -> int:
        """The registry id of a schema of ``table`` (its latest by default)."""
        header = self._header(self._writer(table, fingerprint))
        return int.from_bytes(header[1:], "big")

    def _header(self, fingerprint: bytes) -> bytes:
        """The Confluent header of a registered fingerprint; its id is asked on first use."""
        header = self._headers.get(fingerprint)
        if header is None:
            table, version = self._names[fingerprint]
            if self._schema_ids is None:
                raise AvroError(
                    f"no schema registry to give {table} v{version} an id",
                    hint="build the AvroRegistry with a schema id lookup",
                )
            try:
                schema_id = self._schema_ids(table, published(self._schemas[fingerprint]))
            except SchemaIncompatible:
                self._refused.add(fingerprint)
                raise
            self._refused.discard(fingerprint)
            header = confluent_header(schema_id)
            self._headers[fingerprint] = header
            self._by_id[schema_id] = fingerprint
        return header

    def encode(self, table: str, record: dict[str, Any], fingerprint: bytes | None = None) -> bytes:
        """``record`` in the Confluent wire format (latest schema of ``table`` by default)."""
        fingerprint = self._writer(table, fingerprint)
        buf = io.BytesIO()
        buf.write(self._header(fingerprint))
        try:
            fastavro.schemaless_writer(buf, self._parsed[fingerprint], record)
        except Exception as exc:  # ValueError/TypeError/OverflowError from fastavro
            offset = record.get("bronze_offset")
            raise AvroError(
                f"cannot encode {table} record (bronze offset {offset}): {exc}"
            ) from exc
        return buf.getvalue()

    def encode_table(
        self, table: str, rows: pa.Table, fingerprint: bytes | None = None
    ) -> list[bytes]:
        """Every row of ``rows`` in the Confluent wire format, column-wise, in row order.

        The contract: the result equals, byte for byte,
        ``[self.encode(table, r, fingerprint) for r in rows.to_pylist()]``. ``rows`` has
        the silver layout of ``stream_apps.formats.silver_schema`` (any column order);
        columns the schema does not name (``commit_date``, a column added at the source
        but not yet in this schema version) are ignored, and optional fields without a
        column are written as null. ``fingerprint`` picks the writer schema (the latest
        version of ``table`` by default). Supported column types are listed in
        :mod:`schemas.avro_arrow`.

        Raises :class:`AvroError` where :meth:`encode` would refuse a row (a null in a
        required field, a decimal beyond its precision) and for a column type the
        column-wise encoder does not take; a caller may then encode the rows one by one
        with :meth:`encode`, which names the offending record. Each call has a fixed
        cost (see :meth:`schemas.avro_arrow.TableEncoder.encode`), so it pays from a few
        dozen rows on.
        """
        fingerprint = self._writer(table, fingerprint)
        header = self._header(fingerprint)
        encoder = self._table_encoders.get(fingerprint)
        try:
            if encoder is None:
                encoder = TableEncoder(self._schemas[fingerprint])
                self._table_encoders[fingerprint] = encoder
            return encoder.encode(rows, header=header)
        except ArrowAvroError as exc:
            where = ""
            if exc.row is not None and "bronze_offset" in rows.column_names:
                where = f" (bronze offset {rows.column('bronze_offset')[exc.row].as_py()})"
            raise AvroError(f"cannot encode {table} rows{where}: {exc.message}") from exc

    def _writer(self, table: str, fingerprint: bytes | None) -> bytes:
        """The writer schema's fingerprint: ``fingerprint`` if it is one of ``table``'s."""
        if fingerprint is None:
            return self._latest_fingerprint(table)
        if self._names.get(fingerprint, (None,))[0] != table:
            raise UnknownSchema(f"fingerprint {fingerprint.hex()} is not a schema of {table}")
        return fingerprint

    def decode(self, data: bytes) -> tuple[str, int, dict[str, Any]]:
        """``(table, version, record)`` of a record in the Confluent wire format whose
        schema id this registry gave out (readers elsewhere ask the schema registry)."""
        if len(data) < 5 or data[:1] != CONFLUENT_MAGIC:
            raise AvroError(f"not the Confluent wire format (first byte {data[:1].hex()})")
        schema_id = int.from_bytes(data[1:5], "big")
        fp = self._by_id.get(schema_id)
        if fp is None:
            raise UnknownSchema(f"schema id {schema_id} was not given out by this registry")
        body = io.BytesIO(data[5:])
        try:
            record = fastavro.schemaless_reader(body, self._parsed[fp], None)
        except Exception as exc:  # EOFError, UnicodeDecodeError, ... on corrupt data
            raise AvroError(f"corrupt Avro body for schema id {schema_id}: {exc!r}") from exc
        if body.tell() != len(data) - 5:
            raise AvroError(f"{len(data) - 5 - body.tell()} trailing bytes after the Avro body")
        if not isinstance(record, dict):
            raise AvroError("Avro body is not a record")
        table, version = self._names[fp]
        return table, version, record

    def evolve(self, table: str, new_fields: dict[str, str]) -> bytes:
        """Register :meth:`latest` + ``new_fields`` (optional, default null, sorted by
        name) as the table's next version, unless that schema is registered already."""
        fp, latest = self.latest(table)
        existing = {f["name"] for f in latest["fields"]}
        added = []
        for name in sorted(new_fields):
            avro_type = new_fields[name]
            if not _NAME_RE.fullmatch(name):
                raise AvroError(f"cannot add column {name!r} to {table}: not an Avro name")
            if avro_type not in EVOLVABLE_TYPES:
                raise AvroError(
                    f"cannot add column {table}.{name} as {avro_type!r}",
                    hint=f"one of {', '.join(sorted(EVOLVABLE_TYPES))}",
                )
            if name not in existing:
                added.append(_optional(name, avro_type))
        if not added:
            return fp
        latest["fields"] += added
        known = _parse(table, 1, latest)[1]  # a fingerprint ignores the version property
        if known in self._names:
            return known  # made before from a schema since refused
        latest["version"] = self._latest[table][0] + 1
        return self.register(latest)


def _parse(table: str, version: int, schema: dict[str, Any]) -> tuple[Any, bytes]:
    """fastavro's parsed ``schema`` and the fingerprint of its parsing canonical form."""
    try:
        parsed = fastavro.parse_schema(copy.deepcopy(schema))
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise AvroError(f"invalid Avro schema for {table} v{version}: {exc}") from exc
    return parsed, bytes.fromhex(_fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO"))
