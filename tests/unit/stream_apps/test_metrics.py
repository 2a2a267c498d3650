"""The worker's metric families as prometheus-client renders them, and the readers'
arithmetic over several workers' texts."""

from __future__ import annotations

import math

import pytest
from prometheus_client.parser import text_string_to_metric_families

from stream_apps import metrics_read
from stream_apps.metrics import AGENT_COUNTERS, LATENCY_BUCKETS, STAGE_BUCKETS, STAGES, Metrics

FAMILY_TYPES = {
    **{f"ecom_stream_{name}": "counter" for name in AGENT_COUNTERS},
    "ecom_stream_dlq": "counter",
    "ecom_stream_last_offset": "gauge",
    "ecom_stream_uptime_seconds": "gauge",
    "ecom_stream_latency_seconds": "histogram",
    "ecom_stream_stage_seconds": "histogram",
}
NOW = 1_800_000_000.0


def _us(seconds_ago: float) -> int:
    return round((NOW - seconds_ago) * 1e6)


def _worker(latencies: list[float], events: int) -> str:
    m = Metrics()
    m.add("changes", "events", events)
    m.add("changes", "batches")
    m.add("bronze", "rows", 7)
    m.dead_letter("decode", "not_json")
    m.offset("bronze", "ecom.public.orders", 2, 40)
    m.offset("bronze", "ecom.public.orders", 2, 12)  # a redelivered batch: stays at 40
    m.event_latencies("source_to_bronze", [_us(x) for x in latencies], now=NOW)
    return m.render().decode()


def test_every_family_has_its_own_help_and_type() -> None:
    text = _worker([0.3, 1.2], events=5)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {n: f.type for n, f in families.items()} == FAMILY_TYPES
    helps = [f.documentation for f in families.values()]
    assert all(helps) and len(set(helps)) == len(helps), helps
    assert text.count("# TYPE ") == len(FAMILY_TYPES) == text.count("# HELP ")


def test_latency_is_a_histogram_with_buckets_from_50ms_to_120s() -> None:
    text = _worker([0.03, 0.3, 1.2, 200.0], events=4)
    (family,) = [
        f for f in text_string_to_metric_families(text) if f.name == "ecom_stream_latency_seconds"
    ]
    buckets = {float(s.labels["le"]): s.value for s in family.samples if s.name.endswith("_bucket")}
    assert list(buckets) == [*LATENCY_BUCKETS, math.inf]
    assert LATENCY_BUCKETS[0] == 0.05 and LATENCY_BUCKETS[-1] == 120
    # cumulative: 0.03 <= 0.05; 0.3 <= 0.5; 1.2 <= 1.5; 200 only in +Inf
    assert (buckets[0.05], buckets[0.5], buckets[1.5], buckets[120.0], buckets[math.inf]) == (
        1, 2, 3, 3, 4,
    )  # fmt: skip
    count = [s.value for s in family.samples if s.name == "ecom_stream_latency_seconds_count"]
    assert count == [4]


def test_stage_durations_are_a_histogram_per_stage() -> None:
    m = Metrics()
    m.stage("process", 0.003)
    m.stage("bronze_write", 0.3)
    m.stage("bronze_write", 12.0)
    (family,) = [
        f for f in text_string_to_metric_families(m.render().decode())
        if f.name == "ecom_stream_stage_seconds"
    ]  # fmt: skip
    buckets = {
        (s.labels["stage"], float(s.labels["le"])): s.value
        for s in family.samples
        if s.name.endswith("_bucket")
    }
    assert [le for st, le in buckets if st == "bronze_write"] == [*STAGE_BUCKETS, math.inf]
    assert buckets[("process", 0.005)] == 1
    assert (buckets[("bronze_write", 0.25)], buckets[("bronze_write", 0.5)]) == (0, 1)
    assert (buckets[("bronze_write", 10.0)], buckets[("bronze_write", 30.0)]) == (1, 2)
    # the HELP text says what each stage measures
    assert all(name in family.documentation for name in STAGES)


def test_a_large_batch_is_sampled() -> None:
    m = Metrics()
    m.event_latencies("source_to_silver", [_us(1.0)] * 10_000, now=NOW)
    text = m.render().decode()
    count = metrics_read.latency_buckets([text], "source_to_silver")[-1][1]
    assert 200 <= count <= 201  # every 50th, plus the newest


def test_readers_add_up_workers() -> None:
    texts = [_worker([0.3] * 99, events=5), _worker([4.0] * 99, events=6)]
    assert metrics_read.counter_total(texts, "events", agent="changes") == 11
    assert metrics_read.counter_total(texts, "rows") == 14
    assert metrics_read.counter_total(texts, "dlq", stage="decode", reason="not_json") == 2
    assert metrics_read.counter_total(texts, "dlq", reason="other") == 0
    assert metrics_read.landed_offsets(texts, "bronze") == {("ecom.public.orders", 2): 40}
    assert metrics_read.landed_offsets(texts, "silver") == {}
    # half the observations are 0.3 s, half 4 s: the median lies in (0.25, 0.5], p99 in (3, 4]
    p50 = metrics_read.latency_quantile(texts, "source_to_bronze", 0.5)
    p99 = metrics_read.latency_quantile(texts, "source_to_bronze", 0.99)
    assert p50 is not None and 0.25 < p50 <= 0.5
    assert p99 is not None and 3.0 < p99 <= 4.0
    assert metrics_read.latency_quantile(texts, "source_to_silver", 0.5) is None


@pytest.mark.parametrize(
    ("q", "expected"),
    [(0.25, 0.5), (0.5, 1.0), (0.75, 1.5), (1.0, 2.0)],
)
def test_histogram_quantile_interpolates_within_the_bucket(q: float, expected: float) -> None:
    buckets = [(1.0, 2.0), (2.0, 4.0), (math.inf, 4.0)]
    assert metrics_read.histogram_quantile(q, buckets) == pytest.approx(expected)


def test_histogram_quantile_edges() -> None:
    assert metrics_read.histogram_quantile(0.5, []) is None
    assert metrics_read.histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    # a rank beyond the last finite bound: the highest finite bound, as Prometheus does
    assert metrics_read.histogram_quantile(0.99, [(1.0, 1.0), (math.inf, 10.0)]) == 1.0
