"""Session fixtures: start the real local stack once, create the schema, register the connector.

Everything here talks to real PostgreSQL, Kafka, Kafka Connect and MinIO processes
(started by ``ecom stack up`` from the download cache); nothing is mocked. The
stack is left running after the session (CI stops it; a developer keeps it warm).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator, Iterator

import pytest

from common import process
from common.progress import Progress
from common.settings import Settings, load
from stream_apps.configuration import StreamSettings

STACK_LOG_LINES = 25  # per log, in a failed test's report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test's report ends with the last lines of every stack component's and
    stream worker's log, so a failure seen only in CI's output can still be explained."""
    report = yield
    if report.failed and call.when == "call":
        logs = load().home / "logs"
        for path in sorted(logs.glob("*.log")) if logs.is_dir() else []:
            tail = process.tail(path, STACK_LOG_LINES)
            if tail:
                report.sections.append((f"last lines of {path.name}", "\n".join(tail)))
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return load()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Settings:
    """The stack is up and the source schema exists (connector not required); no lake
    maintainer runs (`make demo` starts one): the tests compact the lake themselves, and a
    round in the background would hold the lake's lock or change its files under them."""
    from compaction import maintainer
    from ecom import dbinit
    from stack import services

    progress = Progress()
    if maintainer.stop(settings) is not None:
        progress("stopped the lake maintainer for the tests")
    services.up(settings, progress=progress)
    dbinit.init(settings, progress=progress)
    return settings


@pytest.fixture(scope="session")
def capture(stack: Settings) -> Settings:
    """The Debezium connector is registered and RUNNING."""
    from connectors import manage

    manage.apply_all(stack, progress=Progress())
    return stack


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real `ecom` entry point in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "ecom.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )


@pytest.fixture(scope="session")
def stream_settings(capture: Settings) -> StreamSettings:
    """Settings of the stream workers (ECOM_STREAM_*), once capture is running."""
    from stream_apps import configuration

    return configuration.load()


@pytest.fixture(scope="session")
def stream(stream_settings: StreamSettings) -> Iterator[StreamSettings]:
    """One stream worker runs (reusing a running one); all workers stop at session end."""
    from stream_apps import workers

    workers.start(stream_settings, 1, wait_seconds=90)
    try:
        yield stream_settings
    finally:
        workers.stop(stream_settings)
