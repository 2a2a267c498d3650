"""Measuring one benchmarked command: wall time and peak memory.

``run_measured`` runs ``python <args>`` as a child process, echoes its output, and
measures two peaks:

* ``peak_rss_mb``: the child's own peak resident set (``wait4`` rusage ``ru_maxrss``,
  the kernel's high-water mark, exact). DuckDB runs in-process, so its memory is in it;
* ``peak_tree_rss_mb``: the largest sum of RSS over the child and all its descendants,
  sampled (psutil) every ``sample_seconds`` (a sample can miss a short spike; for a
  single process it is at most the exact figure above).

It also reports ``cpu_s``, the CPU time (user + system) of the child and the
descendants it waited for, from the same rusage.

The PostgreSQL server (which runs the gold SQL and receives COPY or ``to_sql``) is not a
descendant and is in neither figure. ``max_tree_rss_mb`` stops the child (SIGKILL) when
the sampled tree RSS goes over it, so a baseline that would exhaust the machine's memory
is recorded as aborted instead of taking other people's processes down with it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import process

REPO = Path(__file__).resolve().parents[1]
RESULT_MARK = "BENCH-RESULT "


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def tree_rss_kb(pid: int) -> int:
    """Sum of the resident sets of ``pid`` and all its descendants (kB)."""
    return process.tree_rss(pid) // 1024


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, every: float, cap_kb: int | None) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.cap_kb = pid, every, cap_kb
        self.peak_kb = 0
        self.aborted_at_kb: int | None = None
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            kb = tree_rss_kb(self.pid)
            self.peak_kb = max(self.peak_kb, kb)
            if self.cap_kb is not None and kb > self.cap_kb and self.aborted_at_kb is None:
                self.aborted_at_kb = kb
                with contextlib.suppress(OSError):
                    os.killpg(self.pid, signal.SIGKILL)
            self._halt.wait(self.every)

    def stop(self) -> None:
        self._halt.set()
        self.join(10)


@dataclass
class Measured:
    returncode: int
    wall_s: float
    peak_rss_mb: float
    peak_tree_rss_mb: float
    lines: list[str] = field(default_factory=list)
    load_before: float = 0.0
    aborted_over_mb: float | None = None
    cpu_s: float = 0.0

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "returncode": self.returncode,
            "wall_s": round(self.wall_s, 2),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_tree_rss_mb_sampled": round(self.peak_tree_rss_mb, 1),
            "cpu_s": round(self.cpu_s, 2),
            "loadavg_1m_before": round(self.load_before, 2),
        }
        if self.aborted_over_mb is not None:
            out["aborted"] = f"killed when its memory passed {self.aborted_over_mb:,.0f} MB"
        return out

    def result(self) -> dict[str, Any]:
        """The JSON document the child printed after RESULT_MARK, if any."""
        import json

        for line in reversed(self.lines):
            if line.startswith(RESULT_MARK):
                return dict(json.loads(line[len(RESULT_MARK) :]))
        return {}


def run_measured(
    args: list[str],
    label: str,
    *,
    sample_seconds: float = 0.5,
    max_tree_rss_mb: float | None = None,
    echo: bool = True,
) -> Measured:
    """Run ``python <args>`` from the repository root and measure it (module docstring)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    load_before = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, *args], cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    cap = int(max_tree_rss_mb * 1024) if max_tree_rss_mb else None
    sampler = _TreeSampler(proc.pid, sample_seconds, cap)
    sampler.start()
    lines: list[str] = []
    assert proc.stdout is not None
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            lines.append(line)
            if echo and not line.startswith(RESULT_MARK):
                print(f"    {label} | {line}", flush=True)
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        sampler.stop()
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    aborted = sampler.aborted_at_kb / 1024 if sampler.aborted_at_kb is not None else None
    return Measured(
        proc.returncode, wall, usage.ru_maxrss / 1024, sampler.peak_kb / 1024, lines,
        load_before, aborted, usage.ru_utime + usage.ru_stime,
    )  # fmt: skip


def ecom(*args: str, check: bool = True, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m ecom.cli <args>`` (not measured); raise SystemExit on failure."""
    proc = subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        cwd=REPO, text=True, capture_output=True, timeout=timeout,
    )  # fmt: skip
    if check and proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip())[-2000:]
        raise SystemExit(f"ecom {' '.join(args)} failed: {tail}")
    return proc
