"""Schema ids for unit tests: the schema registry is I/O, so a processor's ``AvroRegistry``
gets its ids from :class:`Ids` here (the real registry is used by the integration tests)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from common.schema_registry import SchemaIncompatible, subject_of_topic
from schemas.avro import AvroRegistry, build_schema

Refuse = Callable[[str, dict[str, Any]], bool]


def never(table: str, schema: dict[str, Any]) -> bool:
    return False


class Ids:
    """Gives each distinct (table, schema) the next id, like a registry does: ``table``
    (table, schema text) -> id may be shared by several ``Ids``, as one registry is by
    several workers. ``refuse(table, schema)`` makes it refuse a schema as a subject's
    BACKWARD rule would. ``calls`` lists every (table, schema text) asked for."""

    def __init__(
        self, table: dict[tuple[str, str], int] | None = None, refuse: Refuse = never
    ) -> None:
        self.table = {} if table is None else table
        self.refuse = refuse
        self.calls: list[tuple[str, str]] = []

    def __call__(self, table: str, schema: dict[str, Any]) -> int:
        text = json.dumps(schema, sort_keys=True)
        self.calls.append((table, text))
        if self.refuse(table, schema):
            raise SchemaIncompatible(
                subject_of_topic(f"silver.{table}"), "BACKWARD", "refused by the test"
            )
        return self.table.setdefault((table, text), len(self.table) + 1)


def registry(ids: Ids | None = None) -> AvroRegistry:
    """The package's schemas, ids from ``ids`` (a fresh :class:`Ids` by default)."""
    return AvroRegistry.from_package(ids if ids is not None else Ids())


def evolved(table: str, schema: dict[str, Any]) -> bool:
    """A refusal rule: every schema with a field version 1 of the table does not have."""
    return len(schema["fields"]) > len(build_schema(table)["fields"])
