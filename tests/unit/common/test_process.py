"""common.process on real child processes: liveness (zombies count as dead), graceful
stops of a whole tree, crashes on demand, memory."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from common import process

IGNORE_TERM = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "

# A parent that starts a child ignoring SIGTERM, prints the child's pid once the child
# runs, then waits.
PARENT = (
    "import subprocess, sys, time, signal\n"
    "{parent_setup}"
    "child = subprocess.Popen([sys.executable, '-c', "
    f"{IGNORE_TERM + 'print(1, flush=True); time.sleep(60)'!r}], stdout=subprocess.PIPE)\n"
    "child.stdout.readline()\n"
    "print(child.pid, flush=True)\n"
    "time.sleep(60)\n"
)


@pytest.fixture
def spawned() -> Iterator[list[int]]:
    """Pids to clean up whatever a test left running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if psutil.pid_exists(pid):
            with contextlib.suppress(psutil.Error):
                psutil.Process(pid).kill()


def start_tree(parent_ignores_term: bool, spawned: list[int]) -> tuple[subprocess.Popen, int]:
    setup = IGNORE_TERM + "\n" if parent_ignores_term else ""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(parent_setup=setup)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    spawned.extend([parent.pid, child])
    return parent, child


def test_kill_pid_kills_a_process_that_ignores_sigterm() -> None:
    child = subprocess.Popen([sys.executable, "-c", IGNORE_TERM + "time.sleep(60)"])
    try:
        assert process.pid_alive(child.pid)
        assert process.kill_pid(child.pid, timeout=5)
        assert not process.pid_alive(child.pid)  # it ignores SIGTERM: only SIGKILL ends it
    finally:
        if child.poll() is None:
            child.kill()


def test_kill_pid_of_a_process_that_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process.kill_pid(child.pid)


def test_a_zombie_is_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the child never exited"
            time.sleep(0.05)
        assert psutil.pid_exists(child.pid)  # not reaped yet: the pid is still taken
        assert not process.pid_alive(child.pid)
    finally:
        child.wait()


def test_stop_pid_stops_the_whole_tree_when_the_parent_exits_on_sigterm(
    spawned: list[int],
) -> None:
    parent, child = start_tree(parent_ignores_term=False, spawned=spawned)
    t0 = time.monotonic()
    assert process.stop_pid(parent.pid, timeout=20)
    assert time.monotonic() - t0 < 10  # the parent went at SIGTERM, without the 20 s wait
    assert parent.returncode is not None or parent.poll() is not None
    assert not process.pid_alive(child)  # left behind by its parent, it got SIGKILL


def test_stop_pid_kills_a_tree_that_ignores_sigterm_after_the_timeout(
    spawned: list[int],
) -> None:
    parent, child = start_tree(parent_ignores_term=True, spawned=spawned)
    t0 = time.monotonic()
    assert process.stop_pid(parent.pid, timeout=1)
    assert time.monotonic() - t0 >= 1
    assert not process.pid_alive(parent.pid) and not process.pid_alive(child)


def test_stop_pid_of_nothing_running() -> None:
    assert process.stop_pid(2**22 + 7)  # above the kernel's pid_max: never a process
    assert not process.pid_alive(0) and not process.pid_alive(-1)


def test_tree_memory_counts_the_descendants(spawned: list[int]) -> None:
    parent, child = start_tree(parent_ignores_term=False, spawned=spawned)
    try:
        own, child_rss = process.rss(parent.pid), process.rss(child)
        assert own > 1_000_000 and child_rss > 1_000_000  # two Python interpreters
        assert process.tree_rss(parent.pid) >= own + child_rss // 2  # sampled at another time
        assert [p.pid for p in process.tree(parent.pid)] == [parent.pid, child]
    finally:
        assert process.stop_pid(parent.pid, timeout=5)
    assert process.tree_rss(parent.pid) == 0 and process.rss(child) == 0
