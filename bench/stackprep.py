"""Bench stack preparation shared by the benchmarks."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def quiesce_capture(settings: Any) -> list[str]:
    """Stop everything that would stream a new seed: stream workers, the Debezium
    connectors (deleted) and their replication slot (dropped). Bench stack only."""
    import psycopg2

    from common.connect import ConnectClient, ConnectUnavailable
    from compaction import maintainer
    from connectors import manage
    from stream_apps import configuration, workers

    done = []
    if workers.stop(configuration.load()):
        done.append("stream workers stopped")
    if maintainer.stop(settings):
        done.append("lake maintainer stopped")
    connect = ConnectClient(settings.connect_url)
    for name in manage.definition_names():
        try:
            if connect.delete(name):
                done.append(f"connector {name} deleted")
        except ConnectUnavailable:
            pass  # Connect is down: nothing streams
    conn = psycopg2.connect(settings.source_dsn, connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for _ in range(60):
                cur.execute(
                    "SELECT active FROM pg_replication_slots WHERE slot_name = %s",
                    (settings.slot_name,),
                )
                row = cur.fetchone()
                if row is None:
                    break
                if not row[0]:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (settings.slot_name,))
                    done.append(f"replication slot {settings.slot_name} dropped")
                    break
                time.sleep(1)
    finally:
        conn.close()
    return done


if __name__ == "__main__":  # python -m bench.stackprep: quiesce the stack of the environment
    from common.settings import load

    print(", ".join(quiesce_capture(load())) or "nothing was capturing", flush=True)
