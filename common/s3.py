"""The one place a MinIO (S3) client is built from the settings."""

from __future__ import annotations

import urllib3
from minio import Minio

from common.settings import Settings


def minio_client(
    settings: Settings, *, read_timeout: float = 30.0, retries: int = 0, pool_size: int = 8
) -> Minio:
    """A client for the lake. ``retries`` are urllib3's own (0: the caller retries)."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=3.0, read=read_timeout),
        retries=urllib3.Retry(total=retries, backoff_factor=0.5),
        maxsize=pool_size,
    )
    return Minio(
        settings.s3_endpoint,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        secure=False,
        http_client=http,
    )
