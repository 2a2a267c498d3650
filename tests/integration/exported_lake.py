"""A silver change-log made without the stream, for gold tests that need one fast.

Seeds the source, then writes its silver change-log with the bench-only exporter
(bench/silver_export.py) into a silver bucket of the test's own, next to an empty bronze
bucket of its own: running streams of other test modules write to the default buckets
and cannot touch it. ``env`` points `ecom gold ...` subprocesses at these buckets.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date

from bench import silver_export
from common.s3 import minio_client
from common.settings import Settings
from tests.integration.conftest import run_cli


@dataclass(frozen=True)
class ExportedLake:
    settings: Settings
    silver_bucket: str
    bronze_bucket: str
    export: silver_export.ExportResult

    @property
    def env(self) -> dict[str, str]:
        return {"ECOM_SILVER_BUCKET": self.silver_bucket, "ECOM_BRONZE_BUCKET": self.bronze_bucket}


def seed_and_export(
    settings: Settings, name: str, *, scale: float, seed: int, anchor: date,
    rows_per_file: int = 200_000, dirty_rate: float = 0.01,
) -> ExportedLake:  # fmt: skip
    res = run_cli(
        "generate", "seed", "--scale", str(scale), "--truncate", "--seed", str(seed),
        "--anchor-date", anchor.isoformat(), "--dirty-rate", str(dirty_rate),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    s3 = minio_client(settings)
    silver, bronze = f"{name}-silver", f"{name}-bronze"
    for bucket in (silver, bronze):
        silver_export.empty_bucket(s3, bucket)
    result = silver_export.export(settings, bucket=silver, rows_per_file=rows_per_file)
    return ExportedLake(settings, silver, bronze, result)


def drop(exported: ExportedLake) -> None:
    """Remove the test's buckets and everything in them."""
    s3 = minio_client(exported.settings)
    for bucket in (exported.silver_bucket, exported.bronze_bucket):
        silver_export.empty_bucket(s3, bucket)
        s3.remove_bucket(bucket)


@contextmanager
def rebuilt(
    settings: Settings, name: str, *, scale: float, seed: int, anchor: date, as_of: date,
    rows_per_file: int = 200_000, dirty_rate: float = 0.01,
) -> Iterator[ExportedLake]:  # fmt: skip
    """A lake exported from a seed anchored at ``anchor``, with gold rebuilt from it as of
    ``as_of`` (today or later: the lake is read as it was at the end of that day);
    dropped afterwards."""
    exported = seed_and_export(settings, name, scale=scale, seed=seed, anchor=anchor,
                               rows_per_file=rows_per_file, dirty_rate=dirty_rate)  # fmt: skip
    try:
        res = run_cli("gold", "rebuild", "--as-of", as_of.isoformat(), env=exported.env)
        assert res.returncode == 0, res.stderr
        yield exported
    finally:
        drop(exported)
