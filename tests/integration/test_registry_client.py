"""The project's schema registry client against the real registry (Apicurio)."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from common.schema_registry import BACKWARD, RegistryClient
from common.settings import Settings

pytestmark = pytest.mark.integration

CLIENTS = 6  # workers starting at once on a fresh registry


def test_clients_setting_a_new_subjects_rule_at_once_all_succeed(stack: Settings) -> None:
    """Workers started together each set the rule of every silver subject: the registry
    can refuse all but the first with 409 'rule already exists'; none may fail."""
    for _ in range(5):
        subject = f"ecom-test-{uuid.uuid4().hex[:10]}-value"
        start = threading.Barrier(CLIENTS)

        def set_rule(_i: int, subject: str = subject, start: threading.Barrier = start) -> None:
            client = RegistryClient(stack.schema_registry_url, timeout=10)
            start.wait()
            client.set_compatibility(subject, BACKWARD)

        with ThreadPoolExecutor(CLIENTS) as pool:
            list(pool.map(set_rule, range(CLIENTS)))  # re-raises the first failure
        assert RegistryClient(stack.schema_registry_url).compatibility(subject) == BACKWARD
