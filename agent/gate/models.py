"""Values exchanged with a capture gate: grants, status snapshots and capture events."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Literal, Protocol

from pydantic import AwareDatetime, Field

from agent.gate.token import CaptureToken
from agent.settings_base import StrictModel


class Clock(Protocol):
    """The two clocks a gate reads: monotonic for lease arithmetic, wall (UTC) for records."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def now(self) -> datetime:
        """The current UTC time."""
        ...


class SystemClock:
    """The real clocks (``time.monotonic`` and ``datetime.now(UTC)``)."""

    def monotonic(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def now(self) -> datetime:
        """``datetime.now(UTC)``."""
        return datetime.now(UTC)


SYSTEM_CLOCK = SystemClock()


LockCause = Literal[
    "not_started", "idle", "requested", "lease_lapsed", "token_expired", "fault", "recovering"
]
"""Why a gate is locked, as a stable code (the ``reason`` text is for people).

``not_started``: the gate was never started; ``idle``: started, nothing unlocked it since;
``requested``: the session engine (or an operator) asked for the lock; ``lease_lapsed``: the lease
was not renewed in time; ``token_expired``: the capture token's expiry was reached; ``fault``: the
backend failed; ``recovering``: a recovery after a fault is under way or has just completed.
"""


class UnlockGrant(StrictModel):
    """What the session engine hands the gate to unlock it: a signed token and a lease."""

    token: CaptureToken = Field(
        description="Signed capture token (session, performer, production, types, expiry)."
    )
    lease_seconds: float = Field(
        gt=0,
        le=60,
        description="The unlock lapses this long after the last unlock/renew unless renewed again.",
    )


class GateStatus(StrictModel):
    """A snapshot of a gate's state, for screens, logs and session records."""

    backend: str = Field(description="Backend kind: builtin, command, triggerbox, smartshooter or http_api.")
    locked: bool = Field(description="True unless capture is allowed right now.")
    reason: str = Field(description="Why the gate is in this state, in plain language.")
    lock_cause: LockCause | None = Field(
        None, description="Why the gate is locked, as a stable code; None while unlocked."
    )
    session_id: str | None = Field(None, description="Session the gate is unlocked for, if unlocked.")
    capture_types: tuple[str, ...] = Field((), description="Capture types allowed while unlocked.")
    token_id: str | None = Field(None, description="Id of the capture token in force, if unlocked.")
    lease_expires_in_s: float | None = Field(
        None, description="Seconds until the lease lapses unless renewed (None when locked)."
    )
    lease_expires_at: AwareDatetime | None = Field(
        None, description="Wall-clock instant the lease lapses unless renewed (None when locked)."
    )
    healthy: bool = Field(description="False when the backend faulted; a faulted gate refuses to unlock.")
    last_error: str | None = Field(None, description="The most recent backend error, if any.")
    peer_locked: bool | None = Field(
        None,
        description=(
            "True when the peer confirmed the last lock; False when sending the lock failed"
            " (the physical rig may still be armed); None before the first lock was sent."
        ),
    )
    changed_at: AwareDatetime = Field(description="When the gate last changed state (UTC).")


CaptureKind = Literal["file", "photo", "trigger"]


class CaptureEvent(StrictModel):
    """One capture seen by the gate: a file written, a photo reported, or a trigger fired."""

    event_id: str = Field(description="Unique id of this event.")
    source: str = Field(description="Backend that saw the capture.")
    kind: CaptureKind = Field(
        description="'file': a file on disk; 'photo': a camera photo reported by a peer; 'trigger': shutters fired."
    )
    session_id: str | None = Field(
        description="Session whose unlock window contains the capture, else the most recent session (if any)."
    )
    token_id: str | None = Field(None, description="Capture token in force when the capture happened.")
    capture_type: str | None = Field(None, description="Requested capture type, when the gate triggered it.")
    path: str | None = Field(None, description="File path (after quarantine: the original path).")
    camera_id: str | None = Field(None, description="Camera or output that captured, when known.")
    photo_id: str | None = Field(
        None, description="Peer's id of the photo, when known (e.g. Smart Shooter PhotoKey)."
    )
    sha256: str | None = Field(None, description="Hex SHA-256 of the file, when a file exists.")
    captured_at: AwareDatetime = Field(description="When the gate saw the capture happen or arrive (UTC).")
    within_unlock_window: bool = Field(description="True when the capture lies inside an unlock window.")
    quarantined: bool = Field(False, description="True when the file was moved into quarantine.")
    quarantine_path: str | None = Field(None, description="Where the quarantined file now is.")
    flag_reason: str | None = Field(
        None, description="Why the capture is flagged (outside a window, hash mismatch, ...); None if clean."
    )
