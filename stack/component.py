"""Base of the local stack's components: a named process with a port, pid file and log."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from common import process
from common.settings import Settings
from stack.exceptions import StackError
from stack.install import Installed

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
PG_SUPERUSER = "postgres"  # OS user that owns and runs the cluster when we are root


@dataclass(frozen=True)
class Health:
    up: bool
    version: str = ""
    detail: str = ""


class Component:
    """Base: a named process with a port, a pid file and a log."""

    name = ""
    setting = ""  # the env var that moves its port

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    # ---- layout
    @property
    def port(self) -> int:
        raise NotImplementedError

    @property
    def pid_file(self) -> Path:
        return self.s.home / "run" / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.s.home / "logs" / f"{self.name}.log"

    @property
    def out_file(self) -> Path:
        return self.s.home / "logs" / f"{self.name}.out"

    @property
    def conf_dir(self) -> Path:
        return self.s.home / "conf"

    # ---- lifecycle
    def pid(self) -> int | None:
        return process.running_pid(self.pid_file)

    def health(self) -> Health:
        raise NotImplementedError

    def prepare(self, inst: Installed) -> None:
        """One-time setup (data dirs, formatting); idempotent."""

    def start(self, inst: Installed) -> None:
        raise NotImplementedError

    def refresh(self, inst: Installed) -> None:
        """Apply today's config to the process already running, where it can (default:
        nothing; the next start applies it)."""

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None and not process.stop_pid(pid, timeout=45):
            raise StackError(f"{self.name} (pid {pid}) did not stop", hint=f"kill -9 {pid}")
        self.pid_file.unlink(missing_ok=True)

    def kill(self) -> int | None:
        """kill -9 (a crash: no clean shutdown; data kept). Returns the pid killed, if any."""
        pid = self.pid()
        if pid is None:
            return None
        if not process.kill_pid(pid):
            raise StackError(f"{self.name} (pid {pid}) survived SIGKILL", hint=f"kill -9 {pid}")
        self.pid_file.unlink(missing_ok=True)
        return pid

    def check_port_free(self) -> None:
        if process.port_open(self.s.host, self.port):
            raise process_port_in_use(self)

    def recent_log(self, n: int = 6) -> str:
        lines = process.tail(self.log_file, n) or process.tail(self.out_file, n)
        return " | ".join(x.strip() for x in lines if x.strip())

    def render(self, template: str, target: str, **extra: object) -> Path:
        values = dict(self.s.as_dict(show_secrets=True), **extra)
        text = (TEMPLATES / template).read_text().format(**values)
        self.conf_dir.mkdir(parents=True, exist_ok=True)
        path = self.conf_dir / target
        path.write_text(text)
        return path


def process_port_in_use(c: Component) -> StackError:
    from stack.exceptions import PortInUse

    return PortInUse(
        f"port {c.s.host}:{c.port} for {c.name} is already in use by another process",
        hint=f"stop that process, or set {c.setting} to a free port",
    )


# ====================================================================== Postgres
