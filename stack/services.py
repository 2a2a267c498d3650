"""Stack operations: up, down, status, reset, logs. The core never prints; it reports
progress through a callback and returns data the CLI formats."""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass

from common import process
from common.progress import SILENT, Reporter
from common.retry import poll
from common.settings import Settings
from stack import install
from stack.component import Health
from stack.components import NAMES, ORDER, Component, Connect, Minio, Postgres, by_name
from stack.exceptions import StackError, StartFailed

START_TIMEOUT = {
    "postgres": 90.0, "kafka": 120.0, "connect": 180.0, "minio": 60.0, "registry": 150.0,
}  # fmt: skip


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    up: bool
    pid: int | None
    version: str
    endpoint: str
    detail: str

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _selected(settings: Settings, names: list[str] | None) -> list[Component]:
    if not names:
        return [cls(settings) for cls in ORDER]
    wanted = [by_name(settings, n) for n in names]  # validates names
    return [c for c in (cls(settings) for cls in ORDER) if c.name in {w.name for w in wanted}]


def up(
    settings: Settings, names: list[str] | None = None, progress: Reporter = SILENT
) -> list[ComponentStatus]:
    """Install (first time), start and wait for each component; idempotent."""
    settings.home.mkdir(parents=True, exist_ok=True)
    progress(f"state folder {settings.home}; download cache {settings.cache}")
    inst = install.ensure_all(settings, progress)
    comps = _selected(settings, names)
    for i, comp in enumerate(comps, 1):
        progress(f"[{i}/{len(comps)}] {comp.name}")
        _start_one(comp, inst, progress)
        if isinstance(comp, Postgres):
            comp.ensure_databases()
        if isinstance(comp, Minio):
            made = comp.ensure_buckets()
            if made:
                progress(f"  created buckets {', '.join(made)}")
            policy = comp.ensure_stream_user()
            progress(f"  stream user {settings.stream_s3_access_key}: policy {policy}")
    return status(settings, names)


def _start_one(comp: Component, inst: install.Installed, progress: Reporter) -> None:
    if comp.pid() is not None and comp.health().up:
        comp.refresh(inst)
        progress(f"  {comp.name} already running on port {comp.port}")
        return
    if comp.pid() is None:
        comp.check_port_free()
        comp.prepare(inst)
        t0 = time.monotonic()
        comp.start(inst)
    else:
        t0 = time.monotonic()  # started earlier, still warming up
    limit = START_TIMEOUT[comp.name]

    def running_health() -> Health:
        """The component's health, unless its process has exited (then StartFailed)."""
        health = comp.health()
        if not health.up and comp.pid() is None:
            raise StartFailed(
                f"{comp.name} exited during startup: {comp.recent_log() or 'no log output'}",
                hint=f"see `ecom stack logs {comp.name}`",
            )
        return health

    last = poll(
        running_health,
        lambda health: health.up,
        timeout=max(0.0, t0 + limit - time.monotonic()),
        interval=0.5,
        on_timeout=lambda health: StartFailed(
            f"{comp.name} did not become healthy within {limit:.0f}s ({health.detail})",
            hint=f"see `ecom stack logs {comp.name}`; `ecom stack down` stops the rest",
        ),
    )
    progress(f"  {comp.name} up in {time.monotonic() - t0:.1f}s ({last.version})")


def down(settings: Settings, names: list[str] | None = None, progress: Reporter = SILENT) -> None:
    """Stop components in reverse dependency order; data is kept."""
    for comp in reversed(_selected(settings, names)):
        if comp.pid() is None:
            progress(f"{comp.name}: not running")
            continue
        progress(f"stopping {comp.name}")
        comp.stop()
    progress("stopped")


def kill(settings: Settings, names: list[str], progress: Reporter = SILENT) -> list[str]:
    """kill -9 the named components (a crash, for failure drills); data kept. `up` restarts
    them. Returns the names that were running."""
    killed = []
    for comp in _selected(settings, names):
        pid = comp.kill()
        if pid is not None:
            progress(f"killed {comp.name} (pid {pid})")
            killed.append(comp.name)
    return killed


def restart(
    settings: Settings, names: list[str], progress: Reporter = SILENT
) -> list[ComponentStatus]:
    """Stop the named components cleanly, then start them and wait until healthy."""
    down(settings, names, progress)
    return up(settings, names, progress)


def status(settings: Settings, names: list[str] | None = None) -> list[ComponentStatus]:
    rows = []
    for comp in _selected(settings, names):
        pid = comp.pid()
        health = comp.health()
        rows.append(
            ComponentStatus(
                name=comp.name,
                up=health.up,
                pid=pid,
                version=health.version,
                endpoint=f"{settings.host}:{comp.port}",
                detail=health.detail if health.up or pid else (health.detail or "not running"),
            )
        )
    return rows


def reset(settings: Settings, progress: Reporter = SILENT) -> None:
    """Stop everything and delete all data under the state folder (not the cache)."""
    down(settings, progress=progress)
    for sub in ("postgres", "kafka", "minio", "connect", "conf", "run", "logs"):
        shutil.rmtree(settings.home / sub, ignore_errors=True)
    progress(f"deleted stack data under {settings.home}")


def log_tail(settings: Settings, name: str, lines: int = 50) -> list[str]:
    comp = by_name(settings, name)
    out = process.tail(comp.log_file, lines)
    if not out and comp.out_file.exists():
        out = process.tail(comp.out_file, lines)
    if not out:
        raise StackError(
            f"no log for {name} yet at {comp.log_file}", hint="start the stack with `ecom stack up`"
        )
    return out


__all__ = ["NAMES", "Connect", "up", "down", "kill", "restart", "status", "reset", "log_tail"]
