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
        # just beyond 64 bits with 19 and 20 digits: orjson would return floats here
        b'{"n": -9223372036854775809}',
        b'{"n": -9999999999999999999}',
        b'{"m": 18446744073709551616}',
        b'{"s": "a 20-digit run 12345678901234567890 inside a string"}',
        b'{"dup": 1, "dup": 2}',
        '{"s": "\u00fcber \U0001f600"}'.encode(),
    ],
)
def test_same_result_as_json(raw: bytes) -> None:
    # compared as JSON text: 2**64 == float(2**64) in Python, but the texts differ
    assert json.dumps(envelope._load_json(raw)) == json.dumps(json.loads(raw))


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


@pytest.mark.parametrize(
    "n",
    [
        -(2**63) - 1, -(2**63), -(2**63) + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 2**64 + 1,
        -(10**19) + 1, -(10**19), 10**19 - 1, 10**19, 10**25, -(10**25),
    ],
)  # fmt: skip
def test_integers_at_the_64_bit_edges_stay_exact(n: int) -> None:
    raw = json.dumps({"n": n, "ts_ns": 1795863619300720858}).encode()
    parsed = envelope._load_json(raw)
    assert type(parsed["n"]) is int and parsed["n"] == n
