"""The suite's markdown: one table of figures next to their same-run baselines, and the
cost curve. Reads only what the parts measured; a missing figure is "not measured"."""

from __future__ import annotations

from typing import Any

NM = "not measured"


def _num(x: Any, fmt: str = ",.1f") -> str:
    return NM if x is None else format(x, fmt)


def _mb(x: Any) -> str:
    return NM if x is None else f"{x:,.0f} MB"


def _scale_of(name: str) -> str:
    return name.partition("@")[2]


def generator_rows(r: dict[str, Any]) -> list[list[str]]:
    seed, base = r.get("seed", {}), r.get("naive_row_by_row_baseline", {})
    live, ceil = r.get("live_target") or {}, r.get("live_unthrottled") or {}
    rows = [
        [
            f"seed scale {r.get('scale', base.get('extrapolated_to_scale', 1.0)):g} "
            f"({seed.get('rows', 0):,} rows)",
            f"{_num(seed.get('wall_s'))} s, {_mb(seed.get('peak_rss_mb_max_over_children'))} peak",
            f"row-by-row Faker + INSERT: {_num(base.get('extrapolated_wall_s'))} s (scale "
            f"{base.get('scale', 0):g}, extrapolated linearly)",
            f"{_num(r.get('seed_speedup_vs_naive_extrapolated'))}x faster",
            "< 60 s, < 1.5 GB (scale 1)",
        ]
    ]
    ls, cs = (live.get("summary") or {}), (ceil.get("summary") or {})
    rows.append(
        [
            "live generator",
            f"{_num(ls.get('rate_rows_per_s'), ',.0f')} changes/s for "
            f"{_num(ls.get('elapsed_s'), ',.0f')} s "
            f"({_num(cs.get('rate_rows_per_s'), ',.0f')}/s unthrottled)",
            "",
            "",
            ">= 2,000/s",
        ]
    )
    return rows


def stream_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    snap, bare = r.get("snapshot", {}), r.get("baseline_bare_consumer", {})
    st, mem = r.get("steady_state", {}), r.get("worker_memory_mb", {})
    s = _scale_of(name)
    t1 = "300 s / 360 s" if float(s or 0) == 1.0 else ""
    return [
        [
            f"snapshot scale {s} into Kafka (Debezium)",
            f"{_num(snap.get('all_in_kafka_s'))} s",
            "",
            "",
            "",
        ],  # fmt: skip
        [
            f"... into bronze / silver ({r.get('workers')} workers"
            + (f", code {r['code']}" if r.get("code") else "")
            + ")",
            f"{_num(snap.get('all_in_bronze_s'))} s / {_num(snap.get('all_in_silver_s'))} s",
            f"bare confluent-kafka read of the same topics: "
            f"{_num(bare.get('messages_per_s'), ',.0f')} msg/s",
            f"bronze {_num(bare.get('bronze_to_bare_ratio'), '.3f')} of it",
            t1,
        ],
        [
            f"steady state at {_num(st.get('rate'), ',.0f')} changes/s: p99 commit -> bronze "
            "/ -> silver",
            f"{_num(st.get('source_to_bronze_p99_s'), '.1f')} s / "
            f"{_num(st.get('source_to_silver_p99_s'), '.1f')} s",
            "",
            "",
            "<= 2 s / <= 1 s (#14)",
        ],
        [
            "consumer lag / stream worker RSS",
            f"max {_num(st.get('max_consumer_lag'), ',.0f')}, final "
            f"{_num(st.get('final_consumer_lag'), ',.0f')} / max "
            f"{_mb(mem.get('max_rss_sampled'))}",
            "",
            "",
            "bounded / < 1 GB",
        ],
    ]


def drain_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    """``stream_drain@S``: the workers' drain of a backlog beside the bare pipeline's."""
    w, base = r.get("workers") or {}, r.get("baseline") or {}
    rss = w.get("worker_peak_rss_mb") or []
    return [
        [
            f"drain of the scale {_scale_of(name)} backlog ({w.get('events', 0):,} events, "
            f"{r.get('worker_count', len(rss))} workers) into "
            "bronze and silver",
            f"{_num(w.get('events_per_s'), ',.0f')} events/s, "
            f"{_num(w.get('worker_cpu_us_per_event'))} us CPU/event, "
            f"max {_mb(max(rss) if rss else None)}",
            f"confluent-kafka + orjson + pyarrow to Parquet: "
            f"{_num(base.get('messages_per_s'), ',.0f')} msg/s, "
            f"{_num(base.get('cpu_us_per_event'))} us CPU/event",
            _num(r.get("drain_to_baseline_ratio"), ".3f"),
            ">= 0.5, <= 40 us, < 1 GB",
        ]
    ]


def max_rate_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    """``max_rate@S``: the highest live rate with a bounded consumer lag, and the CPU
    per change of the fastest step that measured it."""
    return [
        [
            f"maximum sustained live rate, scale {_scale_of(name)} ({r.get('worker_count')} "
            f"workers, {r.get('step_seconds', 60):g} s steps)",
            f"{_num(r.get('max_sustained_rate'), ',.0f')} changes/s "
            f"({r.get('ramp_ended_because', '')})",
            _max_rate_cpu(r.get("steps") or []),
            "",
            ">= 10,000/s",
        ]
    ]


def _max_rate_cpu(steps: list[dict[str, Any]]) -> str:
    measured = [s for s in steps if s.get("cpu") and s.get("reached_rate")]
    if not measured:
        return ""
    step = max(measured, key=lambda s: s["reached_rate"])
    cpu, per = step["cpu"], step["cpu"]["us_per_change"]
    source = (per.get("generator") or 0.0) + (per.get("postgres") or 0.0)
    return (
        f"CPU at {_num(step['reached_rate'], ',.0f')} changes/s: "
        f"{_num(cpu.get('components_us_per_change'), ',.0f')} us per change, of which "
        f"generator + PostgreSQL {source:,.0f} us; all cores busy at "
        f"{_num(cpu.get('ceiling_changes_per_s'), ',.0f')} changes/s"
    )


def _gold_baselines(r: dict[str, Any]) -> str:
    c, base, copy = r.get("comparison", {}), r.get("baseline_pandas", {}), r.get(
        "baseline_pandas_copy", {})  # fmt: skip
    if base.get("measured"):
        b = (
            f"pandas read_sql + to_sql: {_num(c.get('pandas_s'))} s, "
            f"{_mb(c.get('pandas_peak_rss_mb'))}"
        )
    else:
        b = f"pandas: {NM} ({base.get('aborted') or base.get('reason') or 'failed'})"
    if copy.get("measured"):
        b += (f"; pandas + COPY: {_num(c.get('pandas_copy_s'))} s, "
              f"{_mb(c.get('pandas_copy_peak_rss_mb'))}")  # fmt: skip
    elif copy:
        b += f"; pandas + COPY: {NM} ({copy.get('aborted') or copy.get('reason') or 'failed'})"
    return b


def _gold_target(c: dict[str, Any], label: str) -> str:
    tgt = c.get("targets") or {}
    if not tgt:
        return ""
    target = f"< {tgt['rebuild_s']} s" + (
        f", < {tgt['peak_rss_mb'] / 1024:g} GB" if "peak_rss_mb" in tgt else ""
    )
    if "ratio_over_pandas_copy" in tgt:
        target += f", >= {tgt['ratio_over_pandas_copy']:g}x pandas + COPY"
    met = c.get(f"target_met_{label}")
    if met is not None and "target_ratio_met" in c and c["target_ratio_met"] is not None:
        met = met and c["target_ratio_met"]
    return target + ("" if met is None else (" (met)" if met else " (missed)"))


def _gold_ratio(c: dict[str, Any], label: str) -> str:
    ratio = c.get(f"ratio_pandas_over_rebuild_{label}")
    copy = c.get(f"ratio_pandas_copy_over_rebuild_{label}")
    text = NM if ratio is None else f"{ratio:g}"
    return text if copy is None else f"{text} (to_sql), {copy:g} (COPY)"


def gold_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    c = r.get("comparison", {})
    data = r.get("data", {})
    rows_n = data.get("source_rows_total")
    src = "the stream's change-log" if r.get("input") == "stream" else "bench export"
    b = _gold_baselines(r)
    silver = data.get("silver_files_before", {})
    n_files = sum(x.get("files", 0) for x in silver.values()) if silver else 0
    head = (f"gold rebuild scale {data.get('scale', _scale_of(name))} ({rows_n or 0:,} rows, "
            f"{src}, {n_files:,} silver files), ")  # fmt: skip
    out = []
    for label, key in (("first", "first"), ("second", "second")):
        run = r.get("rebuild", {}).get(key, {})
        out.append(
            [
                head + ("first build" if label == "first" else "built again"),
                f"{_num(run.get('wall_s'))} s, {_mb(run.get('peak_rss_mb'))} peak",
                b,
                _gold_ratio(c, label),
                _gold_target(c, label),
            ]
        )
    unchanged = r.get("rebuild", {}).get("incremental_unchanged")
    if unchanged:
        out.append([head + "incremental, no new changes",
                    f"{_num(unchanged.get('wall_s'))} s, {_mb(unchanged.get('peak_rss_mb'))} peak",
                    "", "", ""])  # fmt: skip
    traffic = r.get("incremental_after_traffic")
    if traffic:
        t, run = traffic.get("traffic", {}), traffic.get("rebuild", {})
        met = c.get("target_incremental_met")
        out.append([head + f"incremental after {t.get('seconds')} s of traffic at "
                    f"{t.get('rate'):,} changes/s",
                    f"{_num(run.get('wall_s'))} s, {_mb(run.get('peak_rss_mb'))} peak", "", "",
                    "<= 5 s" + ("" if met is None else (" (met)" if met else " (missed)"))])  # fmt: skip
    return out


def gold_spark_rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    data, spark, duck = r.get("data", {}), r.get("spark", {}), r.get("duckdb", {})
    ph = spark.get("phases", {})
    same = r.get("same_gold")
    return [
        [
            f"gold rebuild on Spark ({spark.get('master', '?')}) scale "
            f"{data.get('scale', _scale_of(name))} ({data.get('source_rows_total') or 0:,} "
            f"rows, bench export), full build"
            + ("" if same is None else ("; same gold as DuckDB" if same else "; GOLD DIFFERS")),
            f"{_num(spark.get('wall_s'))} s (Spark start and first table "
            f"{_num(ph.get('spark_start_s'))} s), "
            f"{_mb(spark.get('peak_tree_rss_mb_sampled'))} peak with the JVM",
            f"DuckDB full build: {_num(duck.get('wall_s'))} s, {_mb(duck.get('peak_rss_mb'))}",
            NM
            if r.get("ratio_spark_over_duckdb") is None
            else f"{r['ratio_spark_over_duckdb']:g}x DuckDB's time",
            "",
        ]
    ]


def curve(doc: dict[str, Any]) -> list[list[str]]:
    parts = doc.get("parts", {})
    scales = sorted(
        {float(n.partition("@")[2]) for n in parts if "@" in n}, key=float
    )  # every scale any run planned
    rows = []
    for s in scales:
        st = parts.get(f"stream@{s:g}", {})
        gd = parts.get(f"gold@{s:g}", {})
        sr = st.get("result", {}) if st.get("status") == "measured" else {}
        gr = gd.get("result", {}) if gd.get("status") == "measured" else {}
        c = gr.get("comparison", {})
        snap = sr.get("snapshot", {})
        rows.append(
            [
                f"{s:g}",
                f"{gr.get('data', {}).get('source_rows_total') or snap.get('rows') or 0:,}"
                if (gr or sr)
                else NM,  # fmt: skip
                (
                    f"{_num(snap.get('all_in_silver_s'))}"
                    + (f" (code {sr['code']})" if sr.get("code") else "")
                )
                if sr
                else _why(st),
                f"{_num(c.get('rebuild_first_s'))}" if gr else _why(gd),
                f"{_num(c.get('rebuild_second_s'))}" if gr else _why(gd),
                f"{_mb(c.get('rebuild_first_peak_rss_mb'))}" if gr else _why(gd),
                f"{_num(c.get('pandas_s'))}" if gr else _why(gd),
                NM
                if not gr or c.get("ratio_pandas_over_rebuild_first") is None
                else f"{c['ratio_pandas_over_rebuild_first']:g}",  # fmt: skip
            ]
        )
    return rows


def _s(x: Any, fmt: str = ".1f") -> str:
    return NM if x is None else f"{x:{fmt}} s"


def _lat(c: dict[str, Any]) -> str:
    a = c.get("all") or {}
    return (
        f"{_s(a.get('p50_s'), '.3f')} / {_s(a.get('p99_s'), '.3f')} ({a.get('commits', 0)} commits)"
    )


def _lake_side(r: dict[str, Any]) -> list[str]:
    """One lake's column of the old-beside-new table."""
    files = r.get("data_files_after_snapshot") or {}
    snap, st = r.get("snapshot") or {}, r.get("steady_state") or {}
    lat = r.get("commit_latency") or {}
    golds = r.get("gold_rebuild") or []

    def per100k(layer: str) -> str:
        f = files.get(layer) or {}
        return f"{_num(f.get('files_per_100k_rows'))} ({f.get('files', NM)} files)"

    return [
        f"{per100k('bronze')} / {per100k('silver')} / {per100k('total')}",
        f"{_s(snap.get('bronze_s'))} / {_s(snap.get('silver_s'))}",
        _lat(lat.get("snapshot") or {}),
        _lat(lat.get("steady_state") or {}),
        "; ".join(
            f"`{g.get('command')}` {_s(g.get('wall_s'))}"
            + (" (verified)" if g.get("verified") else " (NOT verified)")
            for g in golds
        )
        or NM,
        f"{_s(st.get('source_to_bronze_p99_s'), '.2f')} / "
        f"{_s(st.get('source_to_silver_p99_s'), '.2f')}",
    ]


LAKE_WHAT = [
    "data files per 100k snapshot rows: bronze / silver / total (before any compaction)",
    "snapshot: workers started -> every CDC offset in bronze / in silver",
    "commit latency per micro-batch during the snapshot, p50 / p99 (one commit: below)",
    "commit latency per micro-batch in the steady state, p50 / p99",
    "gold rebuild on the lake, each followed by `ecom gold verify`",
    "steady state: p99 source commit -> bronze / -> silver, both pipelines consuming",
]


def lake_table(name: str, r: dict[str, Any]) -> list[str]:
    lakes = r.get("lakes") or {}
    old, new = _lake_side(lakes.get("old") or {}), _lake_side(lakes.get("new") or {})
    rows = [[w, o, n] for w, o, n in zip(LAKE_WHAT, old, new, strict=True)]
    code = (lakes.get("new") or {}).get("code") or "?"
    return [
        f"### `{name}`: {r.get('snapshot_rows', 0):,} snapshot rows, {r.get('workers')} "
        f"workers per lake, {_num((r.get('steady_state') or {}).get('rate'), ',.0f')} changes/s",
        "",
        *_table(["what", "old lake (3804737, Parquet objects)", f"new lake (Delta, {code})"], rows),
        "",
        *[
            f"Commit, {side} lake: {(lakes.get(side) or {}).get('commit_latency', {}).get('unit', NM)}."
            for side in ("old", "new")
        ],
        "",
    ]


def _why(entry: dict[str, Any]) -> str:
    return f"{NM} ({entry.get('reason', 'not run')})" if entry else NM


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def _rows(name: str, r: dict[str, Any]) -> list[list[str]]:
    """The main table's rows of one measured part."""
    if name == "generator":
        return generator_rows(r)
    if name.startswith("stream@"):
        return stream_rows(name, r)
    if name.startswith("stream_drain@"):
        return drain_rows(name, r)
    if name.startswith("max_rate@"):
        return max_rate_rows(name, r)
    if name.startswith(("gold@", "gold_stream@")):
        return gold_rows(name, r)
    if name.startswith("gold_spark@"):
        return gold_spark_rows(name, r)
    return []


def markdown(doc: dict[str, Any]) -> str:
    parts = doc.get("parts", {})
    rows: list[list[str]] = []
    missing: list[str] = []
    lake: list[str] = []
    for name, entry in parts.items():
        if entry.get("status") != "measured":
            missing.append(f"- `{name}`: {entry.get('status')} ({entry.get('reason', '')})")
            continue
        r = entry["result"]
        if name.startswith("lake@"):
            lake += lake_table(name, r)
        else:
            rows += _rows(name, r)
    runs = doc.get("runs", [])
    machine = runs[-1].get("machine", {}) if runs else {}
    lines = [
        f"# Benchmarks {doc.get('date')}",
        "",
        f"Bench stack on a {machine.get('cpus', '?')}-core machine, Python "
        f"{machine.get('python', '?')}; {len(runs)} suite run(s) this day. Each figure "
        "stands next to the baseline measured in the same run. Ratio: baseline time / "
        "measured time (above 1 = faster than the baseline), except the stream's, which is "
        "bronze throughput as a share of the bare consumer's. Peak memory is the measured "
        "process's own (the PostgreSQL server is never included).",
        "",
        *_table(["what", "measured", "baseline (same run)", "ratio", "target"], rows),
        "",
        "## Cost curve",
        "",
        *_table(
            [
                "scale",
                "source rows",
                "snapshot -> silver via the stream (s)",
                "rebuild, first (s)",
                "rebuild, again (s)",
                "rebuild peak RSS",
                "pandas baseline (s)",
                "pandas / rebuild",
            ],
            curve(doc),
        ),  # fmt: skip
        "",
    ]
    if lake:
        lines += ["## Old lake beside new (same run, same CDC topics)", "", *lake]
    if missing:
        lines += ["## Not measured", "", *missing, ""]
    return "\n".join(lines)
