"""Kafka Connect's REST API: the one client every caller uses (the stack's health
check, ``ecom connectors``, ``ecom status``, the benchmarks and the tests).

Failures are typed by what the caller can do about them:

* :class:`ConnectUnavailable` (transient): Connect did not answer; start the stack.
* :class:`ConnectBusy` (transient): Connect answered 409 (its group is rebalancing) or
  a 5xx (a request timed out inside the worker); the same request may succeed soon.
* :class:`ConnectRequestFailed` (terminal): any other 4xx, with Connect's own message;
  :class:`ConnectNotFound` for a 404, which callers often treat as "not registered".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from common import http
from common.errors import TerminalError, TransientError

START_HINT = "start it with `ecom stack up`; `ecom stack logs connect` shows why it is down"


class ConnectUnavailable(TransientError):
    """The Kafka Connect REST API did not answer."""


class ConnectBusy(TransientError):
    """Connect answered 409 (rebalancing) or a server error: retry later."""

    def __init__(self, message: str, *, status: int, connect_message: str) -> None:
        super().__init__(message, hint="retry in a moment; `ecom stack logs connect` shows why")
        self.status = status
        self.connect_message = connect_message


class ConnectRequestFailed(TerminalError):
    """Connect refused a request (4xx); ``connect_message`` is its own explanation."""

    def __init__(self, message: str, *, status: int, connect_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.connect_message = connect_message


class ConnectNotFound(ConnectRequestFailed):
    """404: no such connector (or plugin)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: Any  # decoded JSON, or None for an empty body


@dataclass(frozen=True)
class ConnectClient:
    """Client of one Connect worker at ``url`` (e.g. ``http://127.0.0.1:8083``)."""

    url: str
    timeout: float = 30.0

    # ------------------------------------------------------------ transport
    def request(
        self, method: str, path: str, body: Any = None, *, timeout: float | None = None
    ) -> Response:
        """One call; the decoded answer of a 2xx, a typed error otherwise (module doc)."""
        try:
            resp = http.request(
                method,
                self.url + path,
                body=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": "application/json", "Accept": "application/json"},
                timeout=timeout if timeout is not None else self.timeout,
            )
        except http.HttpUnavailable as exc:
            raise ConnectUnavailable(
                f"Kafka Connect at {self.url} did not answer ({exc.reason})", hint=START_HINT
            ) from exc
        decoded = http.json_body(resp.data)
        if resp.status < 400:
            return Response(resp.status, decoded)
        said = http.error_message(decoded, resp.data)
        what = f"Kafka Connect refused {method} {path} ({resp.status}): {said}"
        if resp.status == 409 or resp.status >= 500:
            raise ConnectBusy(what, status=resp.status, connect_message=said)
        error = ConnectNotFound if resp.status == 404 else ConnectRequestFailed
        raise error(what, status=resp.status, connect_message=said)

    # ------------------------------------------------------------ the worker
    def root(self) -> dict[str, Any]:
        """The worker's version and commit."""
        return dict(self.request("GET", "/").body or {})

    def plugin_classes(self) -> set[str]:
        """Class names of the connector plugins the worker loaded."""
        plugins = self.request("GET", "/connector-plugins").body or []
        return {str(p.get("class", "")) for p in plugins if isinstance(p, dict)}

    def validate(self, plugin: str, config: dict[str, Any], *, timeout: float = 60.0) -> Any:
        """Connect's validation of ``config`` for connector plugin ``plugin`` (short name)."""
        path = f"/connector-plugins/{quote(plugin)}/config/validate"
        return self.request("PUT", path, config, timeout=timeout).body

    # ------------------------------------------------------------ connectors
    def config(self, name: str) -> dict[str, Any] | None:
        """The connector's current config, or None when it is not registered."""
        try:
            return dict(self.request("GET", _connector(name, "/config")).body or {})
        except ConnectNotFound:
            return None

    def put_config(self, name: str, config: dict[str, Any]) -> bool:
        """Create or update the connector; True when it was created."""
        return self.request("PUT", _connector(name, "/config"), config).status == 201

    def status(self, name: str) -> dict[str, Any] | None:
        """Connector and task states (with traces), or None when it is not registered."""
        try:
            return dict(self.request("GET", _connector(name, "/status")).body or {})
        except ConnectNotFound:
            return None

    def delete(self, name: str) -> bool:
        """Delete the connector; False when there was none."""
        try:
            self.request("DELETE", _connector(name))
        except ConnectNotFound:
            return False
        return True

    def pause(self, name: str) -> None:
        self.request("PUT", _connector(name, "/pause"))

    def resume(self, name: str) -> None:
        self.request("PUT", _connector(name, "/resume"))


def _connector(name: str, tail: str = "") -> str:
    return f"/connectors/{quote(name, safe='')}{tail}"
