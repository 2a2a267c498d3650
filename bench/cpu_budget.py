"""Where a benchmark step's CPU went: each component of the bench stack, and the machine.

A component is a process the stack started, found by its pid file in
``ECOM_HOME/run`` (``stream-0.pid`` and ``stream-1.pid`` are both ``stream``) or, for
PostgreSQL, the postmaster's ``postmaster.pid``. Its CPU time is its own, its live
descendants' and that of the descendants it has already reaped: a PostgreSQL backend
that ends with its client's connection still counts, in the postmaster's children
times. The machine's figure is every CPU's busy time (all of it: other tenants of a
shared machine too).

:func:`budget` turns two samples into CPU microseconds per change for each component
and their sum, and the rate at which that sum would take all of the machine's cores:
the most these components could carry on this machine if each change kept costing
what it cost in the step.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import psutil

from common.process import read_pid

#: The busy part of the machine's CPU time (steal is the hypervisor's, not ours).
_BUSY = ("user", "nice", "system", "irq", "softirq")


def component_pids(home: Path) -> dict[str, list[int]]:
    """The stack's processes by component, from their pid files under ``home``."""
    out: dict[str, list[int]] = {}
    run = home / "run"
    for path in sorted(run.glob("*.pid")) if run.is_dir() else []:
        name = path.stem.split("-")[0]
        if (pid := read_pid(path)) is not None:
            out.setdefault(name, []).append(pid)
    if (pid := read_pid(home / "postgres" / "data" / "postmaster.pid")) is not None:
        out.setdefault("postgres", []).append(pid)
    return out


def _cpu(proc: psutil.Process) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system + t.children_user + t.children_system)


def process_tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid``, its live descendants and the children it reaped; 0 when
    it is gone."""
    try:
        root = psutil.Process(pid)
        total = _cpu(root)
        kids = root.children(recursive=True)
    except psutil.Error:
        return 0.0
    for kid in kids:
        # one that ended since it was listed counts in its parent's times once reaped
        with contextlib.suppress(psutil.Error):
            total += _cpu(kid)
    return total


def machine_busy() -> float:
    """Busy CPU seconds of all the machine's CPUs since boot."""
    t = psutil.cpu_times()
    return float(sum(getattr(t, f, 0.0) for f in _BUSY))


def own_children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for."""
    r = os.times()
    return float(r.children_user + r.children_system)


def sample(home: Path) -> dict[str, float]:
    """CPU seconds so far of each component, of this process's ended children
    (``children``) and of the machine (``machine``)."""
    out = {
        name: sum(process_tree_cpu(p) for p in pids) for name, pids in component_pids(home).items()
    }
    out["children"] = own_children_cpu()
    out["machine"] = machine_busy()
    return out


def budget(
    before: dict[str, float],
    after: dict[str, float],
    *,
    changes: int,
    seconds: float,
    child: str = "generator",
    cores: int | None = None,
) -> dict[str, Any]:
    """CPU per change of each component between two samples (this process's ended
    children reported as ``child``); None figures when there were no changes."""
    cores = cores or os.cpu_count() or 1
    used = {
        (child if name == "children" else name): max(0.0, after[name] - before.get(name, 0.0))
        for name in after
        if name != "machine"
    }
    machine = max(0.0, after["machine"] - before["machine"])
    parts = sum(used.values())

    def per_change(cpu_s: float) -> float | None:
        return round(cpu_s / changes * 1e6, 1) if changes > 0 else None

    return {
        "seconds": round(seconds, 1),
        "changes": changes,
        "cpu_s": {name: round(v, 2) for name, v in sorted(used.items())},
        "us_per_change": {name: per_change(v) for name, v in sorted(used.items())},
        "components_us_per_change": per_change(parts),
        "machine_busy_cores": round(machine / seconds, 2) if seconds > 0 else None,
        "components_cores": round(parts / seconds, 2) if seconds > 0 else None,
        "cores": cores,
        "ceiling_changes_per_s": round(cores * changes / parts) if parts > 0 < changes else None,
    }
