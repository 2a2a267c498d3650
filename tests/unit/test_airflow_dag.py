"""airflow/dags/nightly_gold_rebuild.py loaded by real Airflow (``DagBag``, in Airflow's
own virtualenv; no stack needed): no import errors, the schedule from
ECOM_GOLD_SCHEDULE_AT with the same default and the same accepted times as `ecom gold
schedule`, ECOM_BIN and ECOM_REPO_DIR honoured, and gold_rebuild -> gold_verify. Running
the tasks against the stack is tests/integration/test_airflow_tasks.py."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from compaction import schedule
from tests import airflow_run

# Loads the DAG folder once per ECOM_GOLD_SCHEDULE_AT value given on the command line
# (one interpreter, so Airflow starts once) and prints what Airflow made of it.
DAGBAG = """
import json, os, sys
from airflow.dag_processing.dagbag import DagBag

def describe(dag):
    return {
        "schedule": dag.timetable.expression,
        "timezone": str(dag.timetable.timezone),
        "start_date": dag.start_date.isoformat(),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "tasks": {
            t.task_id: {
                "operator": type(t).__name__,
                "bash_command": t.bash_command,
                "cwd": t.cwd,
                "downstream": sorted(t.downstream_task_ids),
                "retries": t.retries,
            }
            for t in dag.tasks
        },
    }

results = {}
for at in sys.argv[2:]:
    if at == "-":
        os.environ.pop("ECOM_GOLD_SCHEDULE_AT", None)
    else:
        os.environ["ECOM_GOLD_SCHEDULE_AT"] = at
    bag = DagBag(dag_folder=sys.argv[1])
    results[at] = {
        "errors": {path: str(err) for path, err in bag.import_errors.items()},
        "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
    }
print("DAGBAG " + json.dumps(results))
"""


def load(home: Path, *schedule_at: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """What DagBag found for each ECOM_GOLD_SCHEDULE_AT value ('-': unset)."""
    res = airflow_run.run(home, "-c", DAGBAG, str(airflow_run.DAGS), *schedule_at, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [x for x in res.stdout.splitlines() if x.startswith("DAGBAG ")]
    assert lines, res.stdout[-3000:] + res.stderr[-3000:]
    return json.loads(lines[-1].removeprefix("DAGBAG "))  # type: ignore[no-any-return]


def test_dagbag_loads_the_dag_without_import_errors(tmp_path: Path) -> None:
    found = load(tmp_path, "-", env={"ECOM_BIN": "", "ECOM_REPO_DIR": ""})["-"]
    assert found["errors"] == {}
    assert sorted(found["dags"]) == ["gold_refresh", "nightly_gold_rebuild"]
    dag = found["dags"]["nightly_gold_rebuild"]
    assert dag["schedule"] == schedule.parse_time(schedule.DEFAULT_AT).cron
    assert dag["timezone"] == "UTC" and dag["start_date"].endswith("+00:00")
    assert dag["catchup"] is False and dag["max_active_runs"] == 1
    assert dag["tasks"] == {
        "gold_rebuild": {
            "operator": "BashOperator",
            # the `ecom` on PATH unless ECOM_BIN says
            "bash_command": "ecom gold rebuild --full --wait-lock 900",
            "cwd": None,
            "downstream": ["gold_verify"],
            "retries": 1,
        },
        "gold_verify": {
            "operator": "BashOperator",
            "bash_command": "ecom gold verify",
            "cwd": None,
            "downstream": ["lake_optimize"],
            "retries": 1,
        },
        # lake maintenance after the swap, never before gold
        "lake_optimize": {
            "operator": "BashOperator",
            "bash_command": "ecom lake optimize --wait-lock 900",
            "cwd": None,
            "downstream": ["lake_vacuum"],
            "retries": 1,
        },
        "lake_vacuum": {
            "operator": "BashOperator",
            "bash_command": "ecom lake vacuum --wait-lock 900",
            "cwd": None,
            "downstream": [],
            "retries": 1,
        },
    }


def test_ecom_bin_and_repo_dir_reach_the_tasks(tmp_path: Path) -> None:
    env = {"ECOM_BIN": "/opt/ecom/.venv/bin/ecom", "ECOM_REPO_DIR": "/srv/ecom"}
    tasks = load(tmp_path, "-", env=env)["-"]["dags"]["nightly_gold_rebuild"]["tasks"]
    assert tasks["gold_rebuild"]["bash_command"] == (
        "/opt/ecom/.venv/bin/ecom gold rebuild --full --wait-lock 900"
    )
    assert tasks["gold_verify"]["bash_command"] == "/opt/ecom/.venv/bin/ecom gold verify"
    assert {t["cwd"] for t in tasks.values()} == {"/srv/ecom"}


def test_refresh_dag_runs_an_incremental_build_that_skips_when_busy(tmp_path: Path) -> None:
    found = load(tmp_path, "-", env={"ECOM_BIN": "", "ECOM_REPO_DIR": ""})["-"]
    dag = found["dags"]["gold_refresh"]
    assert dag["schedule"] == schedule.parse_every(5).cron == "*/5 * * * *"
    assert dag["timezone"] == "UTC" and dag["catchup"] is False and dag["max_active_runs"] == 1
    assert dag["tasks"] == {
        "gold_refresh": {
            "operator": "BashOperator",
            "bash_command": "ecom gold rebuild --if-idle",
            "cwd": None,
            "downstream": [],
            "retries": 0,
        }
    }


@pytest.mark.parametrize(("minutes", "ok"), [("120", True), ("7", False)])
def test_refresh_dag_schedule_follows_the_setting(tmp_path: Path, minutes: str, ok: bool) -> None:
    found = load(tmp_path, "-", env={"ECOM_GOLD_REFRESH_MINUTES": minutes})["-"]
    if ok:
        assert found["dags"]["gold_refresh"]["schedule"] == schedule.parse_every(int(minutes)).cron
        assert not found["errors"]
    else:
        assert "gold_refresh" not in found["dags"]
        assert "nightly_gold_rebuild" in found["dags"]
        (error,) = found["errors"].values()
        assert f"ECOM_GOLD_REFRESH_MINUTES={minutes!r} is not a refresh interval" in error


GOOD = ["02:30", "00:00", "7:05", "23:59", " 12:00 "]
BAD = ["24:00", "12:60", "noon", "12:30:00"]


def test_schedule_accepts_and_refuses_what_the_cli_does(tmp_path: Path) -> None:
    found = load(tmp_path, *GOOD, *BAD)
    for at in GOOD:
        assert found[at]["errors"] == {}, at
        dag = found[at]["dags"]["nightly_gold_rebuild"]
        assert dag["schedule"] == schedule.parse_time(at).cron, at
    for at in BAD:
        assert "nightly_gold_rebuild" not in found[at]["dags"], at
        (error,) = found[at]["errors"].values()
        assert f"ECOM_GOLD_SCHEDULE_AT={at!r} is not a time of day" in error
        with pytest.raises(Exception, match="is not a time of day"):
            schedule.parse_time(at)


def test_dag_file_stands_alone() -> None:
    """The DAG files need only Airflow and the standard library on the scheduler, and the
    package never imports them."""
    for dag_file in (airflow_run.DAG_FILE, airflow_run.DAGS / "gold_refresh.py"):
        tree = ast.parse(dag_file.read_text())
        imported = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        assert imported <= {"__future__", "os", "re", "datetime", "airflow"}, (dag_file, imported)
    root = airflow_run.REPO
    assert not (root / "airflow" / "__init__.py").exists()
    assert not (root / "airflow" / "dags" / "__init__.py").exists()
    for package in ("common", "compaction", "ecom", "stream_apps", "generator"):
        for path in (root / package).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(import|from)\s+(airflow|dags|nightly_gold_rebuild|"
                                 r"gold_refresh)\b",
                                 text, re.MULTILINE), path  # fmt: skip
