"""airflow/dags/nightly_gold_rebuild.py, checked by parsing it (Airflow is not installed):
dag_id, schedule from ECOM_GOLD_SCHEDULE_AT, catchup, max_active_runs, the two tasks and
their order. Its small time parser is executed on its own and agrees with
compaction.schedule."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from compaction import schedule

ROOT = Path(__file__).resolve().parents[2]
DAG_FILE = ROOT / "airflow" / "dags" / "nightly_gold_rebuild.py"


@pytest.fixture(scope="module")
def tree() -> ast.Module:
    return ast.parse(DAG_FILE.read_text(), filename=str(DAG_FILE))


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
    ]


def _kwargs(call: ast.Call) -> dict[str, ast.expr]:
    return {k.arg: k.value for k in call.keywords if k.arg}


def _assignments(tree: ast.Module) -> dict[str, ast.expr]:
    out: dict[str, ast.expr] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                out[target.id] = node.value
    return out


def _text(node: ast.expr) -> str:
    return ast.unparse(node)


def test_dag_arguments(tree: ast.Module) -> None:
    (dag,) = _calls(tree, "DAG")
    kw = _kwargs(dag)
    assert ast.literal_eval(kw["dag_id"]) == "nightly_gold_rebuild"
    assert ast.literal_eval(kw["catchup"]) is False
    assert ast.literal_eval(kw["max_active_runs"]) == 1
    assert "schedule_interval" not in kw  # removed in Airflow 3; `schedule` works in 2.4+
    assert _text(kw["schedule"]) == "SCHEDULE"
    assert "tzinfo=timezone.utc" in _text(kw["start_date"])


def test_schedule_comes_from_the_same_setting_and_default(tree: ast.Module) -> None:
    assigned = _assignments(tree)
    assert ast.literal_eval(assigned["DEFAULT_AT"]) == schedule.DEFAULT_AT
    assert _text(assigned["SCHEDULE"]) == (
        f"cron_from_hhmm(os.environ.get({schedule.ENV_VAR!r}) or DEFAULT_AT)"
    )


def _dag_helper(tree: ast.Module) -> Any:
    """Execute only the DAG file's cron_from_hhmm (no Airflow needed)."""
    (func,) = [
        n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "cron_from_hhmm"
    ]
    namespace: dict[str, Any] = {"re": re}
    exec(compile(ast.Module(body=[func], type_ignores=[]), str(DAG_FILE), "exec"), namespace)
    return namespace["cron_from_hhmm"]


@pytest.mark.parametrize("at", ["02:30", "00:00", "7:05", "23:59", " 12:00 "])
def test_dag_schedule_equals_the_cron_line(tree: ast.Module, at: str) -> None:
    assert _dag_helper(tree)(at) == schedule.parse_time(at).cron


@pytest.mark.parametrize("bad", ["24:00", "12:60", "noon", "", "12:30:00"])
def test_dag_refuses_a_bad_time_like_the_cli(tree: ast.Module, bad: str) -> None:
    with pytest.raises(ValueError, match="ECOM_GOLD_SCHEDULE_AT"):
        _dag_helper(tree)(bad)
    with pytest.raises(Exception, match="is not a time of day"):
        schedule.parse_time(bad)


def test_tasks_rebuild_then_verify(tree: ast.Module) -> None:
    operators = _calls(tree, "BashOperator")
    tasks: dict[str, str] = {}  # variable -> task_id
    commands: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            call = node.value
            if call in operators and isinstance(node.targets[0], ast.Name):
                kw = _kwargs(call)
                task_id = ast.literal_eval(kw["task_id"])
                tasks[node.targets[0].id] = task_id
                commands[task_id] = _text(kw["bash_command"])
    assert sorted(tasks.values()) == ["gold_rebuild", "gold_verify"]
    assert commands["gold_rebuild"] == "f'{ECOM_BIN} gold rebuild'"
    assert commands["gold_verify"] == "f'{ECOM_BIN} gold verify'"
    ecom_bin = _assignments(tree)["ECOM_BIN"]
    assert isinstance(ecom_bin, ast.BoolOp)
    assert ast.literal_eval(ecom_bin.values[-1]) == "ecom"  # on PATH unless ECOM_BIN says

    edges = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift):
            assert isinstance(node.left, ast.Name) and isinstance(node.right, ast.Name)
            edges.append((tasks[node.left.id], tasks[node.right.id]))
    assert edges == [("gold_rebuild", "gold_verify")]


def test_dag_file_stands_alone(tree: ast.Module) -> None:
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "os", "re", "datetime", "airflow"}, imported
    # and the package never imports it: airflow/ is not a package and not installed
    assert not (ROOT / "airflow" / "__init__.py").exists()
    assert not (ROOT / "airflow" / "dags" / "__init__.py").exists()
    for package in ("common", "compaction", "ecom", "stream_apps", "generator"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text()
            assert not re.search(r"^\s*(import|from)\s+(airflow|dags|nightly_gold_rebuild)\b",
                                 text, re.MULTILINE), path  # fmt: skip


def test_dag_file_executes_against_stand_in_airflow_modules(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Execute the whole file with tiny stand-ins for `airflow` (it is not installed):
    no NameError, the env variables are honoured, the graph is rebuild -> verify."""
    import sys
    import types

    created: dict[str, Any] = {}

    class DAG:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            created["dag"] = self

        def __enter__(self) -> DAG:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    class BashOperator:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs
            self.downstream: list[BashOperator] = []
            created.setdefault("tasks", []).append(self)

        def __rshift__(self, other: BashOperator) -> BashOperator:
            self.downstream.append(other)
            return other

    airflow = types.ModuleType("airflow")
    airflow.DAG = DAG  # type: ignore[attr-defined]
    bash = types.ModuleType("airflow.providers.standard.operators.bash")
    bash.BashOperator = BashOperator  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "airflow", airflow)
    monkeypatch.setitem(sys.modules, "airflow.providers.standard.operators.bash", bash)
    monkeypatch.setenv("ECOM_GOLD_SCHEDULE_AT", "01:15")
    monkeypatch.setenv("ECOM_BIN", "/opt/ecom/.venv/bin/ecom")
    monkeypatch.delenv("ECOM_REPO_DIR", raising=False)

    namespace: dict[str, Any] = {"__name__": "nightly_gold_rebuild"}
    exec(compile(DAG_FILE.read_text(), str(DAG_FILE), "exec"), namespace)

    dag = created["dag"]
    assert dag.kwargs["dag_id"] == "nightly_gold_rebuild"
    assert dag.kwargs["schedule"] == "15 1 * * *"
    assert dag.kwargs["catchup"] is False and dag.kwargs["max_active_runs"] == 1
    rebuild, verify = created["tasks"]
    assert rebuild.kwargs["task_id"] == "gold_rebuild"
    assert rebuild.kwargs["bash_command"] == "/opt/ecom/.venv/bin/ecom gold rebuild"
    assert verify.kwargs["bash_command"] == "/opt/ecom/.venv/bin/ecom gold verify"
    assert rebuild.kwargs["cwd"] is None
    assert rebuild.downstream == [verify] and verify.downstream == []
