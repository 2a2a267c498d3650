"""Customer email in silver and gold: kept, hashed with a secret key, or masked.

``ECOM_PII_EMAIL`` chooses (see :mod:`common.settings`):

* ``keep`` (default): the normalised address (trimmed, lower case), as the contract says;
* ``hash``: HMAC-SHA256 of the normalised address keyed with ``ECOM_PII_SALT``, as 64
  lower-case hex digits. The same address always gives the same value, so counting
  distinct customers, joins and change detection (the SCD2 history) still work, but
  nobody without the key can test a guessed address against it;
* ``mask``: the first character of the local part, ``***`` and the domain
  (``j***@example.com``): readable for support, but different addresses may mask alike.

The raw layers are not rewritten: bronze objects and dead letters keep the change
events' original bytes (they are the replayable record of what the source sent).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

MASK = "***"


def hash_email(email: str, key: str) -> str:
    """HMAC-SHA256 of ``email`` (UTF-8) keyed with ``key``, as lower-case hex."""
    if not key:
        raise ValueError("the PII hash needs a non-empty key (ECOM_PII_SALT)")
    return hmac.new(key.encode("utf-8"), email.encode("utf-8"), hashlib.sha256).hexdigest()


def mask_email(email: str) -> str:
    """``john.doe@example.com`` -> ``j***@example.com``; no ``@`` -> ``***``.

    The domain (after the last ``@``) is kept: it says which provider or company, not who.
    """
    local, at, domain = email.rpartition("@")
    if not at:
        return MASK
    return f"{local[:1]}{MASK}@{domain}"


@dataclass(frozen=True)
class EmailPolicy:
    """What to do with an email address: ``keep``, ``hash`` (with ``key``) or ``mask``."""

    mode: str = "keep"
    key: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("keep", "hash", "mask"):
            raise ValueError(f"unknown PII email mode {self.mode!r} (keep, hash or mask)")
        if self.mode == "hash" and not self.key:
            raise ValueError("the PII hash needs a non-empty key (ECOM_PII_SALT)")

    def apply(self, email: str | None) -> str | None:
        """The value silver stores for the (already normalised) ``email``. NULL and the
        empty string stay as they are: they identify nobody."""
        if email is None or email == "" or self.mode == "keep":
            return email
        if self.mode == "hash":
            return hash_email(email, self.key)
        return mask_email(email)


KEEP = EmailPolicy()
