"""``ecom lake ...``: the bronze and silver Delta tables: maintenance and inspection.

Thin handlers over :mod:`compaction.lake`; the formatting of what they print is here.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from typing import Any

from common.errors import EcomError
from common.progress import Progress
from ecom.cli_args import SubParsers, add_command
from schemas import SOURCE_TABLES


def _lake() -> Any:
    from common.settings import load
    from compaction.lake import Lake

    return Lake(load())


def _gold_settings() -> Any:
    from compaction import configuration

    return configuration.load()


def _table(name: str) -> str:
    if name not in SOURCE_TABLES:
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a lake table (one of {', '.join(SOURCE_TABLES)})"
        )
    return name


def _maintenance_lock(gs: Any, args: argparse.Namespace) -> Any:
    from compaction.rebuild import lake_lock

    return lake_lock(gs, wait=args.wait_lock)


def _optimize(args: argparse.Namespace) -> int:
    lake, gs, progress = _lake(), _gold_settings(), Progress()
    target = args.target_mb * 1024 * 1024 if args.target_mb else gs.lake_target_file_bytes
    with _maintenance_lock(gs, args):
        for ref in lake.refs(args.table):
            stats = lake.optimize(ref, target)
            if stats is None:
                progress(f"{ref}: no table yet")
                continue
            progress(
                f"{ref}: {stats.get('numFilesRemoved', 0):,} files compacted into "
                f"{stats.get('numFilesAdded', 0):,}; log checkpointed"
            )
    return 0


def _vacuum(args: argparse.Namespace) -> int:
    lake, gs, progress = _lake(), _gold_settings(), Progress()
    hours = gs.lake_vacuum_retention_hours if args.retention is None else args.retention
    if hours < 0:
        raise EcomError(f"--retention {hours} is negative", hint="give hours, e.g. 168")
    total = 0
    with _maintenance_lock(gs, args):
        for ref in lake.refs(args.table):
            removed = lake.vacuum(ref, hours)
            if removed is None:
                continue
            total += len(removed)
            progress(f"{ref}: {len(removed):,} unreferenced files older than {hours:g} h deleted")
    print(f"vacuum: {total:,} files deleted (time travel now reaches back {hours:g} hours)")
    return 0


def _history(args: argparse.Namespace) -> int:
    from schemas import lake as layout

    lake = _lake()
    ref = lake.ref(args.layer or layout.SILVER, args.table)
    commits = lake.history(ref, args.limit)
    if args.json:
        print(json.dumps([_commit_json(c) for c in commits], indent=2))
        return 0
    print(f"{ref}: {len(commits)} newest commits")
    print(f"{'version':>7}  {'committed (UTC)':<19}  {'operation':<9}  {'rows':>8}  "
          f"{'files +/-':>9}  topic partitions: offsets")  # fmt: skip
    for c in commits:
        offsets = " ".join(f"{p}:{a}-{b}" for p, (a, b) in sorted((c.offsets or {}).items()))
        files = f"+{c.files_added or 0}/-{c.files_removed or 0}"
        rows = "" if c.rows_added is None else f"{c.rows_added:,}"
        print(
            f"{c.version:>7}  {c.timestamp:%Y-%m-%d %H:%M:%S}  {c.operation:<9}  {rows:>8}  "
            f"{files:>9}  {(c.topic or '') + ' ' + offsets if offsets else ''}"
        )
    return 0


def _commit_json(c: Any) -> dict[str, Any]:
    return {
        "version": c.version,
        "timestamp": c.timestamp.isoformat(),
        "operation": c.operation,
        "rows_added": c.rows_added,
        "files_added": c.files_added,
        "files_removed": c.files_removed,
        "topic": c.topic,
        "offsets": c.offsets,
    }


def _files(args: argparse.Namespace) -> int:
    lake = _lake()
    infos = [lake.info(ref) for ref in lake.refs(args.table)]
    if args.json:
        print(json.dumps([_info_json(i) for i in infos], indent=2))
        return 0
    print(f"{'layer':<7} {'table':<24} {'version':>7} {'files':>7} {'MiB':>9} "
          f"{'days':>5} {'max files/day':>13}")  # fmt: skip
    for i in infos:
        if not i.exists:
            print(f"{i.ref.layer:<7} {i.ref.table:<24} {'-':>7} (no table yet)")
            continue
        most = max(i.files_per_day.values(), default=0)
        print(
            f"{i.ref.layer:<7} {i.ref.table:<24} {i.version:>7} {i.files:>7,} "
            f"{i.bytes / 1048576:>9.1f} {len(i.files_per_day):>5} {most:>13,}"
        )
    return 0


def _info_json(i: Any) -> dict[str, Any]:
    return {
        "layer": i.ref.layer,
        "table": i.ref.table,
        "uri": i.ref.uri,
        "exists": i.exists,
        "version": i.version,
        "last_commit": i.last_commit.isoformat() if i.last_commit else None,
        "files": i.files,
        "bytes": i.bytes,
        "files_per_day": {d.isoformat(): n for d, n in sorted(i.files_per_day.items())},
    }


def _maintain(args: argparse.Namespace) -> int:
    from compaction import maintainer

    gs = _gold_settings()
    if args.once:
        maintainer.run(gs, once=True, progress=Progress())
        return 0
    print(f"compacting the newest {gs.lake_recent_days} day partitions every "
          f"{gs.lake_maintain_seconds:g}s (Ctrl-C stops)")  # fmt: skip
    with contextlib.suppress(KeyboardInterrupt):
        maintainer.run(gs, progress=Progress())
    return 0


def _wait_lock_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--wait-lock", type=float, default=0.0, metavar="S",
        help="seconds to wait while another optimize or vacuum runs (default 0: fail at once)",
    )  # fmt: skip


def add_lake(groups: SubParsers) -> None:
    """``ecom lake optimize|vacuum|maintain|history|files``."""
    lake = add_command(
        groups,
        "lake",
        "the bronze and silver Delta tables: compact, vacuum, history, files",
        "Maintain and inspect the lake's Delta tables (s3://<bucket>/<table>).",
    )
    cmds = lake.add_subparsers(dest="cmd", metavar="ACTION", required=True)
    p = add_command(
        cmds,
        "optimize",
        "compact small files into large ones (Delta optimize) and checkpoint the log",
        "Compact each table's small files per day partition into files of about the "
        "target size, in both layers, then write a log checkpoint. Safe while the stream "
        "runs; one optimize or vacuum runs at a time (two compactions of the same files "
        "would both commit and leave every row twice). Default: every table.",
    )
    p.add_argument("table", nargs="?", type=_table, help="one table (default: all six)")
    p.add_argument(
        "--target-mb", type=int, default=None, metavar="MB",
        help="target file size (default ECOM_GOLD_LAKE_TARGET_FILE_MB)",
    )  # fmt: skip
    _wait_lock_option(p)
    p.set_defaults(func=_optimize)
    p = add_command(
        cmds,
        "vacuum",
        "delete data files no longer referenced, older than the retention",
        "Delete the data files that no table version within the retention needs (the "
        "ones compaction replaced), and expired log entries. Time travel (`ecom gold "
        "rebuild --as-of`) reaches back as far as the retention.",
    )
    p.add_argument("table", nargs="?", type=_table, help="one table (default: all six)")
    p.add_argument(
        "--retention", type=float, default=None, metavar="H",
        help="hours of history to keep (default ECOM_GOLD_LAKE_VACUUM_RETENTION_HOURS, 168)",
    )  # fmt: skip
    _wait_lock_option(p)
    p.set_defaults(func=_vacuum)
    p = add_command(
        cmds,
        "maintain",
        "compact the day partitions the stream writes, every minute (foreground)",
        "Compact the newest ECOM_GOLD_LAKE_RECENT_DAYS (2) day partitions of every table "
        "into files of ECOM_GOLD_LAKE_RECENT_TARGET_FILE_MB (16), every "
        "ECOM_GOLD_LAKE_MAINTAIN_SECONDS (60), under the same lock as optimize and vacuum "
        "(a round that finds it taken is skipped). `ecom stream start` runs this in the "
        "background.",
    )
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.set_defaults(func=_maintain)
    p = add_command(
        cmds,
        "history",
        "a table's commits, with the topic partitions and offsets each one covers",
    )
    p.add_argument("table", type=_table, help="the source table")
    p.add_argument("--layer", choices=("bronze", "silver"), default=None,
                   help="which layer (default silver)")  # fmt: skip
    p.add_argument("--limit", type=int, default=20, help="newest N commits (default 20)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_history)
    p = add_command(cmds, "files", "data files and bytes per table and layer")
    p.add_argument("table", nargs="?", type=_table, help="one table (default: all six)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_files)
