"""kill_pid: a crash on demand (SIGKILL), for failure drills; a real child process."""

from __future__ import annotations

import subprocess
import sys

from stack import process


def test_kill_pid_kills_a_process_that_ignores_sigterm() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"],
    )  # fmt: skip
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
