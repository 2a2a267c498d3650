"""The Avro micro-benchmark runs end to end on a small batch (figures are not checked:
timings belong to bench/, not to tests)."""

from __future__ import annotations

import pytest

from bench.bench_avro import SHAPES, measure


@pytest.mark.parametrize("table", sorted(SHAPES))
def test_measure_checks_identity_and_reports_every_path(table: str) -> None:
    result = measure(table, 20, 1)
    assert result["table"] == table and result["rows"] == 20
    assert result["bytes_per_record"] > 30
    for path in ("fastavro", "fastavro_body", "arrow", "arrow_body", "frame"):
        assert set(result[path]) == {"wall", "cpu"}
        assert result[path]["wall"] > 0
