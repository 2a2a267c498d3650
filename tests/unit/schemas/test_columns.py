from __future__ import annotations

import re

from schemas import PRIMARY_KEYS, SOURCE_TABLES, read_sql
from schemas.columns import COLUMNS, KINDS, Column, column_names

_TYPES = {"SERIAL": "int", "INTEGER": "int", "TIMESTAMP": "timestamp", "DATE": "date"}


def ddl_columns() -> dict[str, list[tuple[str, str, int | None, int | None, bool]]]:
    """Parse schemas/source.sql independently of schemas.columns."""
    out: dict[str, list[tuple[str, str, int | None, int | None, bool]]] = {}
    for m in re.finditer(
        r"CREATE TABLE IF NOT EXISTS public\.(\w+) \((.*?)\n\);", read_sql("source.sql"), re.S
    ):
        cols: list[tuple[str, str, int | None, int | None, bool]] = []
        for line in m[2].strip().splitlines():
            name, sql_type = line.split()[:2]
            sql_type = sql_type.rstrip(",")
            pk = "PRIMARY KEY" in line
            dec = re.match(r"DECIMAL\((\d+),\s*(\d+)\)", line.split(None, 1)[1])
            if dec:
                cols.append((name, "decimal", int(dec[1]), int(dec[2]), not pk))
            elif sql_type.startswith("VARCHAR"):
                cols.append((name, "str", None, None, not pk))
            else:
                cols.append((name, _TYPES[sql_type], None, None, not pk))
        out[m[1]] = cols
    return out


def test_columns_match_source_ddl() -> None:
    ddl = ddl_columns()
    assert set(ddl) == set(SOURCE_TABLES) == set(COLUMNS)
    for table, cols in COLUMNS.items():
        assert [(c.name, c.kind, c.precision, c.scale, c.nullable) for c in cols] == ddl[table], (
            table
        )


def test_primary_key_first_and_not_nullable() -> None:
    for table, cols in COLUMNS.items():
        assert cols[0] == Column(PRIMARY_KEYS[table], "int", nullable=False)
        assert [c.name for c in cols if not c.nullable] == [PRIMARY_KEYS[table]]
        assert all(c.kind in KINDS for c in cols)
        assert column_names(table) == tuple(c.name for c in cols)


def test_known_decimals() -> None:
    decimals = {
        (t, c.name): (c.precision, c.scale)
        for t, cs in COLUMNS.items()
        for c in cs
        if c.kind == "decimal"
    }
    assert decimals == {
        ("products", "price"): (10, 2),
        ("orders", "total_amount"): (12, 2),
        ("order_items", "unit_price"): (10, 2),
        ("marketing_campaigns", "budget"): (12, 2),
        ("marketing_campaigns", "roi"): (8, 2),
    }
