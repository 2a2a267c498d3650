"""Reading the workers' /metrics text (see :mod:`stream_apps.metrics`) with
prometheus-client's own parser: counters summed over workers, the highest offset
landed per partition, and latency quantiles from the workers' summed histograms."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from stream_apps.metrics import NAMESPACE


def samples(texts: Iterable[str], name: str) -> Iterator[Sample]:
    """Every sample called ``name`` in the workers' texts."""
    for text in texts:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name:
                    yield sample


def counter_total(texts: Iterable[str], name: str, **labels: str) -> float:
    """``ecom_stream_<name>_total`` summed over the workers and the samples whose labels
    include ``labels`` (0 when no worker has it yet)."""
    return sum(
        s.value
        for s in samples(texts, f"{NAMESPACE}_{name}_total")
        if all(s.labels.get(k) == v for k, v in labels.items())
    )


def landed_offsets(texts: Iterable[str], agent: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the highest offset ``agent`` landed, over all workers."""
    out: dict[tuple[str, int], int] = {}
    for s in samples(texts, f"{NAMESPACE}_last_offset"):
        if s.labels.get("agent") == agent:
            key = (s.labels["topic"], int(s.labels["partition"]))
            out[key] = max(int(s.value), out.get(key, -1))
    return out


def latency_buckets(texts: Iterable[str], path: str) -> list[tuple[float, float]]:
    """The latency histogram of ``path`` summed over workers: (upper bound, cumulative
    count) in ascending order, ending with +Inf."""
    summed: dict[float, float] = defaultdict(float)
    for s in samples(texts, f"{NAMESPACE}_latency_seconds_bucket"):
        if s.labels.get("path") == path:
            summed[float(s.labels["le"])] += s.value
    return sorted(summed.items())


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """The ``q`` quantile estimated from cumulative buckets, as Prometheus's
    ``histogram_quantile`` does: linear within the bucket that holds the rank; a rank in
    the +Inf bucket gives the highest finite bound. None without observations."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > below:
            if math.isinf(bound):
                return lower
            return lower + (bound - lower) * max(0.0, rank - below) / (count - below)
        lower, below = bound, count
    return lower


def latency_quantile(texts: Iterable[str], path: str, q: float) -> float | None:
    """The ``q`` quantile of ``path``'s latency over every worker's observations."""
    return histogram_quantile(q, latency_buckets(texts, path))
