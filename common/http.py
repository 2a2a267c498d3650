"""Plain HTTP to the local services: one urllib3 pool, time-outs on every call, no
hidden retries (callers decide, see :mod:`common.retry`).

Kafka Connect's REST API has its own client on top of this (:mod:`common.connect`);
the stream workers' ``/metrics`` pages and MinIO's health probe use :func:`get_text`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import urllib3

from common.errors import TransientError

_pool: urllib3.PoolManager | None = None
_pool_lock = threading.Lock()


class HttpUnavailable(TransientError):
    """The server did not answer (refused, reset, timed out), or answered an error page
    where text was expected; ``reason`` says which, briefly."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def pool() -> urllib3.PoolManager:
    """The process's one connection pool (built on first use, shared by threads)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = urllib3.PoolManager(maxsize=8, retries=False)
        return _pool


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> urllib3.BaseHTTPResponse:
    """One request; the response whatever its status. :class:`HttpUnavailable` when the
    server cannot be reached or does not answer within ``timeout`` seconds."""
    try:
        return pool().request(
            method,
            url,
            body=body,
            headers=headers,
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            redirect=False,
        )
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        reason = _reason(exc, timeout)
        raise HttpUnavailable(f"{method} {url} did not answer ({reason})", reason=reason) from exc


def get_text(url: str, *, timeout: float = 3.0) -> str:
    """The body of a GET answered with 200, as text (a ``/metrics`` page, a health
    probe); :class:`HttpUnavailable` for no answer or any other status."""
    resp = request("GET", url, timeout=timeout)
    if resp.status != 200:
        reason = f"HTTP {resp.status}"
        raise HttpUnavailable(f"GET {url} answered {reason}", reason=reason)
    return resp.data.decode("utf-8", errors="replace")


def _reason(exc: BaseException, timeout: float) -> str:
    """Why there was no answer, briefly: the socket error urllib3 wraps (e.g. 'Connection
    refused'), or the time-out."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, OSError) and cause.strerror:
            return cause.strerror
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return f"no answer within {timeout:g}s"
    return " ".join(str(exc).split())


def json_body(data: bytes) -> Any:
    """A response body as JSON; None when it is empty or not JSON."""
    if not data:
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


def error_message(decoded: Any, data: bytes, keys: tuple[str, ...] = ("message",)) -> str:
    """What a REST service said about an error: the first of ``keys`` present in its JSON
    body, else the body as text (first 300 characters), whitespace collapsed."""
    if isinstance(decoded, dict):
        for key in keys:
            if decoded.get(key):
                return " ".join(str(decoded[key]).split())
    text = " ".join(data.decode("utf-8", errors="replace").split())
    return text[:300] or "no message"
