"""CPU of one delta-rs append as a table's files pile up, and what compaction or reopening
the table does to it.

Each variant appends ``--commits`` batches of 40 rows (one file each, with an application
transaction, as a stream worker commits) to a scratch table in the bench lake through one
long-lived ``DeltaTable``, and reports the mean process CPU per commit of every 50:
- ``none``: nothing else;
- ``compact``: every 50 commits, another handle compacts the table (what the lake
  maintainer does);
- ``reopen``: every 50 commits, the writer opens the table again from its latest checkpoint.

Usage: python -m bench.bench_delta_commit [--commits 300] [--variants none,compact,reopen]
(on the bench stack: ECOM_HOME and ports as `ecom bench` sets them). The scratch tables
are deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import time
import uuid

import pyarrow as pa

EVERY = 50


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument("--variants", default="none,compact,reopen")
    return ap.parse_args()


def rows(i: int) -> pa.Table:
    return pa.table({
        "partition": pa.array([i % 6] * 40, pa.int32()),
        "offset": pa.array(range(i * 40, i * 40 + 40), pa.int64()),
        "value": pa.array([b"x" * 300] * 40),
        "commit_date": pa.array([time.gmtime().tm_yday] * 40, pa.int32()),
    })  # fmt: skip


def run(variant: str, commits: int, uri: str, options: dict[str, str]) -> list[float]:
    from deltalake import (
        CommitProperties,
        DeltaTable,
        PostCommitHookProperties,
        Transaction,
        write_deltalake,
    )

    DeltaTable.create(uri, schema=rows(0).schema, partition_by=["commit_date"],
                      storage_options=options)  # fmt: skip
    dt = DeltaTable(uri, storage_options=options)
    hooks = PostCommitHookProperties(create_checkpoint=True, cleanup_expired_logs=False)
    cpu = []
    for i in range(commits):
        started = time.process_time()
        write_deltalake(
            dt, rows(i), mode="append", partition_by=["commit_date"], schema_mode="merge",
            commit_properties=CommitProperties(app_transactions=[Transaction("bench", i)]),
            post_commithook_properties=hooks,
        )  # fmt: skip
        cpu.append(time.process_time() - started)
        if (i + 1) % EVERY == 0:
            if variant == "compact":
                DeltaTable(uri, storage_options=options).optimize.compact(target_size=16 << 20)
            elif variant == "reopen":
                dt = DeltaTable(uri, storage_options=options)
    return [round(sum(cpu[k : k + EVERY]) / len(cpu[k : k + EVERY]) * 1000, 1)
            for k in range(0, commits, EVERY)]  # fmt: skip


def main() -> int:
    args = parse_args()
    from common.s3 import arrow_filesystem, delta_storage_options
    from common.settings import load

    settings = load()
    options, fs = delta_storage_options(settings), arrow_filesystem(settings)
    out = {}
    for variant in args.variants.split(","):
        path = f"{settings.bronze_bucket}/bench-commit-{variant}-{uuid.uuid4().hex[:8]}"
        try:
            out[variant] = run(variant, args.commits, f"s3://{path}", options)
        finally:
            fs.delete_dir(path)
        print(f"{variant}: mean CPU ms per commit, by {EVERY}: {out[variant]}", flush=True)
    print(json.dumps({"commits": args.commits, "every": EVERY, "cpu_ms_per_commit": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
