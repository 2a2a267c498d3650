"""Airflow DAG ``nightly_gold_rebuild``: rebuild the gold tables from the whole
change-log, verify them, then compact and vacuum the lake's Delta tables. The frequent
incremental refresh is the DAG ``gold_refresh`` (gold_refresh.py).

For teams that keep Airflow (the old pipeline had one DAG per layer). Copy or
symlink this file into the scheduler's ``dags/`` folder; the workers need the
``ecom`` command (``pip install`` this repo) and the same ``ECOM_*`` settings as
any other deployment.

- Schedule: every day at ``ECOM_GOLD_SCHEDULE_AT`` (HH:MM, UTC; default 02:30), the
  same variable ``ecom gold schedule --print`` and the docker-compose
  ``gold-nightly`` service read.
- ``catchup=False``: a rebuild always builds gold as of today, so missed nights are
  not replayed; ``max_active_runs=1``: runs never overlap (the rebuild also takes a
  lock of its own).
- ``ECOM_BIN`` (default ``ecom`` on PATH) and ``ECOM_REPO_DIR`` (working folder,
  optional) adapt it to the worker's layout.

This file is not part of the ``ecom`` package and imports nothing from it.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone

from airflow import DAG

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

DEFAULT_AT = "02:30"


def cron_from_hhmm(text: str) -> str:
    """``HH:MM`` (UTC) to a daily cron expression; a bad value fails the DAG import."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text.strip())
    if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
        raise ValueError(f"ECOM_GOLD_SCHEDULE_AT={text!r} is not a time of day HH:MM (UTC)")
    return f"{int(match.group(2))} {int(match.group(1))} * * *"


SCHEDULE = cron_from_hhmm(os.environ.get("ECOM_GOLD_SCHEDULE_AT") or DEFAULT_AT)
ECOM_BIN = os.environ.get("ECOM_BIN") or "ecom"
ECOM_REPO_DIR = os.environ.get("ECOM_REPO_DIR") or None

def ecom_task(task_id: str, command: str, timeout: timedelta) -> BashOperator:
    """A task running ``ecom <command>`` in ECOM_REPO_DIR."""
    return BashOperator(
        task_id=task_id,
        bash_command=f"{ECOM_BIN} {command}",
        cwd=ECOM_REPO_DIR,
        execution_timeout=timeout,
    )


with DAG(
    dag_id="nightly_gold_rebuild",
    description="Rebuild the gold tables, verify them against the source, then maintain the lake",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 (Python < 3.11 workers)
    catchup=False,
    max_active_runs=1,
    default_args={
        "owner": "analytics",
        "retries": 1,
        "retry_delay": timedelta(minutes=15),
    },
    tags=["ecom", "gold"],
) as dag:
    # a full build from the whole change-log; it waits for a running refresh (DAG
    # gold_refresh) to finish rather than failing on the lock
    gold_rebuild = ecom_task("gold_rebuild", "gold rebuild --full --wait-lock 900",
                             timedelta(hours=2))
    gold_verify = ecom_task("gold_verify", "gold verify", timedelta(minutes=30))
    # The lake's Delta tables are compacted and vacuumed after the swap: maintenance never
    # delays gold, and a rebuild never reads files a vacuum is deleting.
    # One optimize or vacuum at a time (the lake maintainer's rounds too): wait for theirs.
    lake_optimize = ecom_task("lake_optimize", "lake optimize --wait-lock 900",
                              timedelta(hours=1))
    lake_vacuum = ecom_task("lake_vacuum", "lake vacuum --wait-lock 900", timedelta(hours=1))

    gold_rebuild >> gold_verify >> lake_optimize >> lake_vacuum
