"""Inputs to the session state machine and the effects it asks for.

Events come from the camera/recognition worker, the registry client and
policy, the performer's touchscreen, the technician's console, the gate
watchdog and a clock. Effects are instructions the controller carries out
(lock or unlock the gate, fetch a consent, write the record); the machine
itself performs no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from agent.session.model import Capture, ConsentCheck, Identity, LivenessOutcome, LockReason, Outcome


@dataclass(frozen=True)
class SessionStarted:
    """The technician starts a session for some capture types."""

    at: datetime
    session_id: str
    technician: str
    capture_types: frozenset[str]


@dataclass(frozen=True)
class IdentityConfirmed:
    """The voter (or the fallback check) confirmed who is in front of the rig."""

    at: datetime
    identity: Identity


@dataclass(frozen=True)
class UnknownSubject:
    """Consecutive frames show a face that matches nobody on the roster."""

    at: datetime


@dataclass(frozen=True)
class FrameAnalysed:
    """One camera frame of the session was analysed; ``at`` is when the camera took it.

    Every analysed frame is one, whatever it showed: absence is judged on these
    times (the frames showed nobody for long enough), never on when results arrive.
    ``performer_id`` is the performer this single frame matched (None unless it
    matched); ``subject_in_view`` means one face was in view, matched or not
    (presence for badge + PIN sessions, whose performer is not on the face roster);
    ``several_subjects`` means several faces of comparable size were in view, so the frame
    could not show which one is the performer.
    """

    at: datetime
    performer_id: str | None = None
    subject_in_view: bool = False
    several_subjects: bool = False


@dataclass(frozen=True)
class FallbackRequested:
    """The technician switches identification to badge/QR code + PIN."""

    at: datetime


@dataclass(frozen=True)
class ConsentChecked:
    """The registry answered and the policy evaluated the consent."""

    at: datetime
    check: ConsentCheck


@dataclass(frozen=True)
class ConsentRechecked:
    """A periodic re-check of the consent the session relies on (terms shown or unlocked)."""

    at: datetime
    check: ConsentCheck


@dataclass(frozen=True)
class PerformerConfirmed:
    """The performer confirmed the terms, possibly narrowing the capture types."""

    at: datetime
    capture_types: frozenset[str]
    guardian_co_confirmed: bool = False


@dataclass(frozen=True)
class PerformerDeclined:
    """The performer declined the terms."""

    at: datetime


@dataclass(frozen=True)
class PerformerStopped:
    """The performer tapped STOP."""

    at: datetime


@dataclass(frozen=True)
class TechnicianEnded:
    """The technician ended the session."""

    at: datetime


@dataclass(frozen=True)
class ConsentRevoked:
    """The revocation feed lists a consent."""

    at: datetime
    consent_id: str


@dataclass(frozen=True)
class RegistryKeyUntrusted:
    """A registry key was rotated away or removed from the pinned set."""

    at: datetime
    key_id: str


@dataclass(frozen=True)
class GateUnlocked:
    """The gate confirmed the unlock (only then does the record show an unlock)."""

    at: datetime


@dataclass(frozen=True)
class GateLeaseLapsed:
    """The gate locked itself: the lease was not renewed in time, or (``token_expired``) the
    capture token reached its expiry, which is the end of the unlock window."""

    at: datetime
    token_expired: bool = False


@dataclass(frozen=True)
class CaptureRecorded:
    """The gate reports a capture (file or photo)."""

    at: datetime
    capture: Capture


@dataclass(frozen=True)
class Fault:
    """A component failed (camera, registry, key, gate, internal)."""

    at: datetime
    component: str
    detail: str


@dataclass(frozen=True)
class Tick:
    """The clock advanced; time-based re-lock rules are evaluated."""

    at: datetime


@dataclass(frozen=True)
class RecordWritten:
    """The session's signed record has been appended to the log."""

    at: datetime


@dataclass(frozen=True)
class LivenessChecked:
    """A liveness challenge for the identified performer ended (passed or failed)."""

    at: datetime
    outcome: LivenessOutcome


Event = (
    SessionStarted
    | LivenessChecked
    | IdentityConfirmed
    | UnknownSubject
    | FrameAnalysed
    | FallbackRequested
    | ConsentChecked
    | ConsentRechecked
    | PerformerConfirmed
    | PerformerDeclined
    | PerformerStopped
    | TechnicianEnded
    | ConsentRevoked
    | RegistryKeyUntrusted
    | GateUnlocked
    | GateLeaseLapsed
    | CaptureRecorded
    | Fault
    | Tick
    | RecordWritten
)


@dataclass(frozen=True)
class LockGate:
    """Lock the gate (idempotent)."""

    reason: LockReason


@dataclass(frozen=True)
class UnlockGate:
    """Unlock the gate for these capture types until ``deadline`` (lease renewed meanwhile)."""

    capture_types: frozenset[str]
    deadline: datetime


@dataclass(frozen=True)
class StartChallenge:
    """Run a liveness challenge for the identified performer (``attempt`` counts from 1)."""

    performer_id: str
    attempt: int


@dataclass(frozen=True)
class FetchConsent:
    """Ask the registry for the performer's consent and evaluate it."""

    performer_id: str


@dataclass(frozen=True)
class RequestFallback:
    """Ask for badge/QR code + PIN and a technician witness."""


@dataclass(frozen=True)
class PresentTerms:
    """Show the consent terms to the performer for confirmation."""


@dataclass(frozen=True)
class WriteRecord:
    """Write the session's one signed record with this outcome."""

    outcome: Outcome


Effect = LockGate | UnlockGate | StartChallenge | FetchConsent | RequestFallback | PresentTerms | WriteRecord


def component_of(effect: Effect) -> str:
    """Which part of the rig an effect that failed names in its ``Fault``: gate, records or session."""
    if isinstance(effect, (LockGate, UnlockGate)):
        return "gate"
    if isinstance(effect, WriteRecord):
        return "records"
    return "session"
