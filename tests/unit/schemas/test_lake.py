"""The lake layout contract: table URIs and the app ids of the stream's Delta commits."""

from __future__ import annotations

import pytest

from schemas import SOURCE_TABLES
from schemas.lake import (
    BRONZE,
    COORDINATES,
    LAYERS,
    SILVER,
    AppId,
    app_id,
    parse_app_id,
    table_uri,
)


def test_every_source_table_has_a_uri_in_each_bucket() -> None:
    assert [table_uri("bronze", t) for t in SOURCE_TABLES][0] == "s3://bronze/customers"
    assert table_uri("silver", "order_items") == "s3://silver/order_items"


@pytest.mark.parametrize("bad", ["", "Orders", "../x", "a/b", "orders;drop", "x" * 64])
def test_table_names_are_checked(bad: str) -> None:
    with pytest.raises(ValueError):
        table_uri("bronze", bad)


def test_app_id_per_layer_topic_and_partition_round_trips() -> None:
    made = app_id(SILVER, "ecom.public.order_items", 5)
    assert made == "silver/ecom.public.order_items/5"
    assert parse_app_id(made) == AppId(SILVER, "ecom.public.order_items", 5)
    # the two layers of one partition never share an id
    assert app_id(BRONZE, "t", 0) != app_id(SILVER, "t", 0)


@pytest.mark.parametrize(
    ("layer", "topic", "partition"),
    [("gold", "t", 0), ("bronze", "a/b", 0), ("bronze", "t", -1), ("bronze", "", 0)],
)
def test_bad_app_id_parts_are_refused(layer: str, topic: str, partition: int) -> None:
    with pytest.raises(ValueError):
        app_id(layer, topic, partition)


@pytest.mark.parametrize("text", ["bronze/t", "gold/t/0", "bronze/t/x", "bronze/t/0/1"])
def test_parse_refuses_what_app_id_never_makes(text: str) -> None:
    with pytest.raises(ValueError):
        parse_app_id(text)


def test_each_layer_names_its_kafka_coordinates() -> None:
    assert set(COORDINATES) == set(LAYERS)
    assert COORDINATES[BRONZE].offset == "offset"
    assert COORDINATES[SILVER].partition == "bronze_partition"
