"""Typed column list of every source table, in DDL order (``schemas/source.sql``).

``kind`` is one of ``int``, ``str``, ``decimal``, ``timestamp``, ``date``; decimals
carry their precision and scale. Only the primary key is declared not nullable (the
DDL's ``NOT NULL`` on ``customers.email`` is a source constraint, but delete and
truncate records may lack values, so silver treats every other column as nullable).
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS: tuple[str, ...] = ("int", "str", "decimal", "timestamp", "date")


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "int" | "str" | "decimal" | "timestamp" | "date"
    precision: int | None = None
    scale: int | None = None
    nullable: bool = True


def _pk(name: str) -> Column:
    return Column(name, "int", nullable=False)


def _int(name: str) -> Column:
    return Column(name, "int")


def _str(name: str) -> Column:
    return Column(name, "str")


def _dec(name: str, precision: int, scale: int) -> Column:
    return Column(name, "decimal", precision, scale)


def _ts(name: str) -> Column:
    return Column(name, "timestamp")


def _date(name: str) -> Column:
    return Column(name, "date")


COLUMNS: dict[str, tuple[Column, ...]] = {
    "customers": (
        _pk("customer_id"),
        _str("email"),
        _str("first_name"),
        _str("last_name"),
        _str("customer_segment"),
        _str("loyalty_tier"),
        _ts("registration_date"),
        _ts("updated_at"),
    ),
    "products": (
        _pk("product_id"),
        _str("product_name"),
        _str("sku"),
        _str("category"),
        _dec("price", 10, 2),
        _int("stock_quantity"),
        _ts("updated_at"),
    ),
    "marketing_campaigns": (
        _pk("campaign_id"),
        _str("campaign_name"),
        _str("channel"),
        _dec("budget", 12, 2),
        _dec("roi", 8, 2),
        _date("start_date"),
        _date("end_date"),
    ),
    "orders": (
        _pk("order_id"),
        _int("customer_id"),
        _ts("order_date"),
        _str("order_status"),
        _dec("total_amount", 12, 2),
        _int("campaign_id"),
        _ts("updated_at"),
    ),
    "order_items": (
        _pk("order_item_id"),
        _int("order_id"),
        _int("product_id"),
        _int("quantity"),
        _dec("unit_price", 10, 2),
    ),
    "inventory_transactions": (
        _pk("transaction_id"),
        _int("product_id"),
        _str("transaction_type"),
        _int("quantity"),
        _ts("transaction_date"),
    ),
}


def column_names(table: str) -> tuple[str, ...]:
    """The column names of ``table`` in DDL order."""
    return tuple(c.name for c in COLUMNS[table])
