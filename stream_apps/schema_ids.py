"""The silver schemas' ids in the schema registry, for the worker's ``AvroRegistry``.

:class:`RegistryIds` is the worker's :data:`schemas.avro.SchemaIds`: the id of a writer
schema under its silver topic's subject (``silver.<table>-value``, the
TopicNameStrategy). ``AvroRegistry`` asks once per schema and keeps the id, so records
never cost a registry call; the calls are blocking HTTP and happen in the landing
thread, never on the event loop.

* The first time this process uses a subject, the subject's compatibility is set to
  BACKWARD (idempotent), so the registry refuses a version that cannot read the
  subject's previous one.
* Registering a schema the subject already has returns its id (no new version); a new
  schema becomes the subject's next version, when its rule allows it.
* Transient failures (registry down, restarting) are retried in place for ``deadline``
  seconds, then end the worker without committing, like a lake write.
* A refusal (:class:`common.schema_registry.SchemaIncompatible`) is raised to the
  processor, which dead-letters the record; it is remembered for ``refusal_seconds`` so
  the records of a batch do not ask again one by one, and asked again afterwards (the
  subject may have been fixed).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from common.errors import EcomError, TransientError
from common.retry import Sleep, retry_transient
from common.schema_registry import BACKWARD, RegistryClient, SchemaIncompatible
from stream_apps.exceptions import SchemaIdFailed

log = logging.getLogger(__name__)

REFUSAL_SECONDS = 30.0


class RegistryIds:
    """``(table, schema) -> id`` against the schema registry (see the module doc)."""

    def __init__(
        self,
        client: RegistryClient,
        subject_of: Callable[[str], str],
        *,
        deadline: float,
        refusal_seconds: float = REFUSAL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.client = client
        self.subject_of = subject_of
        self.deadline = deadline
        self.refusal_seconds = refusal_seconds
        self.clock = clock
        self.sleep = sleep
        self._ruled: set[str] = set()  # subjects whose rule this process has set
        self._refused: dict[tuple[str, str], tuple[float, SchemaIncompatible]] = {}

    def __call__(self, table: str, schema: dict[str, Any]) -> int:
        subject = self.subject_of(table)
        text = json.dumps(schema, sort_keys=True)
        refused = self._refused.get((subject, text))
        if refused is not None and self.clock() < refused[0]:
            raise refused[1]
        try:
            schema_id = self._retrying(f"registering a {table} schema under {subject}",
                                       lambda: self._register(subject, schema))  # fmt: skip
        except SchemaIncompatible as exc:
            log.error("%s", exc.message)
            self._refused[(subject, text)] = (self.clock() + self.refusal_seconds, exc)
            raise
        self._refused.pop((subject, text), None)
        log.info("subject %s: schema id %d for %s", subject, schema_id, table)
        return schema_id

    def _register(self, subject: str, schema: dict[str, Any]) -> int:
        if subject not in self._ruled:
            self.client.set_compatibility(subject, BACKWARD)
            self._ruled.add(subject)
        return self.client.register(subject, schema)

    def _retrying(self, what: str, fn: Callable[[], int]) -> int:
        def give_up(error: TransientError, attempts: int) -> EcomError:
            return SchemaIdFailed(
                f"{what} failed {attempts} times in {self.deadline:.0f}s: {error.message}",
                hint=error.hint or "start the schema registry: `ecom stack up registry`",
            )

        return retry_transient(
            fn, what=what, deadline=self.deadline, give_up=give_up, logger=log, sleep=self.sleep
        )
