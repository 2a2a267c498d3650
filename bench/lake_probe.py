"""Bench-only launcher of one stream worker that times every lake commit it makes.

``python bench/lake_probe.py old|new PROBE.jsonl WORKER-ARGS...`` (run as a script,
with the code to measure first on PYTHONPATH): wraps the lake writer of that code
in-process, then hands WORKER-ARGS to the worker's own Faust command line. Nothing of
the worker changes but the clock around its writes; one JSON line per commit goes to
PROBE.jsonl (wall-clock ``start`` and ``end`` in seconds, ``layer``, ``files``,
``rows``).

What one line is on each side (bench/bench_lake.py reports them side by side):

* ``new`` (Delta tables): one ``DeltaDestination.write`` call, i.e. one Delta commit
  of one table of one layer, from the moment the writer gets the table's buffered
  Arrow rows until the commit's log entry is written (filtering landed offsets,
  Parquet encoding, data file uploads, the log entry, conflict retries);
* ``old`` (loose Parquet objects): one micro-batch landed by one layer's agent
  (``land_bronze`` / ``land_silver``), from the start of its first
  ``LakeWriter.write`` until its last one returns (offset index listing, Parquet
  encoding and the PUT of each object of the batch, one per table, Kafka partition
  and day).

This file imports nothing of the benchmark: the old code's tree is first on the path.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

if sys.path and sys.path[0].endswith("bench"):
    sys.path.pop(0)  # run as a script: the measured code's packages, not bench/'s files


def emitter(path: str) -> Callable[[dict[str, Any]], None]:
    """Appends one JSON line per record to ``path`` (thread-safe, line-buffered)."""
    lock = threading.Lock()
    out = open(path, "a", buffering=1)  # noqa: SIM115 (open for the process's life)

    def emit(record: dict[str, Any]) -> None:
        with lock:
            out.write(json.dumps(record) + "\n")

    return emit


def probe_new(emit: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    from stream_apps import configuration, destinations
    from stream_apps.app import create_app

    original = destinations.DeltaDestination.write

    def write(self: Any, batch: Any) -> Any:
        t0 = time.time()
        result = original(self, batch)
        emit({
            "layer": self.config.layer, "table": batch.table, "start": t0, "end": time.time(),
            "files": result.files, "rows": result.rows,
        })  # fmt: skip
        return result

    destinations.DeltaDestination.write = write  # type: ignore[method-assign]
    return create_app(configuration.load()).main  # type: ignore[no-any-return]


def probe_old(emit: Callable[[dict[str, Any]], None]) -> Callable[[], None]:
    # the old code's modules (not in this tree: looked up at run time)
    pipeline: Any = importlib.import_module("stream_apps.pipeline")
    sink: Any = importlib.import_module("stream_apps.sink")
    local = threading.local()
    original = sink.LakeWriter.write

    def write(self: Any, *args: Any, **kwargs: Any) -> Any:
        t0 = time.time()
        result = original(self, *args, **kwargs)
        spans = getattr(local, "spans", None)
        if spans is not None:
            spans.append((t0, time.time(), len(result.objects), result.rows))
        return result

    def batch(layer: str, land: Callable[..., int]) -> Callable[..., int]:
        def landed(*args: Any, **kwargs: Any) -> int:
            local.spans = []
            try:
                return land(*args, **kwargs)
            finally:
                spans, local.spans = local.spans, None
                if spans:
                    emit({
                        "layer": layer, "start": min(s[0] for s in spans),
                        "end": max(s[1] for s in spans), "files": sum(s[2] for s in spans),
                        "rows": sum(s[3] for s in spans), "writes": len(spans),
                    })  # fmt: skip

        return landed

    sink.LakeWriter.write = write
    pipeline.land_bronze = batch("bronze", pipeline.land_bronze)
    pipeline.land_silver = batch("silver", pipeline.land_silver)
    old_app: Any = importlib.import_module("stream_apps.app")
    return old_app.app.main  # type: ignore[no-any-return]


def main(argv: list[str]) -> None:
    side, path, worker_args = argv[0], argv[1], argv[2:]
    emit = emitter(path)
    run = probe_new(emit) if side == "new" else probe_old(emit)
    sys.argv = ["lake_probe", *worker_args]  # Faust's command line reads sys.argv
    run()


if __name__ == "__main__":
    main(sys.argv[1:])
