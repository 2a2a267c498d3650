"""The benchmark suite: which parts run, in which order, and the dated results.

Parts (each runs as its own process, so one part's memory never inflates another's):

* ``generator``: bench_generator.py (seed at --generator-scale with its row-by-row
  loader baseline; live rate, throttled and unthrottled);
* ``stream@S``: bench_stream.py --scale S (snapshot through the stream into Kafka,
  bronze and silver with the bare confluent-kafka consumer as baseline; steady state
  latency and lag; worker memory). It resets the bench stack first;
* ``gold_stream@S``: bench_gold.py --input stream, on the change-log ``stream@S`` just
  left (runs only right after a successful ``stream@S`` of the same run), then
  ``--gold-traffic-seconds`` (default 600) of live traffic at 1,000 changes/s through
  the stream and the incremental build that applies it;
* ``stream_drain@S``: bench_drain.py --scale S: Debezium fills the CDC topics while no
  worker runs, then the bare pipeline (bench/drain_baseline.py) and the stream workers
  each land the whole backlog; rates, their ratio, worker CPU per event and RSS. It
  resets the bench stack, so it runs after ``gold_stream@S``;
* ``max_rate@S``: bench_maxrate.py --scale S: live traffic ramped in 60 s steps on a
  fresh scale-S stack with two workers; the highest rate whose consumer lag stays
  bounded;
* ``gold@S``: bench_gold.py --input export --scale S: seed, the bench-only silver
  export (bench/silver_export.py), the full build twice and the incremental build with
  no new changes, verify, and the pandas baselines (to_sql, and COPY);
* ``gold_spark@S``: bench_gold_spark.py --scale S: the same seed and export, then the
  Spark engine's full build (``--engine spark --master local[2]``) beside a DuckDB
  full build of the same lake, both gold contents compared, verify. No target.
* ``lake@S``: bench_lake.py --scale S: the lake before Delta (the code of commit
  3804737, checked out at run time into a temporary git worktree) beside the current
  Delta lake, on the same CDC topics of one snapshot: data files per 100k rows, commit
  latency per micro-batch, gold rebuild time and steady-state latency of each. It
  resets the bench stack first.

``--scales`` (default 0.1,1,10) gives the S of the scaled parts: together they are the
cost curve (snapshot and rebuild time against scale). ``--only`` / ``--skip`` take a
comma-separated list of ``PART`` or ``PART@S``. A part that did not run is recorded as
"not measured" with the reason; nothing is ever estimated in its place.

Results: ``bench/results/<YYYY-MM-DD>.json`` (UTC date) and the same as a markdown table
in ``bench/results/<YYYY-MM-DD>.md``. A second run on the same day replaces the parts it
measured and keeps the others' earlier figures of that day (each with its own time).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import report

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PARTS = (
    "generator", "stream", "gold_stream", "stream_drain", "max_rate", "gold", "gold_spark", "lake",
)
SCALED = ("stream", "gold_stream", "stream_drain", "max_rate", "gold", "gold_spark", "lake")
DEFAULT_SCALES = (0.1, 1.0, 10.0)


@dataclass(frozen=True)
class Item:
    part: str
    scale: float | None

    @property
    def name(self) -> str:
        return self.part if self.scale is None else f"{self.part}@{self.scale:g}"


def parse_selectors(text: str | None) -> list[tuple[str, float | None]]:
    """``"gold,stream@10"`` -> [("gold", None), ("stream", 10.0)]; ValueError if unknown."""
    out: list[tuple[str, float | None]] = []
    for raw in (text or "").split(","):
        token = raw.strip()
        if not token:
            continue
        part, _, scale = token.partition("@")
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r} (have {', '.join(PARTS)})")
        if scale and part not in SCALED:
            raise ValueError(f"part {part!r} has no scale")
        try:
            out.append((part, float(scale) if scale else None))
        except ValueError:
            raise ValueError(f"bad scale in {token!r}") from None
    return out


def parse_scales(text: str) -> tuple[float, ...]:
    try:
        scales = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"--scales {text!r}: comma-separated numbers expected") from None
    if not scales or any(s <= 0 for s in scales):
        raise ValueError(f"--scales {text!r}: positive numbers expected")
    return scales


def _matches(item: Item, selectors: list[tuple[str, float | None]]) -> bool:
    return any(p == item.part and (s is None or s == item.scale) for p, s in selectors)


def plan(
    scales: tuple[float, ...],
    only: list[tuple[str, float | None]],
    skip: list[tuple[str, float | None]],
) -> list[tuple[Item, str | None]]:
    """Every item in run order, each with None (run it) or why it is not run."""
    items = [Item("generator", None)]
    for s in scales:
        items += [Item(p, s) for p in ("stream", "gold_stream", "stream_drain", "max_rate")]
    items += [Item("gold", s) for s in scales]
    items += [Item("gold_spark", s) for s in scales]
    items += [Item("lake", s) for s in scales]
    out: list[tuple[Item, str | None]] = []
    for item in items:
        if only and not _matches(item, only):
            out.append((item, "not selected (--only)"))
        elif _matches(item, skip):
            out.append((item, "skipped (--skip)"))
        else:
            out.append((item, None))
    return out


def command(item: Item, out: Path, args: Any) -> list[str]:
    py = [sys.executable, "-m"]
    if item.part == "generator":
        return [*py, "bench.bench_generator", "--yes", "--scale", str(args.generator_scale),
                "--live-seconds", str(args.live_seconds), "--out", str(out)]  # fmt: skip
    if item.part == "stream":
        return [*py, "bench.bench_stream", "--scale", str(item.scale),
                "--live-seconds", str(args.live_seconds)]  # fmt: skip
    if item.part == "gold_stream":
        traffic = getattr(args, "gold_traffic_seconds", 0)
        return [*py, "bench.bench_gold", "--input", "stream", "--out", str(out),
                "--traffic-seconds", str(int(traffic)), "--traffic-rate", "1000"]  # fmt: skip
    if item.part == "lake":
        return [*py, "bench.bench_lake", "--scale", str(item.scale),
                "--live-seconds", str(args.live_seconds), "--out", str(out)]  # fmt: skip
    if item.part in ("stream_drain", "max_rate"):
        module = "bench.bench_drain" if item.part == "stream_drain" else "bench.bench_maxrate"
        return [*py, module, "--scale", str(item.scale), "--out", str(out)]
    if item.part == "gold_spark":
        return [*py, "bench.bench_gold_spark", "--scale", str(item.scale), "--out", str(out)]
    return [*py, "bench.bench_gold", "--input", "export", "--scale", str(item.scale),
            "--out", str(out)]  # fmt: skip


def run(args: Any, env: dict[str, str]) -> int:
    """Run the planned parts with ``env`` (the bench stack's); write the dated results."""
    only, skip = parse_selectors(args.only), parse_selectors(args.skip)
    scales = parse_scales(args.scales)
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    day = started[:10]
    parts: dict[str, dict[str, Any]] = {}
    stream_ok: set[float] = set()
    failed = 0
    with tempfile.TemporaryDirectory(prefix="ecom-bench-") as tmp:
        for item, why in plan(scales, only, skip):
            if why is None and item.part == "gold_stream" and item.scale not in stream_ok:
                why = f"needs stream@{item.scale:g} to have run in the same suite run"
            if why is not None:
                parts[item.name] = {"status": "not measured", "reason": why}
                continue
            if item.part == "generator":  # its seed must not be streamed by a left connector
                subprocess.call([sys.executable, "-m", "bench.stackprep"], cwd=REPO, env=env)
            out = Path(tmp) / f"{item.name}.json"
            stream_json = RESULTS / "stream.json"
            t0 = time.time()
            print(f"== {item.name}", flush=True)
            rc = subprocess.call(command(item, out, args), cwd=REPO, env=env)
            if item.part == "stream":
                out = stream_json  # bench_stream writes its own file
            fresh = out.exists() and out.stat().st_mtime >= t0
            if rc == 0 and fresh:
                parts[item.name] = {"status": "measured", "result": json.loads(out.read_text())}
                if item.part == "stream":
                    stream_ok.add(item.scale or 0.0)
            else:
                failed += 1
                parts[item.name] = {
                    "status": "failed",
                    "reason": f"exit {rc}" + ("" if fresh else ", no result written"),
                }
    finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    run_info = {
        "started_utc": started,
        "finished_utc": finished,
        "argv": sys.argv[1:],
        "scales": list(scales),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
    }
    doc = merge(RESULTS / f"{day}.json", day, run_info, parts)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{day}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (RESULTS / f"{day}.md").write_text(report.markdown(doc))
    print(report.markdown(doc))
    print(f"results: bench/results/{day}.json, bench/results/{day}.md", flush=True)
    return 1 if failed else 0


def merge(
    path: Path, day: str, run_info: dict[str, Any], parts: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    """The day's document: this run's parts over the earlier measured ones of that day."""
    doc: dict[str, Any] = {"date": day, "runs": [], "parts": {}}
    if path.exists():
        try:
            old = json.loads(path.read_text())
            if old.get("date") == day:
                doc = old
        except (OSError, ValueError):
            pass
    run_no = len(doc["runs"])
    doc["runs"].append(run_info)
    for name, entry in parts.items():
        earlier = doc["parts"].get(name)
        if entry["status"] != "measured" and earlier and earlier.get("status") == "measured":
            continue  # keep the day's earlier figure; it says which run measured it
        doc["parts"][name] = {**entry, "run": run_no}
    doc["parts"] = dict(sorted(doc["parts"].items(), key=lambda kv: _order(kv[0])))
    return doc


def _order(name: str) -> tuple[int, float]:
    part, _, scale = name.partition("@")
    return (PARTS.index(part) if part in PARTS else 9, float(scale) if scale else 0.0)
