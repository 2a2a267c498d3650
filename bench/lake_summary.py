"""Pure figures of the lake benchmark (bench/bench_lake.py): quantiles of commit
latencies, data files per 100k rows, the old workers' latency summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

PARQUET = ".parquet"
DELTA_LOG = "_delta_log/"


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of ``values``, linear between the two closest ranks (numpy's
    default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def commit_latency(records: Iterable[dict[str, Any]], since: float, until: float) -> dict[str, Any]:
    """p50/p99 of ``end - start`` over the probe records that wrote rows and ended within
    [since, until], per layer and over both layers."""
    by_layer: dict[str, list[float]] = {}
    for r in records:
        if r.get("rows", 0) > 0 and since <= r["end"] <= until:
            by_layer.setdefault(r["layer"], []).append(r["end"] - r["start"])
    every = [v for vs in by_layer.values() for v in vs]
    out: dict[str, Any] = {"all": _latency_figures(every)}
    for layer in sorted(by_layer):
        out[layer] = _latency_figures(by_layer[layer])
    return out


def _latency_figures(values: Sequence[float]) -> dict[str, Any]:
    return {
        "commits": len(values),
        "p50_s": _rounded(quantile(values, 0.5)),
        "p99_s": _rounded(quantile(values, 0.99)),
        "max_s": _rounded(max(values)) if values else None,
    }


def is_data_file(key: str) -> bool:
    """A lake data file: a Parquet object outside a Delta log (whose checkpoints are
    Parquet too)."""
    return key.endswith(PARQUET) and DELTA_LOG not in key and not key.startswith(DELTA_LOG)


def files_per_table(keys: Iterable[str]) -> dict[str, int]:
    """Data files per table; a key's table is its first path segment on both lakes
    (``<table>/dt=.../p=.../a-b.parquet`` and ``<table>/commit_date=.../part-....parquet``)."""
    out: dict[str, int] = {}
    for key in keys:
        if is_data_file(key):
            table = key.split("/", 1)[0]
            out[table] = out.get(table, 0) + 1
    return dict(sorted(out.items()))


def file_counts(layers: Mapping[str, Iterable[str]], rows: int) -> dict[str, Any]:
    """Data files per layer (and per table) and per 100k rows of the snapshot."""
    per_100k = rows / 100_000
    out: dict[str, Any] = {"rows": rows}
    total = 0
    for layer, keys in layers.items():
        tables = files_per_table(keys)
        n = sum(tables.values())
        total += n
        out[layer] = {
            "files": n,
            "files_per_100k_rows": round(n / per_100k, 1) if rows else None,
            "max_files_of_a_table": max(tables.values()) if tables else 0,
            "per_table": tables,
        }
    out["total"] = {
        "files": total,
        "files_per_100k_rows": round(total / per_100k, 1) if rows else None,
    }
    return out


def worst_summary_quantile(samples: Iterable[tuple[dict[str, str], float]], path: str,
                           q: str) -> float | None:  # fmt: skip
    """The highest ``q`` quantile of ``path`` over the old workers' latency summaries
    (each worker's quantile of its own recent sample; summaries cannot be pooled).
    ``samples`` are (labels, value) of ``ecom_stream_latency_seconds``."""
    found = [
        value for labels, value in samples
        if labels.get("path") == path and labels.get("quantile") == q
    ]  # fmt: skip
    return max(found) if found else None
