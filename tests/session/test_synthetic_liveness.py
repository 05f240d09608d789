"""The demo's synthetic liveness: each step holds the identified face for a set time, no less.

The windowed demo holds each step 1.5 s so a viewer can read the prompts; headless
rehearsals hold it for less. Either way a step never passes early, never for another
face, and the outcome says ``synthetic``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from agent.faces.identifier import FrameAnalysis
from agent.liveness.challenge import Thresholds
from agent.session import events as ev
from agent.session.liveness_checks import SYNTHETIC_STEP_S, LivenessChecks
from tests.session.test_controller import matching_frame

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _frame(performer_id: str) -> FrameAnalysis:
    return replace(matching_frame(), performer_id=performer_id, display_name=performer_id)


def _passed_after(checks: LivenessChecks, *, frame_every_s: float, performer: str = "P-1") -> float | None:
    """Seconds of frames until the two-step challenge passes (None if it never does in 10 s)."""
    checks.start(ev.StartChallenge(performer_id="P-1", attempt=1), START)
    elapsed = 0.0
    while elapsed <= 10.0:
        outcome = checks.on_frame(_frame(performer), START + timedelta(seconds=elapsed))
        if outcome is not None:
            assert outcome.outcome.method == "synthetic"
            return elapsed if outcome.outcome.passed else None
        elapsed = round(elapsed + frame_every_s, 6)
    return None


@pytest.mark.parametrize("hold_s", [SYNTHETIC_STEP_S, 0.5])
def test_each_synthetic_step_holds_the_face_for_the_set_time(hold_s: float) -> None:
    checks = LivenessChecks("synthetic", 2, Thresholds(), "test", synthetic_step_s=hold_s)
    passed_after = _passed_after(checks, frame_every_s=0.1)
    # Step 1 passes on the first frame >= hold after the first; step 2 starts its hold on the next frame.
    assert passed_after == pytest.approx(2 * hold_s + 0.1)


def test_the_default_hold_is_the_windowed_demos() -> None:
    checks = LivenessChecks("synthetic", 2, Thresholds(), "test")
    assert _passed_after(checks, frame_every_s=0.1) == pytest.approx(2 * SYNTHETIC_STEP_S + 0.1)


def test_a_short_hold_never_passes_for_another_face() -> None:
    checks = LivenessChecks("synthetic", 2, Thresholds(), "test", synthetic_step_s=0.5)
    assert _passed_after(checks, frame_every_s=0.1, performer="P-2") is None
