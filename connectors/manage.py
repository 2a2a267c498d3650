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
from dataclasses import asdict, dataclass, field
from importlib import resources
from typing import Any

from common.connect import ConnectClient, ConnectRequestFailed
from common.errors import ConfigError
from common.progress import SILENT, Reporter
from common.retry import poll
from common.settings import Settings
from connectors.exceptions import ConnectorConfigInvalid, ConnectorFailed

log = logging.getLogger(__name__)

PLACEHOLDER = re.compile(r"\$\{ecom:([a-z_]+)\}")


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
def _client(settings: Settings) -> ConnectClient:
    return ConnectClient(settings.connect_url)


def validate(settings: Settings, definition: dict[str, Any]) -> list[str]:
    """Connect's own validation; returns '<key>: <error>' lines (empty when valid)."""
    config = dict(definition["config"], name=definition["name"])
    plugin = config["connector.class"].rsplit(".", 1)[-1]
    try:
        body = _client(settings).validate(plugin, config)
    except ConnectRequestFailed as exc:
        return [f"validation request failed ({exc.status}): {exc.connect_message}"]
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
    client = _client(settings)
    current = client.config(name)
    if current is not None:
        current = {k: v for k, v in current.items() if k != "name"}
        if current == definition["config"]:
            # Re-PUTting an identical config makes Connect restart the connector.
            progress(f"connector {name}: config unchanged")
            wait_running(settings, name, wait_seconds)
            return
    try:
        created = client.put_config(name, definition["config"])
    except ConnectRequestFailed as exc:
        raise ConnectorConfigInvalid(
            f"Connect refused connector {name} ({exc.status}): {exc.connect_message}"
        ) from exc
    progress(f"connector {name}: config {'created' if created else 'updated'}; waiting for RUNNING")
    wait_running(settings, name, wait_seconds)
    progress(f"connector {name}: RUNNING")


def apply_all(settings: Settings, progress: Reporter = SILENT) -> list[str]:
    names = definition_names()
    for name in names:
        apply(settings, name, progress)
    return names


def state(settings: Settings, name: str) -> ConnectorState:
    body = _client(settings).status(name)
    if body is None:
        return ConnectorState(name=name, state="NOT_REGISTERED")
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


def _not_failed(current: ConnectorState) -> ConnectorState:
    """``current``, unless the connector or a task FAILED (then ConnectorFailed)."""
    if current.state == "FAILED" or any(t["state"] == "FAILED" for t in current.tasks):
        first = current.trace.strip().splitlines()[0] if current.trace.strip() else "no trace"
        raise ConnectorFailed(
            f"connector {current.name} FAILED: {first}",
            hint="`ecom connectors status` shows the full trace",
        )
    return current


def wait_running(settings: Settings, name: str, timeout: float) -> ConnectorState:
    """Poll the connector's state until it and its tasks are RUNNING; a FAILED one raises
    at once, and Connect's transient refusals (a rebalance after the PUT) are waited out."""

    def late(current: ConnectorState) -> ConnectorFailed:
        return ConnectorFailed(
            f"connector {name} not RUNNING after {timeout:.0f}s (state {current.state}, "
            f"tasks {[t['state'] for t in current.tasks]})",
            hint="see `ecom connectors status` and `ecom stack logs connect`",
        )

    return poll(
        lambda: _not_failed(state(settings, name)),
        lambda current: current.healthy,
        timeout=timeout,
        interval=1.0,
        on_timeout=late,
        retry_transient_errors=True,
    )


def status_all(settings: Settings) -> list[ConnectorState]:
    return [state(settings, name) for name in definition_names()]
