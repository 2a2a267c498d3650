"""`ecom kpi` and `ecom gold schedule`: argparse wiring kept apart from ecom/cli.py.

``ecom/cli.py`` builds the ``gold`` group (``rebuild``, ``verify``) and calls
:func:`_add_kpi_and_schedule` with the top-level subparsers and the ``gold``
group's subparsers. Handlers are thin: each calls one function of
``compaction.kpis`` or ``compaction.schedule``.
"""

from __future__ import annotations

import argparse

from common.errors import EcomError


def _kpi(args: argparse.Namespace) -> int:
    from common.settings import load
    from compaction import kpis

    if args.list:
        every = kpis.load()
        if args.json:
            print(kpis.dumps([{"name": k.name, "description": k.description} for k in every]))
        else:
            print(kpis.format_list(every))
        return 0
    if args.limit is not None and args.limit < 0:
        raise EcomError(f"--limit {args.limit} is negative", hint="use 0 for all rows")
    selected = [kpis.get(args.name).name] if args.name else None  # unknown name: one line
    results = kpis.run_many(load().gold_dsn, selected)
    if args.json:
        docs = [kpis.as_json(k, cols, rows, limit=args.limit) for k, cols, rows in results]
        print(kpis.dumps(docs[0] if args.name else docs))
        return 0
    limit = kpis.DEFAULT_TABLE_LIMIT if args.limit is None else args.limit
    for i, (kpi, columns, rows) in enumerate(results):
        if i:
            print()
        print(kpis.format_kpi(kpi, columns, rows, limit=limit), flush=True)
    return 0


def _gold_schedule(args: argparse.Namespace) -> int:
    from compaction import schedule

    plan = schedule.build(args.at)  # validates --at / ECOM_GOLD_SCHEDULE_AT first
    if not args.print:
        raise EcomError(
            "`ecom gold schedule` only prints the schedule; it installs nothing",
            hint="re-run with --print and install the crontab line or the systemd units",
        )
    print(schedule.render(plan))
    return 0


def _add_kpi_and_schedule(
    groups: argparse._SubParsersAction,  # type: ignore[type-arg]
    gold_cmds: argparse._SubParsersAction,  # type: ignore[type-arg]
) -> None:
    """Add ``kpi`` to the top-level commands and ``schedule`` to the ``gold`` group."""
    p = groups.add_parser(
        "kpi",
        help="run the analytics KPIs over gold and print them as tables",
        description="Runs the named queries of compaction/sql/kpis.sql against the gold "
        "database (read-only). Without NAME, runs every KPI.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="one KPI (see --list); default all")
    p.add_argument("--list", action="store_true", help="list the KPI names and descriptions")
    p.add_argument(
        "--limit", type=int, default=None, metavar="N",
        help="rows shown per KPI (default 25 for tables, all for --json; 0 = all)",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="machine-readable output (exact decimals)")
    p.set_defaults(func=_kpi)

    p = gold_cmds.add_parser(
        "schedule",
        help="print the nightly schedule: a crontab line and a systemd service + timer",
        description="Prints, for this checkout, a crontab line and a systemd service and "
        "timer that run `.venv/bin/ecom gold rebuild` then `gold verify` every day.",
    )
    p.add_argument("--print", action="store_true", help="print the crontab line and units")
    p.add_argument(
        "--at", metavar="HH:MM", default=None,
        help="time of day in UTC (default: ECOM_GOLD_SCHEDULE_AT, else 02:30)",
    )  # fmt: skip
    p.set_defaults(func=_gold_schedule)
