"""Long-running local programs, on psutil: pid files, port probes, detached starts,
graceful stops of a whole process tree, crashes on demand, memory.

Used by the stack's components and by the stream workers' supervision alike.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from pathlib import Path

import psutil

#: How long the processes left after SIGKILL get to disappear.
KILL_WAIT = 5.0


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _alive(proc: psutil.Process) -> bool:
    """Running, and not a zombie (a dead child its parent has not reaped yet)."""
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # someone else's process, but it exists


def _process(pid: int) -> psutil.Process | None:
    """The live process ``pid``, or None (no such process, or a zombie)."""
    if pid <= 0:
        return None
    try:
        proc = psutil.Process(pid)
    except psutil.Error:
        return None
    return proc if _alive(proc) else None


def pid_alive(pid: int) -> bool:
    return _process(pid) is not None


def read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def running_pid(pid_file: Path) -> int | None:
    pid = read_pid(pid_file)
    return pid if pid is not None and pid_alive(pid) else None


def start_detached(
    cmd: list[str],
    *,
    out_file: Path,
    pid_file: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start a long-running program in its own session; stdout/stderr go to out_file."""
    out_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    with out_file.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def tree(pid: int) -> list[psutil.Process]:
    """``pid`` and all its descendants, alive ones only (empty when ``pid`` is gone)."""
    root = _process(pid)
    if root is None:
        return []
    with contextlib.suppress(psutil.Error):
        return [root, *(p for p in root.children(recursive=True) if _alive(p))]
    return [root]


def _signal_all(procs: list[psutil.Process], kill: bool) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill() if kill else proc.terminate()


def _wait_gone(procs: list[psutil.Process], timeout: float) -> None:
    """Wait until every process has exited (reaping our own children), at most ``timeout``."""
    if procs:
        psutil.wait_procs(procs, timeout=timeout)


def stop_pid(pid: int, *, timeout: float = 30.0) -> bool:
    """Stop ``pid`` and everything it started. True when all of it is gone.

    SIGTERM goes to ``pid`` only, so it shuts its own children down in its order (the
    Postgres postmaster, say); after ``timeout`` seconds, or as soon as it has exited,
    whatever is left of the tree it had when asked to stop gets SIGKILL.
    """
    procs = tree(pid)
    if not procs:
        return True
    root = procs[0]
    with contextlib.suppress(psutil.NoSuchProcess):
        root.terminate()
    _wait_gone([root], timeout)
    left = [p for p in procs if _alive(p)]
    _signal_all(left, kill=True)
    _wait_gone(left, KILL_WAIT)
    return not any(_alive(p) for p in procs)


def kill_pid(pid: int, *, timeout: float = 10.0) -> bool:
    """SIGKILL ``pid`` alone (no clean shutdown, like a crash or the OOM killer; its
    children notice on their own), then wait until it is gone. True when it is."""
    proc = _process(pid)
    if proc is None:
        return True
    _signal_all([proc], kill=True)
    _wait_gone([proc], timeout)
    return not _alive(proc)


def tree_rss(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants, in bytes (0 when gone)."""
    total = 0
    for proc in tree(pid):
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


def rss(pid: int) -> int:
    """Resident memory of ``pid`` alone, in bytes (0 when gone)."""
    proc = _process(pid)
    if proc is None:
        return 0
    try:
        return int(proc.memory_info().rss)
    except psutil.Error:
        return 0


def tail(path: Path, n: int = 20) -> list[str]:
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return data.splitlines()[-n:]
