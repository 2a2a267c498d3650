"""Contracts shared by every stage: the source DDL, the Avro schemas, the lake layout."""

from __future__ import annotations

from importlib import resources

#: The six source tables of the data contract, in dependency (FK) order.
SOURCE_TABLES: tuple[str, ...] = (
    "customers",
    "products",
    "marketing_campaigns",
    "orders",
    "order_items",
    "inventory_transactions",
)

#: Primary key column of each source table.
PRIMARY_KEYS: dict[str, str] = {
    "customers": "customer_id",
    "products": "product_id",
    "marketing_campaigns": "campaign_id",
    "orders": "order_id",
    "order_items": "order_item_id",
    "inventory_transactions": "transaction_id",
}

#: Schema holding the CDC plumbing tables (heartbeat, Debezium signals).
CDC_SCHEMA = "cdc"
HEARTBEAT_TABLE = f"{CDC_SCHEMA}.debezium_heartbeat"
SIGNAL_TABLE = f"{CDC_SCHEMA}.debezium_signal"


def read_sql(name: str) -> str:
    """The text of a SQL file shipped in this package (e.g. ``source.sql``)."""
    return resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
