"""Plain-language texts the screens show, computed from agent values (no Qt here).

Everything a window writes about a session, a consent or a record is phrased
here, once, so the technician console, the performer screen and the review
window say the same thing the same way, and so the wording is testable without
a display.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from agent.records.liveness_evidence import NOT_EVIDENCE
from agent.session.liveness_checks import ChallengeView
from agent.session.model import Phase
from agent.session.snapshot import LockState, SessionSnapshot, reason_text
from agent.wire.consent import ConsentRecord

CAPTURE_TYPE_LABELS: dict[str, str] = {
    "face": "Face",
    "facs_expressions": "Facial expressions (FACS)",
    "full_body": "Full body",
    "hands": "Hands",
    "motion_capture": "Motion capture",
}
"""Short names of the capture types (the closed set of :class:`agent.wire.consent.CaptureType`)."""

CAPTURE_TYPE_FOR_PERFORMER: dict[str, str] = {
    "face": "Face",
    "facs_expressions": "Facial expressions",
    "full_body": "Full body",
    "hands": "Hands",
    "motion_capture": "Movement (motion capture)",
}
"""Names of the capture types on the performer's toggles (no jargon)."""

CAPTURE_TYPE_SHORT: dict[str, str] = {
    "face": "Face",
    "facs_expressions": "FACS",
    "full_body": "Full body",
    "hands": "Hands",
    "motion_capture": "Mocap",
}
"""Chip-sized names of the capture types (technician console)."""

CAPTURE_TYPE_EXPLAINED: dict[str, str] = {
    "face": "A 3D scan of your head and face, neutral expression",
    "facs_expressions": "A series of facial expressions, to animate a model of your face",
    "full_body": "A 3D scan of your whole body",
    "hands": "Close-up 3D scans of your hands",
    "motion_capture": "Your movement recorded over time",
}
"""What each capture type means, in words a performer reads on the touchscreen."""

OUTCOME_LABELS: dict[str, str] = {
    "captured": "Captured",
    "declined": "Declined",
    "refused": "Refused",
    "fault": "Fault",
    "key_rotated": "Key rotated",
}

Tone = str
"""A colour role used by the stylesheet: locked, checking, awaiting, unlocked, fault, neutral."""

_TONE_OF_STATE: dict[LockState, Tone] = {
    LockState.LOCKED: "locked",
    LockState.CHECKING: "checking",
    LockState.AWAITING_PERFORMER: "awaiting",
    LockState.UNLOCKED: "unlocked",
    LockState.FAULT: "fault",
}


def capture_type_label(code: str) -> str:
    """Display name of a capture type code (unknown codes are made readable)."""
    return CAPTURE_TYPE_LABELS.get(code, code.replace("_", " ").capitalize())


def capture_type_short(code: str) -> str:
    """Chip-sized name of a capture type code."""
    return CAPTURE_TYPE_SHORT.get(code, capture_type_label(code))


def ordered_capture_types(codes: Sequence[str] | frozenset[str]) -> list[str]:
    """Capture type codes in the canonical display order (unknown codes last, sorted)."""
    return [c for c in CAPTURE_TYPE_LABELS if c in codes] + sorted(set(codes) - set(CAPTURE_TYPE_LABELS))


def capture_types_text(codes: Sequence[str] | frozenset[str]) -> str:
    """A comma-separated, stably ordered list of capture type names."""
    return ", ".join(capture_type_label(c) for c in ordered_capture_types(codes)) or "none"


def format_countdown(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) for a number of seconds left, rounded up."""
    total = max(0, int(seconds + 0.999))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def format_local(moment: datetime | None, *, with_weekday: bool = True) -> str:
    """A moment in the machine's local time, e.g. ``Sat 1 Mar 2025, 14:05``."""
    if moment is None:
        return "—"
    local = moment.astimezone()
    text = f"{local.day} {local.strftime('%b %Y')}, {local.strftime('%H:%M')}"
    return f"{local.strftime('%a')} {text}" if with_weekday else text


def format_window(valid_from: datetime, valid_until: datetime) -> str:
    """A consent's validity window in local time with the zone name: ``1 Mar 2025, 09:00 – 30 Jun …``."""
    zone = valid_until.astimezone().strftime("%Z")
    start = format_local(valid_from, with_weekday=False)
    return f"{start} – {format_local(valid_until, with_weekday=False)} {zone}"


@dataclass(frozen=True)
class LockView:
    """What the big lock banner shows."""

    word: str
    tone: Tone
    reason: str
    time_left: str | None = None
    timer_hint: str = ""
    """What the time left counts down to (the timer's tooltip)."""


def _last_record_text(record: Mapping[str, Any] | None) -> str | None:
    if not record:
        return None
    outcome = str(record.get("outcome", ""))
    codes = [str(c) for c in record.get("reason_codes") or ()]
    label = OUTCOME_LABELS.get(outcome, outcome)
    reasons = "; ".join(dict.fromkeys(reason_text(c) for c in codes))
    return f"Last session: {label.lower()}" + (f" — {reasons}." if reasons else ".")


def lock_view(snapshot: SessionSnapshot, now: datetime) -> LockView:
    """The lock banner for a snapshot at ``now`` (time left counts down while unlocked)."""
    tone = _TONE_OF_STATE[snapshot.lock_state]
    phase = snapshot.phase
    if phase is Phase.UNLOCKED:
        left = snapshot.seconds_left(now)
        return LockView(
            "UNLOCKED",
            tone,
            "Capture allowed for " + capture_types_text(snapshot.confirmed_capture_types),
            format_countdown(left) + " left" if left is not None else None,
            "until capture locks by itself",
        )
    if phase is Phase.CHALLENGING and snapshot.challenge is not None:
        challenge = snapshot.challenge
        left = max(0.0, (challenge.deadline - now).total_seconds())
        return LockView(
            snapshot.lock_state.value,
            tone,
            challenge_status(challenge),
            f"{math.ceil(left)} s left",
            "left for this liveness step; then it counts as not done",
        )
    if phase is Phase.IDLE:
        reason = _last_record_text(snapshot.last_record) or "No session. Choose capture types, then start."
        return LockView("LOCKED", tone, reason)
    if phase is Phase.LOCKED_FAULT:
        return LockView("LOCKED", tone, "Fault — " + snapshot.detail)
    if phase is Phase.CLOSING:
        return LockView("LOCKED", tone, snapshot.detail)
    return LockView(snapshot.lock_state.value, tone, snapshot.detail)


SYNTHETIC_LIVENESS = "SYNTHETIC liveness (demo)"


def challenge_status(view: ChallengeView) -> str:
    """Which liveness step the performer is on, for the technician ('SYNTHETIC' first when it is)."""
    step = f"step {view.step_number} of {view.steps_total}: {liveness_step_label(view.step.value)}"
    attempt = f" (try {view.attempt})" if view.attempt > 1 else ""
    if view.method == "synthetic":
        return f"{SYNTHETIC_LIVENESS} — {step}{attempt}"
    return f"Liveness check, {step}{attempt}"


@dataclass(frozen=True)
class LivenessModeView:
    """The console's standing warning when the rig's liveness check is not evidence."""

    title: str
    text: str
    tone: Tone


def liveness_mode_view(method: str) -> LivenessModeView | None:
    """The warning for a rig whose liveness ``method`` is ``off`` or ``synthetic``; None for ``challenge``."""
    if method == "off":
        return LivenessModeView(
            "LIVENESS OFF — faces are not checked for a live person",
            'Switched off in this rig\'s configuration ([liveness] method = "off"): a photo or a screen of'
            f" an enrolled performer can be identified. Every record says so: {NOT_EVIDENCE}."
            " Witness the performer in person.",
            "locked",
        )
    if method == "synthetic":
        return LivenessModeView(
            f"{SYNTHETIC_LIVENESS} — the stand-in camera passes the challenge by time alone",
            "Demo only: no rig configuration can choose it. Every record says the liveness was"
            f" synthetic: {NOT_EVIDENCE}.",
            "checking",
        )
    return None


@dataclass(frozen=True)
class MatchView:
    """How well the face matched, for the technician."""

    quality: str
    detail: str
    tone: Tone


def match_view(distance: float | None, margin: float | None, method: str | None) -> MatchView:
    """Describe match quality: distance to the enrolled template (lower is better) and margin."""
    if method == "fallback_badge_pin":
        return MatchView("Badge + PIN", "identified without face matching, witnessed", "neutral")
    if distance is None:
        return MatchView("—", "no match yet", "neutral")
    if distance <= 0.40:
        quality, tone = "Strong match", "unlocked"
    elif distance <= 0.50:
        quality, tone = "Good match", "checking"
    else:
        quality, tone = "Weak match", "locked"
    margin_text = f" · margin {margin:.2f}" if margin is not None else ""
    return MatchView(quality, f"distance {distance:.2f}{margin_text}", tone)


@dataclass(frozen=True)
class Permission:
    """One use the performer allowed or refused."""

    label: str
    allowed: bool


def permissions(consent: ConsentRecord) -> list[Permission]:
    """The three uses a performer must see spelled out, allowed or not."""
    return [
        Permission("AI training", consent.ai_training_allowed),
        Permission("Synthetic performance", consent.synthetic_performance_allowed),
        Permission("Third-party licensing", consent.third_party_licensing_allowed),
    ]


def offered_capture_types(snapshot: SessionSnapshot) -> list[str]:
    """Capture types the performer may confirm: requested by the technician AND permitted by the consent.

    The performer can only untick these (narrow), never add any.
    """
    consent = snapshot.consent
    if consent is None:
        return []
    permitted = {str(t) for t in consent.capture_types}
    return ordered_capture_types(frozenset(snapshot.requested_capture_types & permitted))


@dataclass(frozen=True)
class OutcomeView:
    """How a finished session is told to the performer."""

    title: str
    text: str
    tone: Tone
    mark: str
    """'tick', 'cross' or 'alert' (the receipt's glyph)."""


def outcome_for_performer(record: Mapping[str, Any]) -> OutcomeView:
    """Headline, explanation, colour and glyph of a finished session, for the performer's receipt."""
    outcome = str(record.get("outcome"))
    codes = [str(c) for c in record.get("reason_codes") or ()]
    files = len(record.get("captured_files") or ())
    if outcome == "captured":
        plural = "s" if files != 1 else ""
        return OutcomeView(
            "Scan complete",
            f"{files} image{plural} captured with your confirmed consent.",
            "unlocked",
            "tick",
        )
    if outcome == "declined":
        if "performer_stopped" in codes:
            return OutcomeView(
                "You stopped the scan", "Capture was locked the moment you tapped STOP.", "locked", "cross"
            )
        return OutcomeView("You declined", "Nothing was captured.", "locked", "cross")
    if outcome == "refused":
        why = "; ".join(dict.fromkeys(reason_text(c) for c in codes)) or "no valid consent"
        return OutcomeView(
            "No scan today", f"Capture stayed locked: {why}. Nothing was captured.", "locked", "cross"
        )
    return OutcomeView(
        "Session stopped", "A technical fault locked capture. Nothing more was captured.", "fault", "alert"
    )


@dataclass(frozen=True)
class ChallengePrompt:
    """How the touchscreen asks for one liveness step (left/right as the performer sees it)."""

    title: str
    hint: str
    glyph: str
    glyph_closed: str
    direction: int
    """-1: the cue moves to the performer's left, +1: to their right, 0: it stays (blink)."""


_PROMPTS = {
    "turn-left": ChallengePrompt(
        "Turn your head to your left",
        "Slowly, as far as is comfortable, then back to the camera.",
        "⟵",
        "⟵",
        -1,
    ),
    "turn-right": ChallengePrompt(
        "Turn your head to your right",
        "Slowly, as far as is comfortable, then back to the camera.",
        "⟶",
        "⟶",
        1,
    ),
    "blink": ChallengePrompt("Blink once", "Close your eyes briefly and open them again.", "◉", "—", 0),
}


LIVENESS_STEP_LABELS = {"turn-left": "Turn head left", "turn-right": "Turn head right", "blink": "Blink"}
"""Liveness steps as the technician and the review window name them."""


def liveness_step_label(step: str) -> str:
    """'Turn head left', 'Turn head right', 'Blink' (an unknown step made readable)."""
    return LIVENESS_STEP_LABELS.get(step, step.replace("-", " ").capitalize())


def challenge_prompt(step: str) -> ChallengePrompt:
    """The prompt for a challenge step (``turn-left``, ``turn-right``, ``blink``)."""
    return _PROMPTS.get(step, ChallengePrompt("Look at the camera", "", "◉", "◉", 0))
