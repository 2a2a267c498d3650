"""argparse pieces shared by the command modules (ecom/cli*.py)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any

SubParsers = argparse._SubParsersAction  # type: ignore[type-arg]


def add_command(
    commands: SubParsers, name: str, summary: str, description: str | None = None, **kwargs: Any
) -> argparse.ArgumentParser:
    """A (sub-)command listed with ``summary``; its own ``--help`` opens with
    ``description``, or the summary when there is no more to say."""
    return commands.add_parser(name, help=summary, description=description or summary, **kwargs)


def iso_date(text: str) -> dt.date:
    """An argparse type: a calendar date written YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def as_of(text: str) -> dt.date | dt.datetime:
    """An argparse type: a date YYYY-MM-DD, or a moment with its time zone
    (2026-11-29T14:00:00Z)."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date (YYYY-MM-DD) or a time with its zone (YYYY-MM-DDTHH:MM:SSZ)"
        )
    return when
