"""Lake access for the nightly job: list, download, upload and delete objects in MinIO.

Every lake object key is parsed with :func:`schemas.lake.parse_key`; objects whose key
does not parse are not part of the lake and are left alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import urllib3
from minio import Minio
from minio.error import S3Error

from common.s3 import minio_client
from common.settings import Settings
from compaction.exceptions import LakeReadFailed, LakeUnavailable
from schemas import lake

T = TypeVar("T")


def client(settings: Settings) -> Minio:
    """The rebuild's client: long reads for large objects, a few quick retries."""
    return minio_client(settings, read_timeout=120.0, retries=3, pool_size=16)


@dataclass(frozen=True)
class LakeObject:
    name: str
    key: lake.ObjectKey
    size: int


def _guard(what: str, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except S3Error as exc:
        raise LakeReadFailed(
            f"{what}: {exc.code}: {exc.message}", hint="check ECOM_S3_* settings and the buckets"
        ) from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise LakeUnavailable(f"{what}: {exc}", hint="is MinIO up? (`ecom stack status`)") from exc


def list_table(s3: Minio, bucket: str, table: str) -> list[LakeObject]:
    """Every lake object of ``table`` in ``bucket``, in key order."""

    def run() -> list[LakeObject]:
        out = []
        for obj in s3.list_objects(bucket, prefix=lake.table_prefix(table), recursive=True):
            name = obj.object_name or ""
            try:
                key = lake.parse_key(name)
            except ValueError:
                continue
            if key.table == table:
                out.append(LakeObject(name, key, int(obj.size or 0)))
        return sorted(out, key=lambda o: o.name)

    return _guard(f"list s3://{bucket}/{table}/", run)


def download(
    s3: Minio, bucket: str, objects: Sequence[LakeObject], folder: Path, workers: int
) -> list[Path]:
    """Download ``objects`` into ``folder`` (flat, one file each); returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)

    def one(item: tuple[int, LakeObject]) -> Path:
        i, obj = item
        path = folder / f"{i:08d}.parquet"
        _guard(f"get s3://{bucket}/{obj.name}", lambda: s3.fget_object(bucket, obj.name, str(path)))
        return path

    return _parallel(one, list(enumerate(objects)), workers)


def upload(s3: Minio, bucket: str, name: str, path: Path) -> None:
    _guard(
        f"put s3://{bucket}/{name}",
        lambda: s3.fput_object(
            bucket, name, str(path), content_type="application/vnd.apache.parquet"
        ),
    )


def remove(s3: Minio, bucket: str, names: Sequence[str], workers: int) -> None:
    def one(name: str) -> None:
        _guard(f"delete s3://{bucket}/{name}", lambda: s3.remove_object(bucket, name))

    _parallel(one, list(names), workers)


def _parallel(fn: Callable[[Any], T], items: list[Any], workers: int) -> list[T]:
    if len(items) <= 1 or workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(fn, items))
