"""`ecom gold rebuild|verify|schedule` and `ecom kpi`: the commands over gold.

Handlers are thin: each calls one function of package compaction/ and prints what it
returns.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from common.errors import EcomError
from common.progress import Progress
from common.settings import Settings, load
from ecom import display
from ecom.cli_args import SubParsers, add_command, as_of


def _gold_rebuild(args: argparse.Namespace) -> int:
    from compaction import configuration, rebuild
    from compaction.exceptions import RebuildLocked

    gs = configuration.load(engine=args.engine, spark_master=args.master)
    if args.master is not None and gs.engine != "spark":
        raise EcomError(
            "--master is the Spark engine's master URL",
            hint="add --engine spark, or set ECOM_GOLD_ENGINE=spark",
        )
    progress = Progress()
    jars = _spark_jars(gs.base, progress) if gs.engine == "spark" else []
    try:
        result = rebuild.rebuild(
            gs, args.as_of, full=args.full, lock_wait=args.wait_lock, progress=progress,
            spark_jars=jars,
        )  # fmt: skip
    except RebuildLocked as exc:
        if not args.if_idle:
            raise
        # a timer's refresh that finds a build running has nothing to do: not a failure
        print(f"gold rebuild skipped: {exc.message}")
        return 0
    for table, n in result.row_counts.items():
        print(f"{table:<28} {n:>12,} rows")
    print(f"gold build #{result.build_id} as of {result.as_of} ({result.kind}) done in "
          f"{result.seconds:.1f}s")  # fmt: skip
    return 0


def _spark_jars(settings: Settings, progress: Progress) -> list[Path]:
    """Java checked, and the Spark engine's jars in the download cache (fetched once)."""
    from stack import install

    install.find_java()
    return install.ensure_spark_jars(settings, progress)


def _gold_verify(args: argparse.Namespace) -> int:
    from compaction import verify
    from compaction.exceptions import VerifyMismatch

    report = verify.verify(load())
    print(display.verify_report(report))
    if not report.ok:
        raise VerifyMismatch(report.summary())
    return 0


def _gold_schedule(args: argparse.Namespace) -> int:
    from compaction import schedule

    plan = schedule.build(args.at, every=args.every)  # validates the times first
    if not args.print:
        raise EcomError(
            "`ecom gold schedule` only prints the schedule; it installs nothing",
            hint="re-run with --print and install the crontab line or the systemd units",
        )
    print(schedule.render(plan))
    return 0


def _kpi(args: argparse.Namespace) -> int:
    from compaction import kpis

    if args.list:
        every = kpis.load()
        if args.json:
            print(display.json_text([{"name": k.name, "description": k.description} for k in every]))
        else:
            print(display.kpi_list(every))
        return 0
    if args.limit is not None and args.limit < 0:
        raise EcomError(f"--limit {args.limit} is negative", hint="use 0 for all rows")
    selected = [kpis.get(args.name).name] if args.name else None  # unknown name: one line
    results = kpis.run_many(load().gold_dsn, selected)
    if args.json:
        docs = [display.kpi_json(k, cols, rows, limit=args.limit) for k, cols, rows in results]
        print(display.json_text(docs[0] if args.name else docs))
        return 0
    limit = display.KPI_TABLE_LIMIT if args.limit is None else args.limit
    for i, (kpi, columns, rows) in enumerate(results):
        if i:
            print()
        print(display.kpi_text(kpi, columns, rows, limit=limit), flush=True)
    return 0


def add_gold(groups: SubParsers) -> None:
    """`ecom gold rebuild|verify|schedule` (package compaction/)."""
    gold = add_command(groups, "gold", "the gold tables: rebuild, verify, schedule")
    cmds = gold.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(
        cmds, "rebuild",
        "build the gold tables from the silver lake (incremental, or --full)",
        "Applies the silver changes newer than the state the last build kept and "
        "replaces the gold rows they change, in one transaction; with --full (or when no "
        "usable state is kept) computes every gold table from the whole change-log and "
        "swaps them in atomically. Under a lock: one build at a time.",
    )  # fmt: skip
    p.add_argument(
        "--as-of", type=as_of, default=None, metavar="D",
        help="build gold as of date D (UTC): the contract's as-of date, from the lake's "
        "table versions committed by the end of D (Delta time travel); or as of a time "
        "such as 2026-11-29T14:00:00Z. Default: now",
    )  # fmt: skip
    p.add_argument(
        "--full", action="store_true",
        help="rebuild from the whole change-log (default: apply only the changes newer "
        "than the state the last build kept, when there is one)",
    )  # fmt: skip
    p.add_argument(
        "--wait-lock", type=float, default=0.0, metavar="SECONDS",
        help="when another build holds the gold lock, wait up to SECONDS for it to finish "
        "(default 0: fail at once)",
    )  # fmt: skip
    p.add_argument(
        "--if-idle", action="store_true",
        help="when another build holds the gold lock, print one line saying the build "
        "was skipped and exit 0 (for the frequent refresh timer); default: exit 1",
    )  # fmt: skip
    p.add_argument(
        "--engine", choices=("duckdb", "spark"), default=None,
        help="what computes gold: duckdb (in this process) or spark (Apache Spark, the "
        "same definitions; needs Java 17 and fetches its jars once). Default: "
        "ECOM_GOLD_ENGINE, else duckdb",
    )  # fmt: skip
    p.add_argument(
        "--master", default=None, metavar="URL",
        help="Spark master for --engine spark: local[*] (default, ECOM_GOLD_SPARK_MASTER), "
        "local[N], or a cluster such as spark://host:7077",
    )  # fmt: skip
    p.set_defaults(func=_gold_rebuild)
    p = add_command(
        cmds, "verify", "gold row counts and reconciliation with the source; exit 1 on a mismatch"
    )
    p.set_defaults(func=_gold_verify)
    p = add_command(
        cmds, "schedule",
        "print the schedules: crontab lines and systemd services + timers",
        "Prints, for this checkout, crontab lines and systemd services and timers for "
        "two jobs: the nightly one (`.venv/bin/ecom gold rebuild --full`, `gold verify`, "
        "then `lake optimize` and `lake vacuum`) and the frequent incremental refresh "
        "(`gold rebuild --if-idle` every ECOM_GOLD_REFRESH_MINUTES, default 5).",
    )  # fmt: skip
    p.add_argument("--print", action="store_true", help="print the crontab line and units")
    p.add_argument(
        "--at", metavar="HH:MM", default=None,
        help="time of day in UTC (default: ECOM_GOLD_SCHEDULE_AT, else 02:30)",
    )  # fmt: skip
    p.add_argument(
        "--every", metavar="MINUTES", type=int, default=None,
        help="minutes between incremental refreshes (default: ECOM_GOLD_REFRESH_MINUTES, "
        "else 5)",
    )  # fmt: skip
    p.set_defaults(func=_gold_schedule)


def add_kpi(groups: SubParsers) -> None:
    """`ecom kpi` (compaction/kpis.py over the gold database)."""
    p = add_command(
        groups, "kpi",
        "run the analytics KPIs over gold and print them as tables",
        "Runs the named queries of compaction/sql/kpis.sql against the gold "
        "database (read-only). Without NAME, runs every KPI.",
    )  # fmt: skip
    p.add_argument("name", nargs="?", metavar="NAME", help="one KPI (see --list); default all")
    p.add_argument("--list", action="store_true", help="list the KPI names and descriptions")
    p.add_argument(
        "--limit", type=int, default=None, metavar="N",
        help="rows shown per KPI (default 25 for tables, all for --json; 0 = all)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output (exact decimals)")
    p.set_defaults(func=_kpi)
