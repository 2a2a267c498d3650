"""The worker's schema ids: the subject's rule set once, transient failures retried up to
the deadline, refusals remembered for a while and then asked again."""

from __future__ import annotations

from typing import Any

import pytest

from common.schema_registry import RegistryUnavailable, SchemaIncompatible
from stream_apps.exceptions import SchemaIdFailed
from stream_apps.schema_ids import RegistryIds

SCHEMA = {"type": "record", "name": "ecom.silver.orders", "fields": []}


class Client:
    """The calls a RegistryIds makes; ``fail`` are raised by the next calls (of kind
    ``only``, when given), in order."""

    def __init__(self, *fail: Exception, only: str | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.fail = list(fail)
        self.only = only

    def _next(self, call: tuple[str, str]) -> None:
        self.calls.append(call)
        if self.fail and self.only in (None, call[0]):
            raise self.fail.pop(0)

    def set_compatibility(self, subject: str, rule: str = "BACKWARD") -> None:
        self._next(("rule", f"{subject}={rule}"))

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        self._next(("register", subject))
        return 40 + len(schema["fields"])


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _ids(client: Client, clock: Clock | None = None, deadline: float = 60.0) -> RegistryIds:
    return RegistryIds(
        client,  # type: ignore[arg-type]
        lambda table: f"silver.{table}-value",
        deadline=deadline,
        clock=clock or Clock(),
        sleep=lambda _s: None,
    )


def test_the_rule_is_set_once_per_subject_then_schemas_are_registered() -> None:
    client = Client()
    ids = _ids(client)
    assert ids("orders", SCHEMA) == 40
    assert ids("orders", {**SCHEMA, "fields": [{"name": "x", "type": "long"}]}) == 41
    assert ids("customers", SCHEMA) == 40
    assert client.calls == [
        ("rule", "silver.orders-value=BACKWARD"),
        ("register", "silver.orders-value"),
        ("register", "silver.orders-value"),
        ("rule", "silver.customers-value=BACKWARD"),
        ("register", "silver.customers-value"),
    ]


def test_a_registry_that_is_down_is_waited_for() -> None:
    down = RegistryUnavailable("schema registry at http://x did not answer (Connection refused)")
    client = Client(down, down, down)
    assert _ids(client)("orders", SCHEMA) == 40
    assert [c[0] for c in client.calls] == ["rule"] * 4 + ["register"]


def test_a_registry_down_past_the_deadline_stops_the_batch() -> None:
    down = RegistryUnavailable("schema registry at http://x did not answer (Connection refused)")
    client = Client(*[down] * 50)
    with pytest.raises(SchemaIdFailed, match="silver.orders-value.*Connection refused"):
        _ids(client, deadline=0.5)("orders", SCHEMA)
    assert 1 < len(client.calls) < 50


def test_a_refusal_is_remembered_for_a_while_then_asked_again() -> None:
    refused = SchemaIncompatible("silver.orders-value", "BACKWARD", "reader union lacking")
    client, clock = Client(refused, only="register"), Clock()
    ids = _ids(client, clock)
    for _ in range(3):
        with pytest.raises(SchemaIncompatible) as err:
            ids("orders", SCHEMA)
        assert err.value is refused
    assert [c[0] for c in client.calls] == ["rule", "register"]  # asked once
    clock.now += ids.refusal_seconds + 1
    assert ids("orders", SCHEMA) == 40  # the subject was fixed meanwhile
    assert [c[0] for c in client.calls] == ["rule", "register", "register"]
