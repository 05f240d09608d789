"""The gate lease as the session engine sees it: renewed while unlocked, its lapse stamped when it happened.

The gate locks itself when its lease is not renewed in time (its watchdog thread,
and the guardian process for a frozen or dead agent). The engine renews every
``renew_interval`` while capture is unlocked; when renewing fails, or the gate is
found locked by its lease, the lapse is judged at the moment the gate locked, not
when this (perhaps frozen or starved) engine noticed: inputs that were already
waiting, such as frames seen meanwhile, are judged before it, at their own times.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime

from agent.errors import ScanGateError
from agent.gate.base import CaptureGate
from agent.gate.errors import LeaseExpiredError
from agent.gate.models import GateStatus
from agent.session import events as ev

LAPSE_CAUSES = ("lease_lapsed", "token_expired")
"""Gate lock causes that mean the lease ran out (not a lock anyone asked for)."""

PostAt = Callable[[Callable[[datetime], ev.Event | None], datetime], None]
"""Queue an input for the engine thread, stamped with the given time."""


def lapse_of(status: GateStatus) -> ev.GateLeaseLapsed | None:
    """The lapse a locked gate's status reports (stamped when the gate locked), or None."""
    if not status.locked or status.lock_cause not in LAPSE_CAUSES:
        return None
    return ev.GateLeaseLapsed(status.changed_at, token_expired=status.lock_cause == "token_expired")


def lapse_seen_now(gate: CaptureGate) -> ev.GateLeaseLapsed | None:
    """The lapse of the gate's lease if it has run out, even if the gate's watchdog has not locked yet.

    After this process was frozen or starved, its threads resume in any order: the engine may run
    before the watchdog and find the gate still "unlocked" with a lease that ran out long ago.
    Renewing is then refused and locks the gate, stamped when the lease ran out.
    """
    status = gate.status()
    remaining = status.lease_expires_in_s
    if not status.locked and remaining is not None and remaining <= 0:
        with contextlib.suppress(ScanGateError):  # the lapse (or a peer fault) is now in the status
            gate.renew()
        status = gate.status()
    return lapse_of(status)


class LeaseRenewal:
    """Renews the gate's lease on schedule while capture is unlocked (engine thread only)."""

    def __init__(self, gate: CaptureGate, renew_interval: float, post_at: PostAt) -> None:
        """Args: the gate, seconds between renewals, and how to queue a lapse or fault for the engine."""
        self._gate = gate
        self._renew_interval = renew_interval
        self._post_at = post_at
        self._last_renew: datetime | None = None

    def started(self, at: datetime) -> None:
        """The gate was unlocked at ``at``: its lease runs from then."""
        self._last_renew = at

    def stopped(self) -> None:
        """The gate is locked (or found lapsed): nothing to renew."""
        self._last_renew = None

    def renew_if_due(self, at: datetime) -> None:
        """Renew when due; a failure queues the lapse (or a gate fault) stamped when the gate locked."""
        if self._last_renew is None or (at - self._last_renew).total_seconds() < self._renew_interval:
            return
        try:
            self._gate.renew()
            self._last_renew = at
        except ScanGateError as exc:
            self._last_renew = None
            locked = self._gate.status()
            if isinstance(exc, LeaseExpiredError):
                expired = locked.lock_cause == "token_expired"
                self._post_at(lambda when: ev.GateLeaseLapsed(when, token_expired=expired), locked.changed_at)
            else:
                detail = f"renewing the lease failed: {exc.what}"
                self._post_at(lambda when: ev.Fault(when, "gate", detail), locked.changed_at)
