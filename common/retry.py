"""Retries and deadlines, on tenacity, driven by the project's error split.

Two shapes cover every wait in the project:

* :func:`retry_transient` calls an operation until it succeeds. A :class:`TransientError`
  is retried with capped exponential backoff; anything else (a :class:`TerminalError`
  first of all) passes through at once. When the next wait would end past the deadline,
  the caller's ``give_up`` turns the last transient error into the error raised, so the
  user still reads one line naming what failed and what to do.
* :func:`poll` checks a state at a fixed interval until it is what the caller waits
  for. ``check`` raises a terminal error to stop at once (a process that exited, a
  connector that FAILED); at the deadline, ``on_timeout`` turns the last state seen into
  the error raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from tenacity import (
    RetryCallState,
    Retrying,
    retry_base,
    retry_if_exception_type,
    retry_if_result,
    stop_after_delay,
    stop_before_delay,
    wait_exponential,
    wait_fixed,
)

from common.errors import EcomError, TransientError

T = TypeVar("T")
Sleep = Callable[[float], None]

log = logging.getLogger(__name__)


def retry_transient(
    fn: Callable[[], T],
    *,
    what: str,
    deadline: float,
    give_up: Callable[[TransientError, int], EcomError],
    first_wait: float = 0.2,
    max_wait: float = 10.0,
    logger: logging.Logger = log,
    sleep: Sleep = time.sleep,
) -> T:
    """``fn()``, retrying its :class:`TransientError` for at most ``deadline`` seconds.

    Waits ``first_wait``, doubling up to ``max_wait``; each retry logs a warning naming
    ``what``. No wait ends past the deadline: when the next one would, the attempts stop
    and ``give_up(last_error, attempts)`` is raised, chained to the last error.
    """

    def warn(state: RetryCallState) -> None:
        logger.warning(
            "%s failed (attempt %d, retrying in %.1fs): %s",
            what,
            state.attempt_number,
            state.upcoming_sleep,
            _exception(state),
        )

    def spent(state: RetryCallState) -> T:
        error = _exception(state)
        assert isinstance(error, TransientError)  # the only exception retried
        raise give_up(error, state.attempt_number) from error

    retrying = Retrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_exponential(multiplier=first_wait, min=first_wait, max=max_wait),
        stop=stop_before_delay(deadline),
        before_sleep=warn,
        retry_error_callback=spent,
        sleep=sleep,
    )
    return retrying(fn)


def poll(
    check: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float,
    on_timeout: Callable[[T], EcomError],
    retry_transient_errors: bool = False,
    sleep: Sleep = time.sleep,
) -> T:
    """Call ``check()`` every ``interval`` seconds until ``done(result)``; return that result.

    After ``timeout`` seconds, ``on_timeout(last_result)`` is raised. An exception from
    ``check`` ends the wait at once, unless it is a :class:`TransientError` and
    ``retry_transient_errors`` is set: then it is retried like a state not yet reached
    (and re-raised if it is still what the last check gave at the deadline).
    """
    retry: retry_base = retry_if_result(lambda value: not done(value))
    if retry_transient_errors:
        retry = retry | retry_if_exception_type(TransientError)

    def timed_out(state: RetryCallState) -> T:
        assert state.outcome is not None
        if state.outcome.failed:
            raise _exception(state)
        raise on_timeout(state.outcome.result())

    retrying = Retrying(
        retry=retry,
        wait=wait_fixed(interval),
        stop=stop_after_delay(timeout),
        retry_error_callback=timed_out,
        sleep=sleep,
    )
    return retrying(check)


def _exception(state: RetryCallState) -> BaseException:
    assert state.outcome is not None and state.outcome.failed
    error = state.outcome.exception()
    assert error is not None
    return error
