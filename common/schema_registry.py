"""The schema registry's Confluent-compatible REST API (Apicurio Registry's ``ccompat``):
the one client the stack's health check, the stream workers and ``ecom status`` use.

Only what the pipeline needs: register a schema under a subject (the registry returns
the id it already has for a schema registered before), set and read a subject's
compatibility rule, list subjects and read a subject's latest version.

Failures are typed by what the caller can do about them:

* :class:`RegistryUnavailable` (transient): no answer, or a 5xx; retry later.
* :class:`SchemaIncompatible` (terminal): the subject's compatibility rule refuses the
  schema (409); ``subject`` and ``rule`` name both.
* :class:`RegistryRequestFailed` (terminal): any other 4xx, with the registry's message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from common import http
from common.errors import TerminalError, TransientError
from common.settings import CCOMPAT_PATH

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
START_HINT = "start it with `ecom stack up registry`; `ecom stack logs registry` shows why it is down"
#: The compatibility rule every silver subject gets.
BACKWARD = "BACKWARD"


class RegistryUnavailable(TransientError):
    """The schema registry did not answer, or answered a server error."""


class RegistryRequestFailed(TerminalError):
    """The registry refused a request (4xx); ``status`` and its own message say why."""

    def __init__(self, message: str, *, status: int, registry_message: str) -> None:
        super().__init__(message)
        self.status = status
        self.registry_message = registry_message


class SchemaIncompatible(TerminalError):
    """A subject's compatibility rule refuses a new schema version."""

    def __init__(self, subject: str, rule: str, registry_message: str) -> None:
        super().__init__(
            f"schema registry refuses the new schema of subject {subject}: it breaks the "
            f"subject's {rule} compatibility ({registry_message[:300]})",
            hint=f"make the change {rule} compatible, or change the subject in the registry",
        )
        self.subject = subject
        self.rule = rule


@dataclass(frozen=True)
class SubjectVersion:
    subject: str
    version: int
    schema_id: int


@dataclass(frozen=True)
class RegistryClient:
    """Client of the registry's Confluent-compatible API at ``url``
    (``http://HOST:PORT/apis/ccompat/v7``, :attr:`common.settings.Settings.schema_registry_url`)."""

    url: str
    timeout: float = 30.0

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One call; the decoded JSON of a 2xx, a typed error otherwise (module doc).
        A 409 raises :class:`RegistryRequestFailed` with status 409: :meth:`register`
        turns it into :class:`SchemaIncompatible`."""
        try:
            resp = http.request(
                method,
                self.url + path,
                body=json.dumps(body).encode() if body is not None else None,
                headers={"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE},
                timeout=self.timeout,
            )
        except http.HttpUnavailable as exc:
            raise RegistryUnavailable(
                f"schema registry at {self.url} did not answer ({exc.reason})", hint=START_HINT
            ) from exc
        decoded = http.json_body(resp.data)
        if resp.status < 400:
            return decoded
        said = http.error_message(decoded, resp.data, keys=("message", "detail", "title"))
        what = f"schema registry refused {method} {path} ({resp.status}): {said}"
        if resp.status >= 500:
            raise RegistryUnavailable(what, hint="retry in a moment; " + START_HINT)
        raise RegistryRequestFailed(what, status=resp.status, registry_message=said)

    # ------------------------------------------------------------ schemas
    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """The id of Avro ``schema`` under ``subject``: registered as the subject's next
        version, unless the subject already has it. :class:`SchemaIncompatible` when the
        subject's compatibility rule refuses it."""
        body = {"schema": json.dumps(schema, separators=(",", ":")), "schemaType": "AVRO"}
        try:
            answer = self.request("POST", f"{_subject(subject)}/versions", body)
        except RegistryRequestFailed as exc:
            if exc.status != 409:
                raise
            raise SchemaIncompatible(
                subject, self.compatibility(subject) or "default", exc.registry_message
            ) from exc
        if not isinstance(answer, dict) or not isinstance(answer.get("id"), int):
            raise RegistryRequestFailed(
                f"schema registry answered no id for subject {subject}: {str(answer)[:200]}",
                status=200,
                registry_message=str(answer)[:200],
            )
        return int(answer["id"])

    def latest(self, subject: str) -> SubjectVersion | None:
        """The subject's latest version and its schema id; None when there is no subject."""
        try:
            answer = self.request("GET", f"{_subject(subject)}/versions/latest")
        except RegistryRequestFailed as exc:
            if exc.status == 404:
                return None
            raise
        return SubjectVersion(subject, int(answer["version"]), int(answer["id"]))

    def subjects(self) -> list[str]:
        return [str(s) for s in self.request("GET", "/subjects") or []]

    # ------------------------------------------------------------ compatibility
    def compatibility(self, subject: str) -> str | None:
        """The subject's own compatibility rule; None when it has none."""
        try:
            answer = self.request("GET", f"/config/{quote(subject, safe='')}")
        except RegistryRequestFailed as exc:
            if exc.status == 404:
                return None
            raise
        level = answer.get("compatibilityLevel") if isinstance(answer, dict) else None
        return str(level) if level else None

    def set_compatibility(self, subject: str, rule: str = BACKWARD) -> None:
        """Set the subject's own rule (idempotent). Two clients setting a new subject's
        rule at once can race in the registry: the slower one is told the rule already
        exists (409), and setting it again then updates it."""
        path, body = f"/config/{quote(subject, safe='')}", {"compatibility": rule}
        try:
            self.request("PUT", path, body)
        except RegistryRequestFailed as exc:
            if exc.status != 409:
                raise
            self.request("PUT", path, body)

    # ------------------------------------------------------------ the server
    def version(self) -> str:
        """The registry's own version (Apicurio's system information)."""
        root = self.url.removesuffix(CCOMPAT_PATH)
        try:
            resp = http.request("GET", f"{root}/apis/registry/v3/system/info", timeout=self.timeout)
        except http.HttpUnavailable as exc:
            raise RegistryUnavailable(
                f"schema registry at {root} did not answer ({exc.reason})", hint=START_HINT
            ) from exc
        info = http.json_body(resp.data)
        if resp.status != 200 or not isinstance(info, dict):
            raise RegistryUnavailable(
                f"schema registry at {root} answered {resp.status} to its system information",
                hint=START_HINT,
            )
        return str(info.get("version", ""))


def subject_of_topic(topic: str) -> str:
    """The value subject of ``topic`` under the TopicNameStrategy (what Kafka clients'
    serializers use by default)."""
    return f"{topic}-value"


def _subject(subject: str) -> str:
    return f"/subjects/{quote(subject, safe='')}"
