"""Customer-email masking and keyed hashing (common.pii)."""

from __future__ import annotations

import pytest

from common.pii import KEEP, EmailPolicy, hash_email, mask_email


def test_hash_is_hmac_sha256_rfc4231_vector() -> None:
    # RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?"
    assert hash_email("what do ya want for nothing?", "Jefe") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_hash_is_stable_keyed_and_hides_the_address() -> None:
    a = hash_email("ann.lee@example.com", "k1")
    assert a == hash_email("ann.lee@example.com", "k1")  # joins and history still work
    assert a != hash_email("ann.lee@example.com", "k2")  # without the key, no lookup table
    assert a != hash_email("bob@example.com", "k1")
    assert len(a) == 64 and set(a) <= set("0123456789abcdef")
    assert "example" not in a


def test_hash_refuses_an_empty_key() -> None:
    with pytest.raises(ValueError, match="ECOM_PII_SALT"):
        hash_email("ann@example.com", "")


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("john.doe@example.com", "j***@example.com"),
        ("j@example.com", "j***@example.com"),
        ("@example.com", "***@example.com"),
        ("odd@name@host.org", "o***@host.org"),  # the domain is after the last @
        ("not-an-address", "***"),
    ],
)
def test_mask(email: str, masked: str) -> None:
    assert mask_email(email) == masked


def test_policies() -> None:
    email = "ann.lee@example.com"
    assert KEEP.apply(email) == email
    assert EmailPolicy("mask").apply(email) == "a***@example.com"
    assert EmailPolicy("hash", "secret").apply(email) == hash_email(email, "secret")
    for policy in (KEEP, EmailPolicy("mask"), EmailPolicy("hash", "secret")):
        assert policy.apply(None) is None
        assert policy.apply("") == ""


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown PII email mode"):
        EmailPolicy("scramble")
    with pytest.raises(ValueError, match="ECOM_PII_SALT"):
        EmailPolicy("hash", "")
