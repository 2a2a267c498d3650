"""The SQL files shipped in ``compaction/sql/`` (package data)."""

from __future__ import annotations

from functools import cache
from importlib import resources


@cache
def read(name: str) -> str:
    return resources.files("compaction").joinpath("sql", name).read_text(encoding="utf-8")
