"""Apply and inspect connector definitions through Kafka Connect's REST API.

Each connector is one JSON file ``connectors/<name>.json`` of the form
``{"name": ..., "config": {...}}``. Values may hold ``${ecom:<setting>}``
placeholders, filled from the effective settings when applied, so no host, port
or credential is written into the file. (Connect's own ``${env:...}`` provider is
also enabled on the worker, for deployments that prefer it.)
"""

from __future__ import annotations

import json
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from common.errors import ConfigError
from common.progress import SILENT, Reporter
from common.settings import Settings
from connectors.exceptions import ConnectorConfigInvalid, ConnectorFailed, ConnectUnavailable

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\$\{ecom:([a-z_]+)\}")
SECRET_KEYS = ("password",)


@dataclass(frozen=True)
class ConnectorState:
    name: str
    state: str
    tasks: list[dict[str, str]] = field(default_factory=list)
    trace: str = ""

    @property
    def healthy(self) -> bool:
        return (
            self.state == "RUNNING"
            and bool(self.tasks)
            and all(t.get("state") == "RUNNING" for t in self.tasks)
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(asdict(self), healthy=self.healthy)


# ---------------------------------------------------------------- definitions
def definition_names() -> list[str]:
    files = resources.files(__package__)
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".json"))


def render(raw: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Fill ``${ecom:setting}`` placeholders; unknown names are a clear error."""
    values = settings.as_dict(show_secrets=True)

    def fill(text: str) -> str:
        def one(m: re.Match[str]) -> str:
            key = m.group(1)
            if key not in values:
                raise ConfigError(
                    f"connector {raw.get('name')!r} uses unknown placeholder ${{ecom:{key}}}",
                    hint="use a key listed by `ecom config show`",
                )
            return str(values[key])

        return PLACEHOLDER.sub(one, text)

    config = {k: fill(str(v)) for k, v in raw["config"].items()}
    return {"name": raw["name"], "config": config}


def load_definition(name: str, settings: Settings) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(f"{name}.json").read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"connectors/{name}.json is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or set(raw) != {"name", "config"}:
        raise ConfigError(f"connectors/{name}.json must be an object with only 'name' and 'config'")
    return render(raw, settings)


# ---------------------------------------------------------------- REST
def _request(
    settings: Settings, method: str, path: str, body: Any = None, timeout: float = 30.0
) -> tuple[int, Any]:
    url = settings.connect_url + path
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (configured URL)
            payload = resp.read()
            return resp.status, json.loads(payload) if payload else None
    except urllib.error.HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload) if payload else None
        except json.JSONDecodeError:
            return exc.code, {"message": payload.decode(errors="replace")}
    except (urllib.error.URLError, OSError) as exc:
        raise ConnectUnavailable(
            f"Kafka Connect at {settings.connect_url} did not answer ({exc})",
            hint="start it with `ecom stack up`; `ecom stack logs connect` shows why it is down",
        ) from exc


def validate(settings: Settings, definition: dict[str, Any]) -> list[str]:
    """Connect's own validation; returns '<key>: <error>' lines (empty when valid)."""
    config = dict(definition["config"], name=definition["name"])
    plugin = config["connector.class"].rsplit(".", 1)[-1]
    code, body = _request(
        settings,
        "PUT",
        f"/connector-plugins/{urllib.parse.quote(plugin)}/config/validate",
        config,
        timeout=60,
    )
    if code >= 400:
        return [f"validation request failed ({code}): {(body or {}).get('message', body)}"]
    errors = []
    for item in (body or {}).get("configs") or []:
        value = item.get("value") or {}
        for err in value.get("errors") or []:
            errors.append(f"{value.get('name')}: {err}")
    return errors


def apply(
    settings: Settings, name: str, progress: Reporter = SILENT, wait_seconds: float = 90.0
) -> None:
    apply_definition(settings, load_definition(name, settings), progress, wait_seconds)


def apply_definition(
    settings: Settings,
    definition: dict[str, Any],
    progress: Reporter = SILENT,
    wait_seconds: float = 90.0,
) -> None:
    """Validate with Connect, then create or update the connector and wait for RUNNING."""
    name = definition["name"]
    errors = validate(settings, definition)
    if errors:
        raise ConnectorConfigInvalid(
            f"connector {name} rejected by Connect's validation: " + "; ".join(errors),
            hint=f"fix connectors/{name}.json or the settings it uses (`ecom config show`)",
        )
    path = f"/connectors/{urllib.parse.quote(name)}/config"
    code, current = _request(settings, "GET", path)
    if code == 200 and isinstance(current, dict):
        current = {k: v for k, v in current.items() if k != "name"}
        if current == definition["config"]:
            # Re-PUTting an identical config makes Connect restart the connector.
            progress(f"connector {name}: config unchanged")
            wait_running(settings, name, wait_seconds)
            return
    code, body = _request(settings, "PUT", path, definition["config"])
    if code >= 400:
        raise ConnectorConfigInvalid(
            f"Connect refused connector {name} ({code}): {(body or {}).get('message', body)}"
        )
    progress(
        f"connector {name}: config {'created' if code == 201 else 'updated'}; waiting for RUNNING"
    )
    wait_running(settings, name, wait_seconds)
    progress(f"connector {name}: RUNNING")


def apply_all(settings: Settings, progress: Reporter = SILENT) -> list[str]:
    names = definition_names()
    for name in names:
        apply(settings, name, progress)
    return names


def state(settings: Settings, name: str) -> ConnectorState:
    code, body = _request(settings, "GET", f"/connectors/{urllib.parse.quote(name)}/status")
    if code == 404:
        return ConnectorState(name=name, state="NOT_REGISTERED")
    if code >= 400:
        raise ConnectUnavailable(f"status of connector {name} failed ({code}): {body}")
    tasks = [
        {"id": str(t.get("id")), "state": t.get("state", "?"), "worker": t.get("worker_id", "")}
        for t in body.get("tasks", [])
    ]
    traces = [body.get("connector", {}).get("trace", "")] + [
        t.get("trace", "") for t in body.get("tasks", [])
    ]
    return ConnectorState(
        name=name,
        state=body.get("connector", {}).get("state", "?"),
        tasks=tasks,
        trace="\n".join(t for t in traces if t),
    )


def wait_running(settings: Settings, name: str, timeout: float) -> ConnectorState:
    deadline = time.monotonic() + timeout
    current = state(settings, name)
    while not current.healthy:
        failed = current.state == "FAILED" or any(t["state"] == "FAILED" for t in current.tasks)
        if failed:
            first = current.trace.strip().splitlines()[0] if current.trace.strip() else "no trace"
            raise ConnectorFailed(
                f"connector {name} FAILED: {first}",
                hint="`ecom connectors status` shows the full trace",
            )
        if time.monotonic() > deadline:
            raise ConnectorFailed(
                f"connector {name} not RUNNING after {timeout:.0f}s (state {current.state}, "
                f"tasks {[t['state'] for t in current.tasks]})",
                hint="see `ecom connectors status` and `ecom stack logs connect`",
            )
        time.sleep(1.0)
        current = state(settings, name)
    return current


def status_all(settings: Settings) -> list[ConnectorState]:
    return [state(settings, name) for name in definition_names()]


def format_status(states: list[ConnectorState]) -> str:
    lines = []
    for s in states:
        tasks = ", ".join(f"task {t['id']} {t['state']}" for t in s.tasks) or "no tasks"
        lines.append(f"{s.name}: {s.state} ({tasks})")
        if s.trace:
            lines.append("  trace:")
            lines.extend("    " + line for line in s.trace.strip().splitlines()[:40])
    return "\n".join(lines)
