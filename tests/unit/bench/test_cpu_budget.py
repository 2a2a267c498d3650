"""Where a step's CPU went: pid files to components, process trees, per-change figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench import cpu_budget as cb

#: A child that spends about this much CPU and ends.
BURN = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.3: pass\n"


def test_pid_files_name_the_components(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "stream-0.pid").write_text("101\n")
    (run / "stream-1.pid").write_text("102\n")
    (run / "kafka.pid").write_text("7")
    (run / "minio.pid").write_text("not a pid")
    data = tmp_path / "postgres" / "data"
    data.mkdir(parents=True)
    (data / "postmaster.pid").write_text("55\n/var/lib/data\n")
    assert cb.component_pids(tmp_path) == {"kafka": [7], "stream": [101, 102], "postgres": [55]}
    assert cb.component_pids(tmp_path / "nothing") == {}


def test_a_process_tree_counts_the_children_it_reaped() -> None:
    # a parent that runs a CPU-bound child to its end, then waits to be measured
    parent = subprocess.Popen(
        [sys.executable, "-c",
         f"import subprocess, sys, time\nsubprocess.run([sys.executable, '-c', {BURN!r}])\n"
         "print('done', flush=True)\ntime.sleep(30)"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None and parent.stdout.readline().strip() == "done"
        assert cb.process_tree_cpu(parent.pid) >= 0.3
    finally:
        parent.kill()
        parent.wait()
    assert cb.process_tree_cpu(parent.pid) == 0.0  # gone


def test_own_ended_children_are_counted_once_waited_for() -> None:
    before = cb.own_children_cpu()
    subprocess.run([sys.executable, "-c", BURN], check=True)
    assert cb.own_children_cpu() - before >= 0.3


def test_a_sample_has_the_components_the_children_and_the_machine(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "me.pid").write_text(f"{__import__('os').getpid()}\n")
    s = cb.sample(tmp_path)
    assert set(s) == {"me", "children", "machine"}
    assert s["me"] > 0 and s["machine"] >= s["me"] - 1.0


def test_budget_per_change_and_ceiling() -> None:
    before = {"postgres": 10.0, "stream": 5.0, "children": 1.0, "machine": 100.0}
    after = {"postgres": 11.0, "stream": 5.5, "children": 1.5, "machine": 102.5}
    b = cb.budget(before, after, changes=10_000, seconds=2.0, cores=2)
    assert b["cpu_s"] == {"generator": 0.5, "postgres": 1.0, "stream": 0.5}
    assert b["us_per_change"] == {"generator": 50.0, "postgres": 100.0, "stream": 50.0}
    assert b["components_us_per_change"] == 200.0
    # 200 us per change on 2 cores: 10,000 changes/s would take both of them
    assert b["ceiling_changes_per_s"] == 10_000
    assert b["machine_busy_cores"] == 1.25 and b["components_cores"] == 1.0


def test_budget_without_changes_or_with_a_component_that_appeared() -> None:
    before = {"children": 0.0, "machine": 0.0}
    after = {"connect": 3.0, "children": 0.0, "machine": 3.0}
    b = cb.budget(before, after, changes=0, seconds=1.0, cores=2)
    assert b["cpu_s"]["connect"] == 3.0  # started during the step: all of its time
    assert b["us_per_change"]["connect"] is None and b["components_us_per_change"] is None
    assert b["ceiling_changes_per_s"] is None
