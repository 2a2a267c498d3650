"""`ecom`: one console script, thin subcommands that each call one function.

Errors derived from :class:`common.errors.EcomError` print one line and exit 1;
``--debug`` shows the traceback. Output meant for people goes to stdout, progress
to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from common import log
from common.errors import EcomError
from common.progress import Progress
from common.settings import load
from ecom import cli_gold, cli_lake, display
from ecom.cli_args import SubParsers, add_command, iso_date
from ecom.cli_bench import add_bench
from ecom.cli_report import add_report

Handler = Callable[[argparse.Namespace], int]


def _show(states: Sequence[Any], text: Callable[[Sequence[Any]], str], *, as_json: bool) -> None:
    """Print states as a JSON list of their ``as_dict()``, or as ``text`` makes them."""
    print(json.dumps([s.as_dict() for s in states], indent=2) if as_json else text(states))


# ---------------------------------------------------------------- stack
def _stack_up(args: argparse.Namespace) -> int:
    from stack import services

    rows = services.up(load(), args.names or None, progress=Progress())
    print(display.stack_status(rows))
    return 0


def _stack_down(args: argparse.Namespace) -> int:
    from stack import services

    services.down(load(), args.names or None, progress=Progress())
    return 0


def _stack_status(args: argparse.Namespace) -> int:
    from stack import services

    rows = services.status(load(), args.names or None)
    _show(rows, display.stack_status, as_json=args.json)
    return 0 if all(r.up for r in rows) else 1


def _stack_reset(args: argparse.Namespace) -> int:
    from stack import services

    settings = load()
    if not args.yes:
        if not sys.stdin.isatty():
            raise EcomError(
                f"reset deletes all stack data under {settings.home}",
                hint="re-run with --yes to confirm",
            )
        answer = input(f"Delete all stack data under {settings.home}? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("reset cancelled; nothing changed")
            return 1
    services.reset(settings, progress=Progress())
    return 0


def _stack_logs(args: argparse.Namespace) -> int:
    from stack import services

    for line in services.log_tail(load(), args.name, lines=args.lines):
        print(line)
    return 0


# ---------------------------------------------------------------- db
def _db_init(args: argparse.Namespace) -> int:
    from ecom import dbinit

    dbinit.init(load(), progress=Progress())
    return 0


# ---------------------------------------------------------------- connectors
def _connectors_apply(args: argparse.Namespace) -> int:
    from connectors import manage

    for name in manage.apply_all(load(), progress=Progress()):
        print(f"applied connector {name}")
    return 0


def _connectors_status(args: argparse.Namespace) -> int:
    from connectors import manage

    states = manage.status_all(load())
    _show(states, display.connector_status, as_json=args.json)
    return 0 if all(s.healthy for s in states) else 1


# ---------------------------------------------------------------- stream
def _stream_run(args: argparse.Namespace) -> int:
    import os

    from stream_apps import configuration, workers

    s = configuration.load()
    workers.ensure_topics(s)
    cmd = workers.worker_command(s, 0)
    os.execve(cmd[0], cmd, workers.worker_env(0))  # replaces this process: signals go to Faust
    return 0  # pragma: no cover


def _stream_start(args: argparse.Namespace) -> int:
    from compaction import maintainer
    from stream_apps import configuration, workers

    s = configuration.load()
    states = workers.start(s, args.workers, progress=Progress())
    for w in states:
        print(f"worker {w.index}: pid {w.pid}, metrics {w.web}, log {w.log}")
    if not args.no_maintainer:
        pid, _started = maintainer.start(s.base)
        print(f"lake maintainer: pid {pid}, log {maintainer.log_file(s.base)}")
    return 0


def _stream_stop(args: argparse.Namespace) -> int:
    from compaction import maintainer
    from stream_apps import configuration, workers

    s = configuration.load()
    n = workers.stop(s, progress=Progress())
    print(f"stopped {n} worker(s)")
    pid = maintainer.stop(s.base)
    if pid is not None:
        print(f"stopped the lake maintainer (pid {pid})")
    return 0


def _stream_status(args: argparse.Namespace) -> int:
    from compaction import maintainer
    from stream_apps import configuration, workers

    s = configuration.load()
    states = workers.status(s)
    _show(states, display.worker_status, as_json=args.json)
    if not args.json:
        pid = maintainer.running(s.base)
        print(f"lake maintainer: pid {pid}, log {maintainer.log_file(s.base)}" if pid else
              "lake maintainer: not running (`ecom stream start` starts it)")  # fmt: skip
    return 0 if states and all(w.up for w in states) else 1


# ---------------------------------------------------------------- status
def _status(args: argparse.Namespace) -> int:
    from ecom.status import check, model, report
    from stream_apps import configuration

    cfg = model.load()
    snap, findings = check.run(configuration.load(), cfg, wait_seconds=args.wait_caught_up)
    if args.json:
        print(json.dumps(report.report_dict(snap, findings), indent=2, default=str))
    else:
        print(report.format_report(snap, findings, cfg))
    return model.exit_code(findings)


# ---------------------------------------------------------------- replay
def _replay(args: argparse.Namespace) -> int:
    from ecom import replay
    from stream_apps import configuration

    target = replay.make_target(
        to_earliest=args.to_earliest, to_datetime=args.to_datetime, to_offset=args.to_offset or ()
    )
    tables = replay.validate_tables(args.table)
    if not args.dry_run and not args.yes and not sys.stdin.isatty():
        raise EcomError(
            f"replay would reset the committed offsets of group {args.group}",
            hint="re-run with --yes to confirm (or --dry-run to only see the plan)",
        )
    s = configuration.load()
    allow = args.dry_run or args.stop_workers
    plan = replay.plan_replay(
        s, args.group, tables, target, dry_run=args.dry_run, allow_members=allow
    )
    print(replay.format_plan(plan))
    if args.dry_run:
        if plan.members:
            print(f"note: group has active members: {', '.join(plan.members)}")
        replay.write_audit(s.base, plan)
        print("dry run: nothing changed")
        return 0
    if not args.yes:
        answer = input(f"Reset the offsets of group {args.group}? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            print("replay cancelled; nothing changed")
            return 1
    if plan.members and args.stop_workers:
        stopped = replay.stop_workers_and_wait(s, args.group)
        plan = replay.plan_replay(s, args.group, tables, target)  # offsets committed at stop
        plan.stopped_workers = stopped
        print(f"stopped {stopped} worker(s); plan recomputed:")
        print(replay.format_plan(plan))
    replay.apply_plan(s, plan)
    path = replay.write_audit(s.base, plan)
    print(f"reset {len(plan.partitions)} partition(s) of group {args.group}; audit: {path}")
    if plan.stopped_workers:
        print("restart the workers with `ecom stream start`")
    return 0


# ---------------------------------------------------------------- config
def _config_show(args: argparse.Namespace) -> int:
    data = load().as_dict(show_secrets=args.show_secrets)
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        width = max(len(k) for k in data)
        for key in sorted(data):
            print(f"{key:<{width}}  {data[key]}")
    return 0


# ---------------------------------------------------------------- demo
def _demo(args: argparse.Namespace) -> int:
    from ecom import demo

    if args.down:
        demo.down(load(), progress=Progress())
        return 0
    options = demo.DemoOptions(live_seconds=args.live_seconds, rate=args.rate, workers=args.workers)
    print(demo.run(load(), options, progress=Progress()))
    return 0


# ---------------------------------------------------------------- generate
def _generate_seed(args: argparse.Namespace) -> int:
    import datetime as dt

    from generator import SeedConfig, load_seed, today_utc_midnight

    anchor = (
        dt.datetime.combine(args.anchor_date, dt.time())
        if args.anchor_date
        else today_utc_midnight()
    )
    config = SeedConfig(
        scale=args.scale, seed=args.seed, dirty_rate=args.dirty_rate,
        truncate=args.truncate, anchor=anchor,
    )  # fmt: skip
    result = load_seed(load().source_dsn, config, progress=Progress())
    for table, n in result.rows.items():
        print(f"{table:<24} {n:>10,} rows")
    print(
        f"loaded {result.total_rows:,} rows (seed {config.seed}, anchor "
        f"{config.anchor.date()}) in {result.generate_seconds + result.load_seconds:.1f}s"
    )
    return 0


def _generate_live(args: argparse.Namespace) -> int:
    import signal
    import threading

    from generator import LiveConfig, run_live

    config = LiveConfig(
        rate=args.rate, duration=args.duration, seed=args.seed, dirty_rate=args.dirty_rate,
        report_every=args.report_every, connections=args.connections,
    )  # fmt: skip
    stop = threading.Event()
    signals = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in signals}
    progress = Progress()
    try:
        summary = run_live(
            load().source_dsn, config, stop=stop,
            on_report=lambda r: progress(
                f"{r.total_rows:,} row changes, {r.interval_rate:,.0f}/s now, "
                f"{r.overall_rate:,.0f}/s overall, {r.errors} rejected"
            ),
        )  # fmt: skip
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
        return 0
    print(f"stopped by {summary.stopped_by} after {summary.elapsed:.1f}s: "
          f"{summary.total_rows:,} row changes in {summary.transactions:,} transactions "
          f"({summary.rate:,.0f}/s), {summary.errors} rejected")  # fmt: skip
    for key, n in sorted(summary.changes.items()):
        table, kind = key.split(".")
        print(f"  {table:<24} {kind:<7} {n:>10,}")
    return 0


# ---------------------------------------------------------------- the parser
def _add_stack(groups: SubParsers) -> None:
    stack = add_command(groups, "stack", "run the local stack (Postgres, Kafka, Connect, MinIO)")
    cmds = stack.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    up = add_command(
        cmds, "up", "install (first time), start every component and wait until healthy"
    )
    up.set_defaults(func=_stack_up)
    down = add_command(cmds, "down", "stop every component (data is kept)")
    down.set_defaults(func=_stack_down)
    status = add_command(
        cmds, "status", "show each component up/down, version and port; exit 1 if any is down"
    )
    status.set_defaults(func=_stack_status)
    for p in (up, down, status):
        p.add_argument(
            "names", nargs="*", metavar="NAME", help="only these (postgres kafka connect minio)"
        )
    status.add_argument("--json", action="store_true", help="machine-readable output")
    p = add_command(cmds, "reset", "stop everything and delete all stack data")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.set_defaults(func=_stack_reset)
    p = add_command(cmds, "logs", "print the end of a component's log")
    p.add_argument("name", help="postgres, kafka, connect or minio")
    p.add_argument("-n", "--lines", type=int, default=50, help="how many lines (default 50)")
    p.set_defaults(func=_stack_logs)


def _add_db(groups: SubParsers) -> None:
    db = add_command(groups, "db", "source and gold databases")
    cmds = db.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(
        cmds, "init",
        "create the source schema, CDC tables, publication, replication role, "
        "the gold database and the gold loader role (idempotent)",
    )  # fmt: skip
    p.set_defaults(func=_db_init)


def _add_connectors(groups: SubParsers) -> None:
    conn = add_command(groups, "connectors", "Debezium connectors in Kafka Connect")
    cmds = conn.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(
        cmds, "apply", "validate and PUT every connector config in connectors/ (idempotent)"
    )
    p.set_defaults(func=_connectors_apply)
    p = add_command(cmds, "status", "connector and task state, with the error trace")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_connectors_status)


def _add_stream(groups: SubParsers) -> None:
    stream = add_command(
        groups, "stream", "Faust stream workers (CDC topics -> bronze and silver lake, silver topics)"
    )
    cmds = stream.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(cmds, "run", "run one worker in the foreground (Ctrl-C stops it)")
    p.set_defaults(func=_stream_run)
    p = add_command(cmds, "start", "start background workers (pid files and logs)")
    p.add_argument("--workers", type=int, default=1, help="how many workers (default 1)")
    p.add_argument(
        "--no-maintainer", action="store_true",
        help="do not start the lake maintainer, which compacts the day partitions the stream "
        "writes every ECOM_GOLD_LAKE_MAINTAIN_SECONDS (60); without it each commit gets "
        "slower as the tables' files pile up until `ecom lake optimize`",
    )  # fmt: skip
    p.set_defaults(func=_stream_start)
    p = add_command(cmds, "stop", "stop the background workers and the lake maintainer")
    p.set_defaults(func=_stream_stop)
    p = add_command(cmds, "status", "each worker up/down; exit 1 if none or any down")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_stream_status)


def _add_status(groups: SubParsers) -> None:
    p = add_command(
        groups, "status",
        "pipeline health: connector, slot, consumer lag, lake, gold, dead letters, workers",
        "Exit 0 when healthy; otherwise the sum of: 2 connector or task not "
        "RUNNING, 4 replication slot lost/missing/stalled/over ECOM_SLOT_LAG_WARN_BYTES, "
        "8 consumer lag over ECOM_STATUS_MAX_LAG or stuck, 16 a started stream worker down. "
        "1: the check itself failed (e.g. a component unreachable).",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="one JSON document")
    p.add_argument(
        "--wait-caught-up",
        type=float,
        metavar="SECONDS",
        help="first wait until no change is in flight; exit 1 after SECONDS",
    )
    p.set_defaults(func=_status)


def _add_replay(groups: SubParsers) -> None:
    p = add_command(
        groups, "replay",
        "reprocess changes by resetting a consumer group's committed offsets",
        "Moves a consumer group's committed offsets on the CDC topics (and, for the "
        "stream workers' group, the silver topics) of every source table, or those named "
        "by --table, back to the target, so the group processes those changes again. "
        "Refused while the group has members unless --stop-workers; prints the plan "
        "first (--dry-run stops there) and logs every run to <home>/logs/replay-audit.jsonl.",
    )  # fmt: skip
    p.add_argument("--group", required=True, help="consumer group, e.g. ecom-stream")
    p.add_argument(
        "--table", action="append", metavar="T", help="source table (repeatable; default all)"
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--to-earliest", action="store_true", help="the earliest retained offset")
    mode.add_argument("--to-datetime", metavar="ISO8601", help="first offset at/after a time")
    mode.add_argument(
        "--to-offset", nargs="+", metavar="P:O", help="offset O of partition P of every topic"
    )
    p.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--stop-workers", action="store_true", help="stop our stream workers first")
    p.set_defaults(func=_replay)


def _add_config(groups: SubParsers) -> None:
    cfg = add_command(groups, "config", "effective settings")
    cmds = cfg.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(cmds, "show", "print the effective settings (secrets masked)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--show-secrets", action="store_true", help="print credentials in clear")
    p.set_defaults(func=_config_show)


def _add_demo(groups: SubParsers) -> None:
    p = add_command(
        groups, "demo", "bring everything up and show a live change captured end to end"
    )
    p.add_argument("--down", action="store_true", help="stop everything the demo started")
    p.add_argument(
        "--live-seconds",
        type=float,
        default=10.0,
        help="seconds of live traffic to run (default 10; 0 skips it)",
    )
    p.add_argument(
        "--rate", type=float, default=200.0, help="live row changes per second (default 200)"
    )
    p.add_argument("--workers", type=int, default=1, help="stream workers to start (default 1)")
    p.set_defaults(func=_demo)


def _add_generate(groups: SubParsers) -> None:
    """`ecom generate seed|live` (the generator stage, package generator/)."""
    gen = add_command(groups, "generate", "synthetic source data: seed loads and live traffic")
    cmds = gen.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(
        cmds, "seed",
        "bulk-load the six source tables (scale 1.0 = 2.36M rows) in one transaction",
        "Bulk-loads the six source tables in one transaction. Identical output needs the "
        "same --seed AND the same --anchor-date.",
    )  # fmt: skip
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every count (default 1.0)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--dirty-rate", type=float, default=0.001, help="share of dirty values")
    p.add_argument("--truncate", action="store_true", help="empty the six tables first")
    p.add_argument(
        "--anchor-date", type=iso_date, default=None,
        help="orders fall in the two years before this UTC date (default: today, UTC)",
    )  # fmt: skip
    p.set_defaults(func=_generate_seed)
    p = add_command(cmds, "live", "apply realistic OLTP traffic until stopped (Ctrl-C)")
    p.add_argument("--rate", type=float, default=500.0, help="row changes per second (default 500)")
    p.add_argument("--duration", type=float, default=None, help="stop after S seconds")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    p.add_argument("--dirty-rate", type=float, default=0.001, help="share of dirty values")
    p.add_argument("--report-every", type=float, default=5.0, help="seconds between rate lines")
    p.add_argument("--connections", type=int, default=4,
                   help="concurrent sessions, each with its share of the rate (default 4)")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=_generate_live)


#: Each adds one command group, in the order `ecom --help` lists them.
GROUPS = (
    _add_stack, _add_db, _add_connectors, _add_stream, _add_status, _add_replay, _add_config,
    _add_demo, _add_generate, cli_gold.add_gold, cli_lake.add_lake, cli_gold.add_kpi,
    add_report, add_bench,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecom",
        description="Streaming CDC pipeline for e-commerce analytics "
        "(Postgres -> Debezium -> Kafka -> Faust -> MinIO lake -> gold).",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    groups = parser.add_subparsers(dest="group", metavar="COMMAND", required=True)
    for add_group in GROUPS:
        add_group(groups)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    log.configure(verbose=args.debug)
    handler: Handler = args.func
    try:
        return handler(args)
    except EcomError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # an unexpected bug: still one line unless --debug
        if args.debug:
            traceback.print_exc()
        else:
            logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(
            f"error: unexpected {type(exc).__name__}: {exc} (re-run with --debug for the trace)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
