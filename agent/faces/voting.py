"""Confirming an identity over consecutive frames."""

from __future__ import annotations

from dataclasses import dataclass

from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis


@dataclass(frozen=True)
class VoteState:
    """The voter's state after a frame: who the current streak is for and how long it is."""

    performer_id: str | None
    streak: int
    confirmed_performer_id: str | None


class IdentityVoter:
    """Confirms a performer only when ``votes_required`` consecutive frames match them.

    Any frame that is not a match (unknown, no face, several faces, low quality) or
    that matches a different performer resets the streak and withdraws a confirmation.
    A frame on which the performer's face was only followed (:attr:`Decision.TRACKED`, not
    encoded) is no vote: it neither counts nor breaks the streak of the performer it was
    followed from (one followed from anybody else resets it). Votes come only from frames
    whose face was encoded and matched.
    Pure: no clock, no I/O; callers that need timing keep their own timestamps.
    """

    def __init__(self, votes_required: int) -> None:
        if votes_required < 1:
            raise ValueError("votes_required must be at least 1")
        self.votes_required = votes_required
        self._performer_id: str | None = None
        self._streak = 0
        self._frames: list[FrameAnalysis] = []

    @property
    def streak(self) -> int:
        """How many consecutive frames so far matched the current performer."""
        return self._streak

    @property
    def streak_performer_id(self) -> str | None:
        """The performer the current streak is for (confirmed or not yet)."""
        return self._performer_id

    @property
    def confirmed_performer_id(self) -> str | None:
        """The confirmed performer, or None while fewer than ``votes_required`` frames agree."""
        return self._performer_id if self._streak >= self.votes_required else None

    @property
    def streak_frames(self) -> tuple[FrameAnalysis, ...]:
        """The frames of the current streak (at most ``votes_required`` most recent)."""
        return tuple(self._frames)

    def feed(self, analysis: FrameAnalysis) -> VoteState:
        """Count one frame's result and return the new state."""
        followed = analysis.decision is Decision.TRACKED
        if followed and analysis.performer_id is not None and analysis.performer_id == self._performer_id:
            pass  # followed, not matched: no vote, and the streak of its performer goes on
        elif analysis.decision is not Decision.MATCH or analysis.performer_id is None:
            self.reset()
        elif analysis.performer_id == self._performer_id:
            self._streak += 1
            self._frames = [*self._frames, analysis][-self.votes_required :]
        else:
            self._performer_id = analysis.performer_id
            self._streak = 1
            self._frames = [analysis]
        return self.state()

    def state(self) -> VoteState:
        """The current state."""
        return VoteState(self._performer_id, self._streak, self.confirmed_performer_id)

    def reset(self) -> None:
        """Forget the current streak (e.g. when a session ends)."""
        self._performer_id = None
        self._streak = 0
        self._frames = []
