"""common.errors: the one-line message helpers."""

from __future__ import annotations

from common.errors import EcomError, first_line


def test_first_line_of_a_multi_line_driver_message() -> None:
    exc = OSError('connection to server failed\n\tIs the server running on "127.0.0.1"?\n')
    assert first_line(exc) == "connection to server failed"


def test_first_line_of_an_empty_message_is_the_type() -> None:
    assert first_line(TimeoutError()) == "TimeoutError"
    assert first_line(ValueError("  \n ")) == "ValueError"


def test_hint_follows_the_message_in_parentheses() -> None:
    assert str(EcomError("it broke", hint="do this")) == "it broke (do this)"
