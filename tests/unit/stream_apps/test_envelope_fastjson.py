"""The orjson fast path gives exactly what json gives, and falls back where orjson refuses."""

from __future__ import annotations

import json
import math

import pytest

from stream_apps import envelope
from stream_apps.envelope import DecodeError


@pytest.mark.parametrize(
    "raw",
    [
        b'{"a": 1, "b": "x\\u00e9", "c": [1, 2.5, null, true], "d": {"e": "12.30"}}',
        b'{"big": 123456789012345678901234567890}',  # beyond 64 bits: orjson refuses
        b'{"n": -9223372036854775808, "m": 18446744073709551615}',
        b'{"dup": 1, "dup": 2}',
        "{\"s\": \"\u00fcber \U0001f600\"}".encode(),
    ],
)
def test_same_result_as_json(raw: bytes) -> None:
    assert envelope._load_json(raw) == json.loads(raw)


def test_nan_literal_falls_back_to_json() -> None:
    parsed = envelope._load_json(b'{"x": NaN}')
    assert math.isnan(parsed["x"])


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"op": "c", "after": {"id": 1', "truncated_json"),
        (b"not json at all", "not_json"),
        (b'{"a": 1} trailing', "not_json"),
        (b"\xff\xfe garbage", "not_json"),
    ],
)
def test_errors_are_still_classified_by_the_json_path(raw: bytes, reason: str) -> None:
    with pytest.raises(DecodeError) as err:
        envelope._load_json(raw)
    assert err.value.reason == reason


def test_commit_lsn_from_sequence_string() -> None:
    assert envelope._commit_lsn('["100", "200"]') == 100
    assert envelope._commit_lsn('[null, "200"]') is None
    with pytest.raises(DecodeError):
        envelope._commit_lsn("[not json")
