"""Airflow DAG ``gold_refresh``: the frequent incremental gold build, beside the nightly
full one (``nightly_gold_rebuild``).

- Schedule: every ``ECOM_GOLD_REFRESH_MINUTES`` minutes (default 5; minutes dividing 60
  or whole hours dividing 24, the same values ``ecom gold schedule --print`` accepts).
- The task runs ``ecom gold rebuild --if-idle``: it applies the silver changes newer
  than the state the last build kept; when another build holds the gold lock (the
  nightly one) it prints one line saying it skipped and succeeds, so an overlap is not
  a failed run. ``max_active_runs=1`` and ``catchup=False``: a missed refresh is never
  replayed (the next one covers it).
- ``ECOM_BIN`` and ``ECOM_REPO_DIR`` as for the nightly DAG.

This file is not part of the ``ecom`` package and imports nothing from it.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

from airflow import DAG

try:  # Airflow 3: the standard provider
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

DEFAULT_MINUTES = "5"


def cron_from_minutes(text: str) -> str:
    """Refresh minutes to a cron expression; a value cron cannot repeat evenly fails the
    DAG import."""
    minutes = int(text.strip()) if text.strip().isdigit() else 0
    if 0 < minutes < 60 and 60 % minutes == 0:
        return f"*/{minutes} * * * *"
    if minutes >= 60 and minutes % 60 == 0 and 24 % (minutes // 60) == 0:
        return f"0 */{minutes // 60} * * *"
    raise ValueError(
        f"ECOM_GOLD_REFRESH_MINUTES={text!r} is not a refresh interval cron can repeat evenly"
    )


SCHEDULE = cron_from_minutes(os.environ.get("ECOM_GOLD_REFRESH_MINUTES") or DEFAULT_MINUTES)
ECOM_BIN = os.environ.get("ECOM_BIN") or "ecom"
ECOM_REPO_DIR = os.environ.get("ECOM_REPO_DIR") or None

with DAG(
    dag_id="gold_refresh",
    description="Apply the newest silver changes to the gold tables (incremental build)",
    schedule=SCHEDULE,
    start_date=datetime(2026, 1, 1, tzinfo=timezone.utc),  # noqa: UP017 (Python < 3.11 workers)
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "analytics", "retries": 0},  # the next refresh is the retry
    tags=["ecom", "gold"],
) as dag:
    gold_refresh = BashOperator(
        task_id="gold_refresh",
        bash_command=f"{ECOM_BIN} gold rebuild --if-idle",
        cwd=ECOM_REPO_DIR,
        execution_timeout=timedelta(minutes=30),
    )
