"""bench_stream's completion check over the workers' /metrics texts (no stack needed)."""

from __future__ import annotations

from bench.bench_stream import complete
from stream_apps.metrics import Metrics

ORDERS = "ecom.public.orders"


def _worker(*landed: tuple[str, str, int, int]) -> str:
    m = Metrics()
    for agent, topic, partition, offset in landed:
        m.offset(agent, topic, partition, offset)
    return m.render().decode()


def test_complete_takes_the_highest_offset_any_worker_landed() -> None:
    w0 = _worker(("bronze", ORDERS, 0, 99), ("bronze", ORDERS, 1, 40))
    w1 = _worker(("bronze", ORDERS, 1, 49), ("silver_sink", "silver.orders", 0, 7))
    ends = {(ORDERS, 0): 100, (ORDERS, 1): 50}
    assert not complete([w0], "bronze", ends)  # partition 1 at 40 of 49
    assert complete([w0, w1], "bronze", ends)
    assert complete([w0], "bronze", {(ORDERS, 2): 0})  # empty partitions need nothing
    assert not complete([w0, w1], "silver_sink", {("silver.orders", 0): 9})
    assert complete([w0, w1], "silver_sink", {("silver.orders", 0): 8})
