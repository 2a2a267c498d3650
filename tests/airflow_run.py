"""Run real Airflow for the DAG tests: its own virtualenv (built in the download cache by
scripts/bootstrap.py), in a subprocess, with its state (AIRFLOW_HOME and its sqlite
database) in a folder the caller gives, outside the repo."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from scripts import bootstrap

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "airflow" / "dags"
DAG_FILE = DAGS / "nightly_gold_rebuild.py"


def airflow_python() -> Path:
    venv = bootstrap.airflow_venv(bootstrap.default_cache())
    if not (venv / bootstrap.COMPLETE).exists():
        pytest.fail(
            f"Airflow's virtualenv {venv} is missing "
            "(run `python3 scripts/bootstrap.py`; `make test` runs it)",
            pytrace=False,
        )
    return venv / "bin" / "python"


def airflow_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment (the ECOM_* settings included), pointed at ``home``
    and the repo's DAG folder; nothing of another Airflow install leaks in."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != "PYTHONPATH"
    }
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        PYTHONDONTWRITEBYTECODE="1",  # nothing of the DAG run lands in the repo
    )
    env.update(extra or {})
    return env


def run(
    home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` in Airflow's virtualenv, from ``home``."""
    return subprocess.run(
        [str(airflow_python()), *args],
        cwd=home,
        env=airflow_env(home, env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
