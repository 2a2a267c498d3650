"""ECOM_PII_EMAIL applied where silver records are built (stream_apps.rules)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from common.pii import EmailPolicy, hash_email
from stream_apps import configuration, rules
from tests.unit.stream_apps.test_rules import CUSTOMER, silver


@pytest.fixture(autouse=True)
def reset_policy() -> Iterator[None]:
    rules.set_email_policy(None)
    yield
    rules.set_email_policy(None)


def test_keep_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ECOM_PII_EMAIL", raising=False)
    assert silver("customers", CUSTOMER).record["email"] == "ann.lee@example.com"


def test_hash_applies_to_the_normalised_email() -> None:
    rules.set_email_policy(EmailPolicy("hash", "k"))
    rec = silver("customers", CUSTOMER).record
    assert rec["email"] == hash_email("ann.lee@example.com", "k")
    # the same person written differently hashes alike: normalisation comes first
    again = silver("customers", {**CUSTOMER, "email": "ANN.LEE@example.com"}).record
    assert again["email"] == rec["email"]
    assert (rec["first_name"], rec["last_name"]) == ("Ann", "Lee")


def test_mask_and_null() -> None:
    rules.set_email_policy(EmailPolicy("mask"))
    assert silver("customers", CUSTOMER).record["email"] == "a***@example.com"
    assert silver("customers", {**CUSTOMER, "email": None}).record["email"] is None


def test_policy_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_PII_EMAIL", "hash")
    monkeypatch.setenv("ECOM_PII_SALT", "from-the-env")
    assert configuration.email_policy() == EmailPolicy("hash", "from-the-env")
    rec = silver("customers", CUSTOMER).record
    assert rec["email"] == hash_email("ann.lee@example.com", "from-the-env")
