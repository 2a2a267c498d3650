from __future__ import annotations

import random
from datetime import date

import pytest

from schemas.lake import ObjectKey, object_key, parse_key, table_prefix, uncovered_ranges


def test_object_key_layout_and_round_trip() -> None:
    key = object_key("orders", date(2026, 3, 7), 2, 15, 1042)
    assert key == "orders/dt=2026-03-07/p=2/00000000000000000015-00000000000000001042.parquet"
    assert parse_key(key) == ObjectKey("orders", date(2026, 3, 7), 2, 15, 1042)
    assert key.startswith(table_prefix("orders")) and table_prefix("orders") == "orders/"


def test_keys_sort_by_offset() -> None:
    keys = [object_key("t", date(2026, 1, 1), 0, a, a + 5) for a in (9, 100, 10, 99999)]
    assert [parse_key(k).first_offset for k in sorted(keys)] == [9, 10, 100, 99999]


def test_unknown_topic_table_with_segments() -> None:
    key = object_key("_unknown/ecom.public.new-table", date(2026, 1, 2), 0, 3, 4)
    assert key.startswith(table_prefix("_unknown/ecom.public.new-table"))
    assert parse_key(key) == ObjectKey("_unknown/ecom.public.new-table", date(2026, 1, 2), 0, 3, 4)


def test_largest_offset() -> None:
    key = object_key("order_items", date(1970, 1, 1), 0, 0, 10**20 - 1)
    assert parse_key(key).last_offset == 10**20 - 1


@pytest.mark.parametrize(
    "args",
    [
        ("a/../b", date(2026, 1, 1), 0, 0, 1),
        ("/a", date(2026, 1, 1), 0, 0, 1),
        ("a/", date(2026, 1, 1), 0, 0, 1),
        ("a/dt=x", date(2026, 1, 1), 0, 0, 1),
        ("", date(2026, 1, 1), 0, 0, 1),
        ("orders", date(2026, 1, 1), -1, 0, 1),
        ("orders", date(2026, 1, 1), 0, -1, 1),
        ("orders", date(2026, 1, 1), 0, 5, 4),
        ("orders", date(2026, 1, 1), 0, 0, 10**20),
    ],
)
def test_object_key_rejects(args: tuple) -> None:
    with pytest.raises(ValueError):
        object_key(*args)


@pytest.mark.parametrize(
    "key",
    [
        "",
        "orders/",
        "orders/dt=2026-02-30/p=0/00000000000000000000-00000000000000000001.parquet",
        "orders/dt=2026-01-01/p=0/00000000000000000002-00000000000000000001.parquet",
        "orders/dt=2026-01-01/p=01/00000000000000000000-00000000000000000001.parquet",
        "orders/dt=2026-01-01/p=0/0-1.parquet",
        "orders/dt=2026-01-01/p=0/00000000000000000000-00000000000000000001.json",
        "orders/dt=2026-01-01/p=0/00000000000000000000-00000000000000000001.parquet.tmp",
        "/orders/dt=2026-01-01/p=0/00000000000000000000-00000000000000000001.parquet",
        "../orders/dt=2026-01-01/p=0/00000000000000000000-00000000000000000001.parquet",
        "orders/dt=2026-01-01/dt=2026-01-01/p=0/00000000000000000000-00000000000000000001.parquet",
        "orders/dt=2026-1-01/p=0/00000000000000000000-00000000000000000001.parquet",
        "orders/dt=2026-01-01/p=-1/00000000000000000000-00000000000000000001.parquet",
        "_schemas/ecom.silver.orders.v1.avsc",
    ],
)
def test_parse_key_rejects(key: str) -> None:
    with pytest.raises(ValueError):
        parse_key(key)


def test_table_prefix_rejects_bad_names() -> None:
    with pytest.raises(ValueError):
        table_prefix("../x")


@pytest.mark.parametrize(
    ("first", "last", "covered", "expected"),
    [
        (0, 9, [], [(0, 9)]),
        (0, 9, [(0, 9)], []),
        (0, 9, [(-5, 20)], []),
        (0, 9, [(3, 5)], [(0, 2), (6, 9)]),
        (0, 9, [(6, 9), (0, 2)], [(3, 5)]),
        (0, 9, [(2, 4), (3, 6), (7, 7)], [(0, 1), (8, 9)]),
        (0, 9, [(1, 2), (3, 4)], [(0, 0), (5, 9)]),
        (0, 9, [(20, 30), (-10, -1)], [(0, 9)]),
        (5, 5, [(5, 5)], []),
        (5, 5, [(4, 4)], [(5, 5)]),
        (10, 20, [(0, 10), (20, 30)], [(11, 19)]),
        (0, 9, [(5, 3)], [(0, 9)]),
        (9, 0, [], []),
    ],
)
def test_uncovered_ranges(first: int, last: int, covered: list, expected: list) -> None:
    assert uncovered_ranges(first, last, covered) == expected


def test_uncovered_ranges_matches_brute_force() -> None:
    rnd = random.Random(7)
    for _ in range(500):
        first = rnd.randrange(0, 30)
        last = first + rnd.randrange(-2, 30)
        covered = []
        for _ in range(rnd.randrange(0, 6)):
            a = rnd.randrange(-5, 65)
            covered.append((a, a + rnd.randrange(-1, 15)))
        got = uncovered_ranges(first, last, covered)
        offsets = {o for a, b in got for o in range(a, b + 1)}
        expected = {o for o in range(first, last + 1) if not any(a <= o <= b for a, b in covered)}
        assert offsets == expected
        assert got == sorted(got)
        # maximal: gaps neither overlap nor touch
        assert all(got[i][1] + 1 < got[i + 1][0] for i in range(len(got) - 1))


def test_partition_day_prefix_is_the_start_of_that_day_and_partition_keys() -> None:
    from schemas.lake import partition_day_prefix

    d = date(2026, 11, 28)
    prefix = partition_day_prefix("orders", d, 3)
    assert prefix == "orders/dt=2026-11-28/p=3/"
    assert object_key("orders", d, 3, 5, 9).startswith(prefix)
    assert not object_key("orders", d, 30, 5, 9).startswith(prefix)  # p=30 is not p=3
    with pytest.raises(ValueError):
        partition_day_prefix("../x", d, 0)
