"""The micro-benchmark's batches (shaped like our connector's messages, Debezium 3.6
source blocks included) go column-wise whole, with the record-by-record results."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from bench import bench_columnar
from stream_apps.pipeline import Msg
from tests.unit.stream_apps.test_columnar_equivalence import assert_same, both


@pytest.mark.parametrize("make", [bench_columnar.snapshot_batch, bench_columnar.live_batch])
def test_bench_batches_go_column_wise(make: Callable[[random.Random, int], list[Msg]]) -> None:
    msgs = make(random.Random(3), 400)
    results = both(msgs)
    assert results is not None
    expected, got, _, _ = results
    assert_same(expected, got)
    assert got.columnar == len(msgs) and not got.fallbacks
    assert len(got.tables) > 1
