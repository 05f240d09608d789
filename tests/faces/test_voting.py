"""IdentityVoter: a performer is confirmed only by N consecutive agreeing frames."""

from __future__ import annotations

import pytest

from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis
from agent.faces.voting import IdentityVoter


def match(performer_id: str, distance: float = 0.3) -> FrameAnalysis:
    return FrameAnalysis(decision=Decision.MATCH, reason="test", performer_id=performer_id, distance=distance)


def refusal(decision: Decision) -> FrameAnalysis:
    return FrameAnalysis(decision=decision, reason="test")


def test_confirms_after_n_consecutive_matches() -> None:
    voter = IdentityVoter(3)
    assert voter.feed(match("a")).confirmed_performer_id is None
    assert voter.feed(match("a")).confirmed_performer_id is None
    state = voter.feed(match("a"))
    assert state.confirmed_performer_id == "a"
    assert state.streak == 3
    assert voter.feed(match("a")).confirmed_performer_id == "a"
    assert voter.streak == 4
    assert len(voter.streak_frames) == 3


@pytest.mark.parametrize(
    "interruption",
    [Decision.UNKNOWN, Decision.NO_FACE, Decision.MULTIPLE_FACES, Decision.LOW_QUALITY],
)
def test_any_non_match_resets_and_withdraws_confirmation(interruption: Decision) -> None:
    voter = IdentityVoter(2)
    voter.feed(match("a"))
    voter.feed(match("a"))
    assert voter.confirmed_performer_id == "a"
    state = voter.feed(refusal(interruption))
    assert state.confirmed_performer_id is None
    assert state.streak == 0
    assert state.performer_id is None
    voter.feed(match("a"))
    assert voter.confirmed_performer_id is None


def test_a_different_performer_starts_a_new_streak() -> None:
    voter = IdentityVoter(3)
    voter.feed(match("a"))
    voter.feed(match("a"))
    state = voter.feed(match("b"))
    assert state.performer_id == "b"
    assert state.streak == 1
    assert state.confirmed_performer_id is None
    voter.feed(match("b"))
    assert voter.feed(match("b")).confirmed_performer_id == "b"


def test_alternating_performers_never_confirm() -> None:
    voter = IdentityVoter(2)
    for performer in ["a", "b"] * 5:
        assert voter.feed(match(performer)).confirmed_performer_id is None


def test_single_vote_confirms_immediately_and_reset_forgets() -> None:
    voter = IdentityVoter(1)
    assert voter.feed(match("a")).confirmed_performer_id == "a"
    voter.reset()
    assert voter.confirmed_performer_id is None
    assert voter.streak == 0


def test_votes_required_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        IdentityVoter(0)


def followed(performer_id: str) -> FrameAnalysis:
    """A frame on which the face was followed from a match of ``performer_id``, not encoded."""
    return FrameAnalysis(decision=Decision.TRACKED, reason="test", performer_id=performer_id)


def test_followed_frames_are_no_votes() -> None:
    voter = IdentityVoter(3)
    voter.feed(match("a"))
    for _ in range(20):
        state = voter.feed(followed("a"))
        assert state.confirmed_performer_id is None
        assert state.streak == 1
    voter.feed(match("a"))
    assert voter.confirmed_performer_id is None  # 2 real matches, however many followed frames
    assert voter.feed(match("a")).confirmed_performer_id == "a"
    assert [f.decision for f in voter.streak_frames] == [Decision.MATCH] * 3


def test_followed_frames_alone_never_start_or_confirm_a_streak() -> None:
    voter = IdentityVoter(1)
    for _ in range(5):
        state = voter.feed(followed("a"))
        assert (state.performer_id, state.streak, state.confirmed_performer_id) == (None, 0, None)


def test_a_followed_frame_keeps_a_confirmation_but_one_from_somebody_else_resets_it() -> None:
    voter = IdentityVoter(2)
    voter.feed(match("a"))
    voter.feed(match("a"))
    assert voter.feed(followed("a")).confirmed_performer_id == "a"
    state = voter.feed(followed("b"))
    assert (state.performer_id, state.streak, state.confirmed_performer_id) == (None, 0, None)
