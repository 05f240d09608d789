"""What the screens say: lock banner texts, narrowing offers, health lines (pure functions, no display)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.camera.status import CameraState, CameraStatus
from agent.liveness.challenge import Step
from agent.records.outbox import OutboxCounts
from agent.session.liveness_checks import ChallengeView
from agent.session.model import Phase
from agent.session.snapshot import LockState, SessionSnapshot, lock_state_of
from agent.signing import Signer
from agent.wire.consent import ConsentRecord
from gui.health import camera_health, upload_health
from gui.presenters import (
    capture_types_text,
    format_countdown,
    liveness_mode_view,
    lock_view,
    match_view,
    offered_capture_types,
    outcome_for_performer,
)
from tests.registry.test_wire import consent_payload

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def snapshot(phase: Phase, **changes: object) -> SessionSnapshot:
    base = SessionSnapshot(
        phase=phase,
        lock_state=lock_state_of(phase),
        headline="",
        detail="detail text",
        session_id="s1",
        performer_id=None,
        performer_name=None,
        match_distance=None,
        match_margin=None,
        identification_method=None,
        requested_capture_types=frozenset(),
        confirmed_capture_types=frozenset(),
        consent=None,
        fallback_mode=False,
        unlock_deadline=None,
        refusal_codes=(),
        captures=0,
        last_record_hash=None,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def consent(**overrides: object) -> ConsentRecord:
    return ConsentRecord.sign(consent_payload(**overrides), Signer(Ed25519PrivateKey.generate()))


@pytest.mark.parametrize(
    ("phase", "word", "tone"),
    [
        (Phase.IDLE, "LOCKED", "locked"),
        (Phase.IDENTIFYING, "CHECKING", "checking"),
        (Phase.CHECKING_CONSENT, "CHECKING", "checking"),
        (Phase.AWAITING_CONFIRMATION, "AWAITING PERFORMER", "awaiting"),
        (Phase.CLOSING, "LOCKED", "locked"),
        (Phase.LOCKED_FAULT, "LOCKED", "fault"),
    ],
)
def test_every_locked_phase_says_so(phase: Phase, word: str, tone: str) -> None:
    view = lock_view(snapshot(phase), NOW)
    assert (view.word, view.tone, view.time_left) == (word, tone, None)


def test_unlocked_counts_down_and_names_the_capture_types() -> None:
    view = lock_view(
        snapshot(
            Phase.UNLOCKED,
            confirmed_capture_types=frozenset({"facs_expressions", "face"}),
            unlock_deadline=NOW + timedelta(minutes=9, seconds=41, milliseconds=200),
        ),
        NOW,
    )
    assert view.word == "UNLOCKED"
    assert view.time_left == "09:42 left"
    assert view.reason == "Capture allowed for Face, Facial expressions (FACS)"


def test_idle_after_a_session_says_why_it_ended() -> None:
    record = {"outcome": "refused", "reason_codes": ["consent_revoked"]}
    view = lock_view(snapshot(Phase.IDLE, last_record=record), NOW)
    assert view.reason == "Last session: refused — the consent was revoked."


def test_the_performer_may_only_narrow_what_was_requested_and_permitted() -> None:
    record = consent(capture_types=["face", "facs_expressions", "hands"])
    offered = offered_capture_types(
        snapshot(
            Phase.AWAITING_CONFIRMATION,
            consent=record,
            requested_capture_types=frozenset({"face", "full_body", "hands"}),
        )
    )
    assert offered == ["face", "hands"]


def test_receipt_wording_for_each_outcome() -> None:
    assert outcome_for_performer({"outcome": "captured", "captured_files": [{}, {}]}).text.startswith(
        "2 images"
    )
    stopped = outcome_for_performer({"outcome": "declined", "reason_codes": ["performer_stopped"]})
    assert stopped.title == "You stopped the scan"
    refused = outcome_for_performer({"outcome": "refused", "reason_codes": ["consent_window_ended"]})
    assert "validity window has ended" in refused.text
    assert outcome_for_performer({"outcome": "fault"}).mark == "alert"


def test_small_formats() -> None:
    assert format_countdown(0) == "00:00"
    assert format_countdown(3599.2) == "1:00:00"
    assert capture_types_text(["hands", "face", "custom_rig"]) == "Face, Hands, Custom rig"
    assert match_view(0.31, 0.2, "face").quality == "Strong match"
    assert match_view(None, None, "fallback_badge_pin").quality == "Badge + PIN"


def test_health_lines_tell_what_to_do() -> None:
    lost = camera_health(CameraStatus(CameraState.LOST, "camera 0: read failed", "camera 0"))
    assert (lost.tone, lost.text) == ("locked", "no picture")
    assert "cable" in lost.detail
    assert upload_health(OutboxCounts(pending=3, delivered=10, rejected=0)).text == "3 waiting"
    assert "scangate outbox" in upload_health(OutboxCounts(pending=0, delivered=1, rejected=2)).detail
    assert LockState.FAULT.value == "FAULT"


def _challenge(method: str = "challenge", attempt: int = 1) -> ChallengeView:
    return ChallengeView(
        method,  # type: ignore[arg-type]
        Step.TURN_LEFT,
        1,
        2,
        NOW + timedelta(seconds=5, milliseconds=300),
        attempt,
    )


def test_the_console_shows_which_challenge_step_the_performer_is_on_and_the_time_left() -> None:
    """Issue 10: the console said only 'Liveness check' while the performer was asked for a step."""
    view = lock_view(snapshot(Phase.CHALLENGING, challenge=_challenge(attempt=2)), NOW)
    assert view.word == "CHECKING"
    assert view.reason == "Liveness check, step 1 of 2: Turn head left (try 2)"
    assert view.time_left == "6 s left"
    assert "SYNTHETIC" not in view.reason


def test_a_synthetic_challenge_is_named_as_such_on_the_console() -> None:
    view = lock_view(snapshot(Phase.CHALLENGING, challenge=_challenge("synthetic")), NOW)
    assert view.reason.startswith("SYNTHETIC liveness (demo)")
    assert "step 1 of 2: Turn head left" in view.reason


@pytest.mark.parametrize(
    ("method", "words", "tone"),
    [
        ("off", "LIVENESS OFF", "locked"),
        ("synthetic", "SYNTHETIC liveness (demo)", "checking"),
    ],
)
def test_a_rig_whose_liveness_is_not_evidence_says_so_all_the_time(
    method: str, words: str, tone: str
) -> None:
    view = liveness_mode_view(method)
    assert view is not None and view.tone == tone
    assert view.title.startswith(words)
    assert "not evidence that a live person was present" in view.text


def test_a_rig_with_the_real_challenge_shows_no_liveness_warning() -> None:
    assert liveness_mode_view("challenge") is None
