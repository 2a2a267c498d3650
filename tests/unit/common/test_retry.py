"""The retry policy (common.retry) and the lake writer's use of it, with plain callables
standing in for the operation retried: transient errors are retried until the operation
succeeds, terminal ones pass through at once, a deadline reached is one line."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from deltalake.exceptions import DeltaError

from common.errors import EcomError, TerminalError, TransientError
from common.retry import poll, retry_transient
from stream_apps.destinations import classify
from stream_apps.exceptions import LakeWriteFailed


def failing(times: int, error: Exception, result: Any = "done") -> tuple[Callable[[], Any], list]:
    """A callable that raises ``error`` its first ``times`` calls, then returns ``result``;
    and the list of the monotonic times it was called at."""
    calls: list[float] = []

    def fn() -> Any:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise error
        return result

    return fn, calls


def never(error: TransientError, attempts: int) -> EcomError:
    raise AssertionError(f"gave up after {attempts} attempts: {error}")


def test_transient_errors_are_retried_with_backoff_then_the_result_returned(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fn, calls = failing(3, TransientError("broker restarting"))
    with caplog.at_level(logging.WARNING):
        got = retry_transient(fn, what="put x", deadline=30, give_up=never, first_wait=0.02)
    assert got == "done" and len(calls) == 4
    gaps = [b - a for a, b in zip(calls, calls[1:], strict=False)]
    assert gaps[0] >= 0.02 and gaps[1] >= 0.04 and gaps[2] >= 0.08  # doubling waits
    assert [r.getMessage() for r in caplog.records] == [
        "put x failed (attempt 1, retrying in 0.0s): broker restarting",
        "put x failed (attempt 2, retrying in 0.0s): broker restarting",
        "put x failed (attempt 3, retrying in 0.1s): broker restarting",
    ]


def test_waits_are_capped() -> None:
    slept: list[float] = []
    fn, _ = failing(6, TransientError("down"))
    retry_transient(
        fn, what="x", deadline=3600, give_up=never, first_wait=1, max_wait=4, sleep=slept.append
    )
    assert slept == [1, 2, 4, 4, 4, 4]


@pytest.mark.parametrize("error", [TerminalError("bad credentials"), ValueError("a bug")])
def test_anything_but_a_transient_error_passes_through_at_once(error: Exception) -> None:
    fn, calls = failing(5, error)
    with pytest.raises(type(error)) as raised:
        retry_transient(fn, what="x", deadline=30, give_up=never, first_wait=0.01)
    assert raised.value is error and len(calls) == 1


def test_a_deadline_reached_raises_the_callers_one_line_error() -> None:
    error = TransientError("connection refused")
    fn, calls = failing(10**6, error)

    def give_up(last: TransientError, attempts: int) -> EcomError:
        return TerminalError(f"x: still failing after {attempts} attempts: {last}", hint="start it")

    t0 = time.monotonic()
    with pytest.raises(TerminalError) as raised:
        retry_transient(fn, what="x", deadline=0.5, give_up=give_up, first_wait=0.05, max_wait=0.1)
    elapsed = time.monotonic() - t0
    assert 0.3 <= elapsed < 0.7  # the waits planned end before the deadline (0.5 s)
    assert str(raised.value) == (
        f"x: still failing after {len(calls)} attempts: connection refused (start it)"
    )
    assert raised.value.__cause__ is error and len(calls) >= 3


# ---------------------------------------------------------------- poll
def test_poll_returns_the_first_state_that_is_done() -> None:
    states = iter(["STARTING", "STARTING", "RUNNING", "never read"])
    got = poll(
        lambda: next(states),
        lambda s: s == "RUNNING",
        timeout=10,
        interval=0.01,
        on_timeout=lambda s: TerminalError(s),
    )
    assert got == "RUNNING"


def test_poll_stops_at_once_when_check_raises() -> None:
    fn, calls = failing(1, TerminalError("process exited"))
    with pytest.raises(TerminalError, match="process exited"):
        poll(fn, bool, timeout=10, interval=0.01, on_timeout=lambda s: TerminalError(s))
    assert len(calls) == 1


def test_poll_at_the_deadline_raises_what_on_timeout_makes_of_the_last_state() -> None:
    seen = iter(range(10**6))
    with pytest.raises(TerminalError) as raised:
        poll(
            lambda: next(seen),
            lambda n: False,
            timeout=0.2,
            interval=0.05,
            on_timeout=lambda n: TerminalError(f"not ready after 0.2s (last state {n})"),
        )
    found = re.fullmatch(r"not ready after 0.2s \(last state (\d+)\)", str(raised.value))
    assert found is not None and 1 <= int(found[1]) <= 5


def test_poll_waits_out_transient_errors_only_when_asked() -> None:
    fn, calls = failing(2, TransientError("rebalancing"), result="RUNNING")
    with pytest.raises(TransientError):
        poll(fn, bool, timeout=10, interval=0.01, on_timeout=lambda s: TerminalError(s))
    assert len(calls) == 1
    fn, calls = failing(2, TransientError("rebalancing"), result="RUNNING")
    got = poll(
        fn,
        bool,
        timeout=10,
        interval=0.01,
        on_timeout=lambda s: TerminalError(s),
        retry_transient_errors=True,
    )
    assert got == "RUNNING" and len(calls) == 3


def test_poll_reraises_a_transient_error_still_there_at_the_deadline() -> None:
    error = TransientError("Connect did not answer")
    fn, _ = failing(10**6, error)
    with pytest.raises(TransientError) as raised:
        poll(
            fn,
            bool,
            timeout=0.1,
            interval=0.02,
            on_timeout=lambda s: TerminalError(s),
            retry_transient_errors=True,
        )
    assert raised.value is error


# ---------------------------------------------------------------- the lake writer
def test_lake_failures_are_sorted_into_terminal_and_transient() -> None:
    """delta-rs reports S3 trouble as OSError with the store's message: credentials and a
    missing bucket cannot heal; a refused connection or a timeout can."""
    for text in (
        "Kernel error -> The operation lacked the necessary privileges to complete for path x",
        "Generic S3 error: ... <Code>NoSuchBucket</Code> ...",
        "... <Code>InvalidAccessKeyId</Code> ...",
    ):
        assert isinstance(classify(OSError(text)), LakeWriteFailed), text
    for exc in (
        OSError("Generic S3 error \x1b[31m\u21b3\x1b[0m error sending request: Connection refused"),
        DeltaError("Failed to read delta log object: operation timed out"),
    ):
        error = classify(exc)
        assert isinstance(error, TransientError) and not isinstance(error, LakeWriteFailed)
        assert "\n" not in str(error) and "\x1b" not in str(error)
