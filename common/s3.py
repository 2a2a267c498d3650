"""The one place a MinIO (S3) client is built from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import SecretStr

from common.settings import Settings

if TYPE_CHECKING:
    from minio import Minio
    from pyarrow.fs import S3FileSystem


def minio_client(
    settings: Settings,
    *,
    read_timeout: float = 30.0,
    retries: int = 0,
    pool_size: int = 8,
    access_key: str | None = None,
    secret_key: SecretStr | None = None,
) -> Minio:
    """A client for the lake. ``retries`` are urllib3's own (0: the caller retries).

    Credentials default to the root user (ECOM_S3_*); the stream workers pass their
    own least-privilege user (see :func:`stream_client`). minio and urllib3 are imported
    here, not with the module: most commands that import it never build a client."""
    import urllib3
    from minio import Minio

    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=3.0, read=read_timeout),
        retries=urllib3.Retry(total=retries, backoff_factor=0.5),
        maxsize=pool_size,
    )
    return Minio(
        settings.s3_endpoint,
        access_key=access_key if access_key is not None else settings.s3_access_key,
        secret_key=(secret_key or settings.s3_secret_key).get_secret_value(),
        secure=False,
        http_client=http,
    )


def stream_client(settings: Settings, *, read_timeout: float = 30.0, retries: int = 0) -> Minio:
    """A client as the stream workers' MinIO user (ECOM_STREAM_S3_*): it may list, read
    and write objects in the lake buckets, and nothing else (see stack/minio.py)."""
    return minio_client(
        settings,
        read_timeout=read_timeout,
        retries=retries,
        access_key=settings.stream_s3_access_key,
        secret_key=settings.stream_s3_secret_key,
    )


def delta_storage_options(settings: Settings, *, stream: bool = False) -> dict[str, str]:
    """deltalake (delta-rs) storage options for the lake on MinIO, as the stream workers'
    user when ``stream``, else as the root user. ``conditional_put=etag`` makes a commit
    a put-if-absent of the log entry, which is what lets several workers commit to one
    table safely without a lock service."""
    return {
        "AWS_ENDPOINT_URL": f"http://{settings.s3_endpoint}",
        "AWS_ACCESS_KEY_ID": settings.stream_s3_access_key if stream else settings.s3_access_key,
        "AWS_SECRET_ACCESS_KEY": (
            settings.stream_s3_secret_key if stream else settings.s3_secret_key
        ).get_secret_value(),
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "conditional_put": "etag",
    }


def arrow_filesystem(settings: Settings, *, request_timeout: float = 30.0) -> S3FileSystem:
    """pyarrow's S3 filesystem on the lake, as the root user: its reads run in C++
    threads, for fetching many objects at once with less CPU than :class:`Minio`."""
    from pyarrow.fs import S3FileSystem

    return S3FileSystem(
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key.get_secret_value(),
        endpoint_override=settings.s3_endpoint,
        scheme="http",
        region="us-east-1",
        connect_timeout=3.0,
        request_timeout=request_timeout,
    )
