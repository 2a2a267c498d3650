"""Importing stream_apps.app builds nothing: no settings read, no patch, no file. The
worker entry point reads the settings when it runs, not when it is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
from faust.transport.drivers import aiokafka
before = aiokafka.Transport.Consumer
import stream_apps.app as m
import stream_apps.worker as w
assert aiokafka.Transport.Consumer is before, "Faust's consumer was patched at import"
assert not hasattr(m, "app"), "an app was built at import"
try:
    w.main()
except Exception as exc:  # the settings are only read now
    print(f"{type(exc).__name__}: {exc}")
    sys.exit(3)
sys.exit(4)
"""


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = dict(os.environ, ECOM_HOME=str(home), ECOM_PG_PORT="not-a-port")
    env.pop("ECOM_STREAM_WORKER", None)
    done = subprocess.run(
        [sys.executable, "-c", CHECK],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 3: the imports succeeded and only running the worker read the (broken) settings
    assert done.returncode == 3, done.stdout + done.stderr
    assert "ECOM_PG_PORT" in done.stdout
    assert not home.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
