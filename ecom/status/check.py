"""One run of `ecom status`: optionally wait until caught up, read the components, judge."""

from __future__ import annotations

from ecom import catchup
from ecom.status import probe, rules
from ecom.status.model import Finding, HealthSettings, Snapshot
from stream_apps.configuration import StreamSettings


def run(
    s: StreamSettings, cfg: HealthSettings, wait_seconds: float | None = None
) -> tuple[Snapshot, list[Finding]]:
    """The snapshot and its findings. With ``wait_seconds``, first wait (at most that
    long) until no change is in flight, so the snapshot can vouch for a caught-up
    pipeline."""
    waited = wait_seconds is not None
    if wait_seconds is not None:
        probe.require_reachable(s.base)
        catchup.wait_caught_up(s, wait_seconds)
    snap = probe.collect(s, cfg, waited=waited)
    return snap, rules.evaluate(snap, cfg)
