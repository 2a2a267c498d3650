"""Benchmark of the gold builds, on the bench stack.

Measures, in one run and on the same data:

1. ``ecom gold rebuild --full`` in a subprocess, twice (the first build on the lake,
   then the same build again), then ``ecom gold rebuild`` (incremental) with no new
   changes; each with its wall time and peak memory (bench/measure.py: the process's
   exact peak RSS, which includes DuckDB since it runs in-process, and the sampled RSS of
   its process tree). The PostgreSQL server, which receives the COPY, is in no figure;
2. ``ecom gold verify`` afterwards: it must exit 0;
3. two baselines, each in its own measured subprocess (bench/pandas_baseline.py: whole
   tables into pandas, aggregate): written with ``to_sql`` (the old batch pipeline's
   way) and with COPY FROM STDIN (pandas at its fastest), and the ratios;
4. with ``--input stream --traffic-seconds N``: N seconds of live traffic at
   ``--traffic-rate`` changes/s through the stream (one worker), caught up, then the
   incremental build that applies it.

Where the silver change-log comes from (``--input``):

* ``stream`` (default): whatever the stream benchmark (``python -m bench stream``) left
  on the bench stack: the source it seeded and the change-log the stream wrote, bronze
  included;
* ``export``: seeds the source at ``--scale`` (``ecom generate seed``, Debezium capture
  removed first so the seed is not streamed), then writes the silver change-log of that
  snapshot straight into the lake's silver Delta tables with the BENCH-ONLY
  bench/silver_export.py (what the stream writes after an initial snapshot; bronze
  stays empty). This is how scale 10 (23.6M rows) is measured: through the stream it would
  take hours on this machine.

Usage: python -m bench gold                          (stream input, via the bench stack)
       python -m bench.bench_gold --input export --scale 10 [--out PATH]
       python -m bench.bench_gold --input stream --traffic-seconds 600 --traffic-rate 1000
Results: --out (default bench/results/gold.json, or gold-export-<scale>.json for
--input export) and a summary on stdout. Exit 2 if the stream input is empty.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.measure import Measured, ecom, log, run_measured  # noqa: E402
from bench.pandas_baseline import HOW, NOT_EXACT, SCRATCH_SCHEMA  # noqa: E402
from bench.stackprep import quiesce_capture  # noqa: E402

RESULTS = REPO / "bench" / "results"
#: Full build targets by scale: the tiny lake's first build, scale 1 and 10 (peak RSS and
#: the speed-up over pandas with COPY, the faster of the two baselines, too).
TARGETS: dict[float, dict[str, float]] = {
    0.05: {"rebuild_s": 3},
    1.0: {"rebuild_s": 10, "ratio_over_pandas_copy": 2},
    10.0: {"rebuild_s": 60, "peak_rss_mb": 4096, "ratio_over_pandas_copy": 2},
}
#: An incremental build after 10 minutes of live traffic at 1,000 changes/s.
INCREMENTAL_TARGET_S = 5.0
ANCHOR_DATE = "2026-11-01"  # the seed's anchor date for --input export
SEED = 11


def ecom_measured(*args: str) -> Measured:
    return run_measured(["-m", "ecom.cli", *args], f"ecom {args[0]} {args[1]}")


# ---------------------------------------------------------------- the data
def source_rows(dsn: str) -> dict[str, int]:
    import psycopg2

    from schemas import SOURCE_TABLES

    conn = psycopg2.connect(dsn, connect_timeout=10)
    try:
        out = {}
        with conn.cursor() as cur:
            for table in SOURCE_TABLES:
                cur.execute(f"SELECT count(*) FROM public.{table}")
                row = cur.fetchone()
                out[table] = int(row[0]) if row else 0
        return out
    finally:
        conn.close()


def lake_files(settings: Any, layer: str) -> dict[str, dict[str, int]]:
    """Data files, bytes and rows of each Delta table of one lake layer."""
    from compaction.lake import Lake

    lake = Lake(settings)
    out = {}
    for ref in lake.refs():
        if ref.layer == layer:
            info = lake.info(ref)
            out[ref.table] = {"files": info.files, "bytes": info.bytes, "rows": info.rows}
    return out


def prepare_export(scale: float, rows_per_file: int) -> dict[str, Any]:
    """Seed the bench stack's source at ``scale`` and export its silver change-log."""
    from common.settings import load

    settings = load()
    prep: dict[str, Any] = {"quiesce": quiesce_capture(settings)}
    log(f"capture quiesced: {', '.join(prep['quiesce']) or 'nothing was running'}")
    ecom("stack", "down", "connect", "kafka")  # not needed by the rebuild: their memory back
    ecom("db", "init")
    log(f"seeding scale {scale}")
    seed = run_measured(
        ["-m", "ecom.cli", "generate", "seed", "--scale", str(scale), "--truncate",
         "--seed", str(SEED), "--anchor-date", ANCHOR_DATE],
        "seed", echo=False,
    )  # fmt: skip
    if seed.returncode != 0:
        raise SystemExit("ecom generate seed failed:\n" + "\n".join(seed.lines[-10:]))
    prep["seed"] = {**seed.summary(), "scale": scale, "seed": SEED, "anchor_date": ANCHOR_DATE}
    log(f"  seeded in {seed.wall_s:.1f}s; exporting the silver change-log (bench-only path)")
    exp = run_measured(
        ["-m", "bench.silver_export", "--yes", "--rows-per-file", str(rows_per_file)],
        "export",
    )
    if exp.returncode != 0:
        raise SystemExit("bench.silver_export failed")
    prep["silver_export"] = {
        **exp.summary(),
        "rows_per_file": rows_per_file,
        "how": "bench/silver_export.py: COPY of each source table in one REPEATABLE READ "
        "transaction, silver rules in SQL, appended to the silver Delta tables with the "
        "stream's app transactions; bronze left empty",
    }
    return prep


# ---------------------------------------------------------------- rebuild output parsing
_STATE_RE = re.compile(r"current state (\w+): ([\d,]+) rows from ([\d,]+) changes")
_HIST_RE = re.compile(r"customer history: ([\d,]+) versions")
_ELAPSED_RE = re.compile(r"^\[\s*([\d.]+)s\] (.*)$")
_STEP_MARKS = {"start": "gold rebuild #", "gold": "gold: computing", "loaded": "load:",
               "kept": "state: kept", "swap": "swap:", "incremental": "incremental build from",
               "merged": "state: changed keys", "recomputed": "gold: recomputed"}  # fmt: skip
#: The first gold table's row count, printed once every gold table is computed.
_COMPUTED_RE = re.compile(r"^\s+\w+: [\d,]+ rows$")
_DONE_RE = re.compile(r"gold build #\d+ .* done in ([\d.]+)s")


def _int(text: str) -> int:
    return int(text.replace(",", ""))


def parse_rebuild(lines: list[str]) -> dict[str, Any]:
    """Per-table current-state rows and silver versions, step times."""
    state: dict[str, dict[str, int]] = {}
    history = None
    marks: dict[str, float] = {}
    for line in lines:
        m = _ELAPSED_RE.match(line)
        if not m:
            if d := _DONE_RE.search(line):
                marks["done"] = float(d.group(1))
            continue
        t, msg = float(m.group(1)), m.group(2)
        for step, prefix in _STEP_MARKS.items():
            if step not in marks and msg.startswith(prefix):
                marks[step] = t
        if "gold" in marks and "computed" not in marks and _COMPUTED_RE.match(msg):
            marks["computed"] = t
        if msg.startswith("new changes "):
            marks["read"] = t  # the last table's
        if sm := _STATE_RE.search(msg):
            state[sm.group(1)] = {
                "current_rows": _int(sm.group(2)),
                "silver_versions": _int(sm.group(3)),
            }
        elif hm := _HIST_RE.search(msg):
            history = _int(hm.group(1))
    return {
        "state": state,
        "customer_history_versions": history,
        "steps_from_progress": _step_seconds(marks),
    }


def _step_seconds(marks: dict[str, float]) -> dict[str, float | None]:
    """Step durations from the progress lines' elapsed times (each step's end = next start).

    ``current_state_s`` (reading the change-logs) and ``gold_sql_s`` (from computing gold
    to the swap, everything between included) always; when their lines are there, the
    parts of the latter and what follows: ``gold_compute_s``, ``load_s`` (exporting and
    COPYing; with the lake copy of the state too where a build keeps it before loading),
    ``state_wait_s`` (a full build's swap waiting for its state to be kept in the lake),
    ``swap_s`` and ``after_swap_s`` (to the end of the build)."""
    steps: dict[str, float | None] = {}
    start = marks.get("start", 0.0)
    if "gold" in marks:
        steps["current_state_s"] = round(marks["gold"] - start, 1)
        if "swap" in marks:
            steps["gold_sql_s"] = round(marks["swap"] - marks["gold"], 1)
    if "computed" in marks:
        steps["gold_compute_s"] = round(marks["computed"] - marks["gold"], 1)
        if "loaded" in marks:
            steps["load_s"] = round(marks["loaded"] - marks["computed"], 1)
            if marks.get("kept", -1.0) >= marks["loaded"]:
                steps["state_wait_s"] = round(marks["kept"] - marks["loaded"], 1)
            if "swap" in marks:
                steps["swap_s"] = round(marks["swap"] - max(marks["loaded"], marks.get("kept", 0)), 1)
    if "swap" in marks and "done" in marks:
        steps["after_swap_s"] = round(marks["done"] - marks["swap"], 1)
    steps.update(_incremental_steps(marks))
    return steps


def _incremental_steps(marks: dict[str, float]) -> dict[str, float]:
    """An incremental build's parts: ``read_s`` (the new changes of every table),
    ``merge_s`` (into the state), ``recompute_s`` (the affected gold rows) and ``apply_s``
    (to the swap: the state's changes to the lake, the gold rows into ``public``,
    DuckDB's commit of the local state)."""
    order = ("incremental", "read", "merged", "recomputed", "swap")
    names = ("read_s", "merge_s", "recompute_s", "apply_s")
    if not all(m in marks for m in order):
        return {}
    spans = zip(names, order[:-1], order[1:], strict=True)
    return {n: round(marks[b] - marks[a], 1) for n, a, b in spans}


# ---------------------------------------------------------------- measurements
def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def _baseline_cap_mb(requested_gb: float) -> float:
    """The baseline's memory cap: as asked, but leaving 2 GiB of what is available now."""
    import psutil

    available_mb = psutil.virtual_memory().available / 2**20
    return min(requested_gb * 1024, available_mb - 2048)


_KIND_RE = re.compile(r"gold build #\d+ as of \S+ \((\w+)\) done")
_NEW_RE = re.compile(r"new changes (\w+): ([\d,]+) rows")


def rebuild_run(label: str, as_of: date, *flags: str) -> dict[str, Any]:
    """One measured `ecom gold rebuild` (its kind, the new changes an incremental read)."""
    log(f"ecom gold rebuild {' '.join(flags)} --as-of {as_of} ({label})")
    m = ecom_measured("gold", "rebuild", *flags, "--as-of", as_of.isoformat())
    kind = next((k.group(1) for x in m.lines if (k := _KIND_RE.search(x))), None)
    new = {n.group(1): _int(n.group(2)) for x in m.lines if (n := _NEW_RE.search(x))}
    log(f"  {kind}: {m.wall_s:.1f}s, peak RSS {m.peak_rss_mb:.0f} MB, exit {m.returncode}")
    if m.returncode != 0:
        raise SystemExit(f"ecom gold rebuild ({label}) failed:\n" + "\n".join(m.lines[-10:]))
    return {**m.summary(), **parse_rebuild(m.lines), "kind": kind, "flags": list(flags),
            "new_changes": new}  # fmt: skip


def baseline_run(as_of: date, write: str, cap_mb: float, gold_dsn: str) -> dict[str, Any]:
    """The pandas baseline writing with ``write`` (to_sql or copy), measured alone."""
    from bench.pandas_baseline import HOW_COPY, compare_with_gold, drop_scratch

    log(f"baseline: pandas read_sql -> aggregate -> {write} into {SCRATCH_SCHEMA} "
        f"(stopped if over {cap_mb:,.0f} MB)")  # fmt: skip
    try:
        base = run_measured(
            ["-m", "bench.pandas_baseline", "--as-of", as_of.isoformat(), "--write", write],
            f"pandas-{write}", max_tree_rss_mb=cap_mb,
        )  # fmt: skip
        log(f"  {base.wall_s:.1f}s, peak RSS {base.peak_rss_mb:.0f} MB, exit {base.returncode}")
        agreement = compare_with_gold(gold_dsn) if base.returncode == 0 else {}
    finally:
        drop_scratch(gold_dsn)
    return {
        "measured": base.returncode == 0,
        **base.summary(),
        **base.result(),
        "how": HOW if write == "to_sql" else HOW_COPY,
        "not_exact": NOT_EXACT,
        "agreement_with_rebuild": agreement,
    }


def traffic_then_incremental(as_of: date, rate: int, seconds: int) -> dict[str, Any]:
    """Live traffic through the stream (one worker) for ``seconds`` at ``rate`` changes/s,
    caught up, workers stopped; then the incremental build that applies it."""
    from compaction import maintainer
    from ecom import catchup
    from stream_apps import configuration, workers

    st = configuration.load()
    workers.start(st, 1, wait_seconds=120)
    maintainer.start(st.base)  # as `ecom stream start` runs it
    try:
        log(f"live traffic: {rate:,} changes/s for {seconds}s through the stream")
        live = run_measured(["-m", "ecom.cli", "generate", "live", "--rate", str(rate),
                             "--duration", str(seconds), "--json"], "live", echo=False)  # fmt: skip
        if live.returncode != 0:
            raise SystemExit("ecom generate live failed:\n" + "\n".join(live.lines[-10:]))
        t0 = time.monotonic()
        catchup.wait_caught_up(st, max(600.0, seconds * 2.0))
        caught_up_s = time.monotonic() - t0
    finally:
        log(f"stream workers stopped: {workers.stop(st)}")
        maintainer.stop(st.base)
    run = rebuild_run("incremental after traffic", as_of)
    return {"traffic": {"rate": rate, "seconds": seconds, **live.summary(),
                        "caught_up_after_s": round(caught_up_s, 1)},
            "rebuild": run}  # fmt: skip


def measure(
    as_of: date, baselines: tuple[str, ...], baseline_max_gb: float
) -> dict[str, Any]:
    """Full builds (the first on this lake, then again), an incremental build with no new
    changes, verify, the pandas baselines."""
    from common.settings import load

    settings = load()
    runs = {
        "first": rebuild_run("first, full", as_of, "--full"),
        "second": rebuild_run("again, full", as_of, "--full"),
        "incremental_unchanged": rebuild_run("incremental, no new changes", as_of),
    }
    log("ecom gold verify")
    ver = ecom_measured("gold", "verify")
    verify = {
        "returncode": ver.returncode,
        "wall_s": round(ver.wall_s, 2),
        "summary": next((x.strip() for x in ver.lines if "reconciliation" in x), None),
    }
    out: dict[str, Any] = {"rebuild": runs, "verify": verify}
    cap = _baseline_cap_mb(baseline_max_gb)
    for write in ("to_sql", "copy"):
        key = "baseline_pandas" if write == "to_sql" else "baseline_pandas_copy"
        if write in baselines:
            out[key] = baseline_run(as_of, write, cap, settings.gold_dsn)
        else:
            out[key] = {"measured": False, "reason": "--no-baseline"}
    return out


def _target_met(target: dict[str, float] | None, seconds: float, peak: float) -> bool | None:
    if not target:
        return None
    return seconds <= target["rebuild_s"] and peak <= target.get("peak_rss_mb", 1e12)


def comparison(scale: float, m: dict[str, Any]) -> dict[str, Any]:
    """The figures the targets are about, side by side."""
    runs, base, copy = m["rebuild"], m["baseline_pandas"], m["baseline_pandas_copy"]
    pandas_s = base.get("wall_s") if base.get("measured") else None
    copy_s = copy.get("wall_s") if copy.get("measured") else None
    rb_c, rb_n = runs["first"]["wall_s"], runs["second"]["wall_s"]
    peak_c, peak_n = runs["first"]["peak_rss_mb"], runs["second"]["peak_rss_mb"]
    target = TARGETS.get(round(scale, 2))
    out = {
        "rebuild_first_s": rb_c,
        "rebuild_second_s": rb_n,
        "rebuild_first_peak_rss_mb": peak_c,
        "rebuild_second_peak_rss_mb": peak_n,
        "incremental_unchanged_s": runs["incremental_unchanged"]["wall_s"],
        "pandas_s": round(pandas_s, 2) if pandas_s else None,
        "pandas_peak_rss_mb": base.get("peak_rss_mb"),
        "pandas_copy_s": round(copy_s, 2) if copy_s else None,
        "pandas_copy_peak_rss_mb": copy.get("peak_rss_mb"),
        "ratio_pandas_over_rebuild_first": _ratio(pandas_s, rb_c),
        "ratio_pandas_over_rebuild_second": _ratio(pandas_s, rb_n),
        "ratio_pandas_copy_over_rebuild_first": _ratio(copy_s, rb_c),
        "ratio_pandas_copy_over_rebuild_second": _ratio(copy_s, rb_n),
        "targets": target,
        "target_met_first": _target_met(target, rb_c, peak_c),
        "target_met_second": _target_met(target, rb_n, peak_n),
        "peak_rss_note": "the child process tree only: the PostgreSQL server (which "
        "receives COPY / to_sql) is not included on either side",
    }
    if target and "ratio_over_pandas_copy" in target:
        ratio = _ratio(copy_s, rb_n)
        out["target_ratio_met"] = None if ratio is None else ratio >= target["ratio_over_pandas_copy"]
    if "incremental_after_traffic" in m:
        inc = m["incremental_after_traffic"]["rebuild"]["wall_s"]
        out["incremental_after_traffic_s"] = inc
        out["target_incremental_met"] = inc <= INCREMENTAL_TARGET_S
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", choices=("stream", "export"), default="stream",
                    help="where the silver change-log comes from (see above)")  # fmt: skip
    ap.add_argument("--scale", type=float, default=1.0, help="seed scale for --input export")
    ap.add_argument("--as-of", type=date.fromisoformat, default=None,
                    help="as-of date D (default: today, UTC: an earlier day reads the lake "
                    "as it was at its end, before this run wrote it)")  # fmt: skip
    ap.add_argument("--rows-per-file", type=int, default=200_000,
                    help="--input export: rows per silver commit (one data file each)")  # fmt: skip
    ap.add_argument("--no-baseline", action="store_true", help="skip both pandas baselines")
    ap.add_argument("--traffic-seconds", type=int, default=0,
                    help="--input stream: after the full builds, this long live traffic "
                    "through the stream, then the incremental build (default 0: none; the "
                    "target is measured with 600)")  # fmt: skip
    ap.add_argument("--traffic-rate", type=int, default=1000,
                    help="changes per second of that traffic (default 1000)")  # fmt: skip
    ap.add_argument("--baseline-max-gb", type=float, default=16.0,
                    help="stop the pandas baseline above this memory (default 16; never more "
                    "than what is available minus 2 GiB)")  # fmt: skip
    ap.add_argument("--out", default=None, help="result JSON path")
    args = ap.parse_args()
    export = args.input == "export"
    if export and args.traffic_seconds:
        ap.error("--traffic-seconds needs --input stream (the export input stops the capture)")
    as_of: date = args.as_of or datetime.now(UTC).date()
    default_out = f"gold-export-{args.scale:g}.json" if export else "gold.json"
    out_path = Path(args.out) if args.out else RESULTS / default_out

    from common.settings import load
    from generator.configuration import scaled_counts

    settings = load()
    if os.environ.get("ECOM_BENCH_YES") != "1":
        print(
            "error: bench_gold replaces the gold tables (and with --input export the source "
            "and the lake) of the stack it runs on; run it through `python -m bench` (the "
            "bench stack), or set ECOM_BENCH_YES=1",
            file=sys.stderr,
        )
        return 2
    log(f"bench stack at {settings.home} (Postgres port {settings.pg_port}), as of {as_of}, "
        f"input {args.input}")  # fmt: skip
    prep = prepare_export(args.scale, args.rows_per_file) if export else {}

    try:
        src_rows = source_rows(settings.source_dsn)
        silver = lake_files(settings, "silver")
        bronze = lake_files(settings, "bronze")
    except Exception as exc:
        print(f"error: cannot read the bench stack's data: {' '.join(str(exc).split())}",
              file=sys.stderr)  # fmt: skip
        return 2
    n_src = sum(src_rows.values())
    n_rows = sum(x["rows"] for x in silver.values())
    log(f"source: {n_src:,} rows; silver change-log: {n_rows:,} rows in "
        f"{sum(x['files'] for x in silver.values()):,} files, "
        f"{sum(x['bytes'] for x in silver.values()) / 1e6:,.1f} MB; bronze "
        f"{sum(x['files'] for x in bronze.values()):,} files")  # fmt: skip
    if n_src == 0 or n_rows == 0:
        what = "the source database is empty" if n_src == 0 else "the silver change-log is empty"
        print(f"error: {what} on the bench stack", file=sys.stderr)
        print("hint: run `python -m bench stream` first, or use --input export",
              file=sys.stderr)  # fmt: skip
        return 2
    if not export:  # nothing may change silver while we measure
        from stream_apps import configuration, workers

        log(f"stream workers stopped: {workers.stop(configuration.load())}")

    baselines = () if args.no_baseline else ("to_sql", "copy")
    m = measure(as_of, baselines, args.baseline_max_gb)
    if args.traffic_seconds > 0:
        m["incremental_after_traffic"] = traffic_then_incremental(
            as_of, args.traffic_rate, args.traffic_seconds
        )
    state = m["rebuild"]["second"]["state"]
    scale = round(n_src / sum(scaled_counts(1.0).values()), 3)
    result = {
        "measured_at_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "loadavg_at_end": [round(x, 2) for x in os.getloadavg()],
        },
        "input": args.input,
        "as_of": as_of.isoformat(),
        "preparation": prep,
        "data": {
            "source_rows": src_rows,
            "source_rows_total": n_src,
            "silver_files_before": silver,
            "bronze_files_before": bronze,
            "silver_versions_total": sum(x["silver_versions"] for x in state.values()),
            "current_state_rows": {t: x["current_rows"] for t, x in state.items()},
            "current_state_rows_total": sum(x["current_rows"] for x in state.values()),
            "customer_history_versions": m["rebuild"]["second"]["customer_history_versions"],
            "scale": scale,
        },
        **m,
        "comparison": comparison(args.scale if export else scale, m),
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    print()
    print_summary(scale, m, result["comparison"])
    bad_base = any(m[k].get("returncode") not in (0, None)
                   for k in ("baseline_pandas", "baseline_pandas_copy"))  # fmt: skip
    return 1 if m["verify"]["returncode"] != 0 or bad_base else 0


def print_summary(scale: float, m: dict[str, Any], c: dict[str, Any]) -> None:
    rows = [(f"full build (first, {m['rebuild']['first']['kind']})", m["rebuild"]["first"]),
            ("full build (again)", m["rebuild"]["second"]),
            ("incremental, no new changes", m["rebuild"]["incremental_unchanged"])]  # fmt: skip
    if "incremental_after_traffic" in m:
        rows.append(("incremental after traffic", m["incremental_after_traffic"]["rebuild"]))
    for label, key in (("pandas + to_sql", "baseline_pandas"),
                       ("pandas + COPY", "baseline_pandas_copy")):  # fmt: skip
        if m[key].get("wall_s") is not None:
            rows.append((label + ("" if m[key]["measured"] else " (did not finish)"), m[key]))
    print(f"{'scale ' + str(scale):<36}{'seconds':>10}{'peak RSS MB':>14}")
    for label, run in rows:
        print(f"{label:<36}{run['wall_s']:>10.1f}{run['peak_rss_mb']:>14.0f}")
    for label, key in (("first", "first"), ("again", "second")):
        steps = m["rebuild"][key].get("steps_from_progress") or {}
        parts = ", ".join(f"{k.removesuffix('_s')} {v}" for k, v in steps.items())
        print(f"full build ({label}) steps, seconds: {parts or 'none reported'}")
    print(f"ratio pandas/full build: to_sql {c['ratio_pandas_over_rebuild_first']} (first), "
          f"{c['ratio_pandas_over_rebuild_second']} (again); COPY "
          f"{c['ratio_pandas_copy_over_rebuild_first']} (first), "
          f"{c['ratio_pandas_copy_over_rebuild_second']} (again); verify exit "
          f"{m['verify']['returncode']}")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
