"""From analysed frames to session events: identity votes, unknown faces, presence."""

from __future__ import annotations

from datetime import datetime

from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis
from agent.faces.voting import IdentityVoter
from agent.session import events as ev
from agent.session.model import IdentificationMethod, Identity, SessionContext


class FrameEvents:
    """Turns each frame's identification into the events the state machine needs.

    Only frames the camera took during the session count: a frame taken before the
    session started (its result may arrive after the start) gives no event and no
    vote, and the votes start afresh with every session. Then:

    * ``FrameAnalysed`` for every frame, first: what this one frame showed, stamped with
      the camera's time (presence and absence are judged on these; a face followed through
      a liveness challenge, :attr:`Decision.TRACKED`, shows the performer it was followed from);
    * ``IdentityConfirmed`` on every *matching* frame once ``votes_required`` consecutive
      frames agree on one performer (followed frames are no votes, see :class:`IdentityVoter`,
      and never refresh the identity: only a real encoding that matched does);
    * ``UnknownSubject`` once ``votes_required`` consecutive frames show an unknown face.

    Used only on the engine thread.
    """

    def __init__(self, votes_required: int) -> None:
        self._votes_required = votes_required
        self._voter = IdentityVoter(votes_required)
        self._unknown_streak = 0
        self._session_id = ""

    def events_for(self, analysis: FrameAnalysis, at: datetime, session: SessionContext) -> list[ev.Event]:
        """The events one frame, taken by the camera at ``at``, gives rise to in ``session``."""
        if session.session_id != self._session_id:
            self._session_id = session.session_id
            self._voter.reset()
            self._unknown_streak = 0
        if session.started_at is None or at < session.started_at:
            return []  # no session, or a frame from before it: it must not vote for its performer
        subject_in_view = analysis.faces_found >= 1 and analysis.decision is not Decision.MULTIPLE_FACES
        # A face followed through a liveness challenge from a matching frame still shows its performer.
        followed = analysis.decision in (Decision.MATCH, Decision.TRACKED)
        matched = analysis.performer_id if followed else None
        several = analysis.decision is Decision.MULTIPLE_FACES
        events: list[ev.Event] = [ev.FrameAnalysed(at, matched, subject_in_view, several)]
        state = self._voter.feed(analysis)
        if analysis.decision is Decision.UNKNOWN:
            self._unknown_streak += 1
            if self._unknown_streak >= self._votes_required:
                events.append(ev.UnknownSubject(at))
            return events
        self._unknown_streak = 0
        if (
            state.confirmed_performer_id is None
            or analysis.performer_id is None
            or analysis.decision is not Decision.MATCH
        ):
            return events
        identity = Identity(
            performer_id=analysis.performer_id,
            method=IdentificationMethod.FACE,
            verified_at=at,
            display_name=analysis.display_name or "",
            distance=analysis.distance,
            margin=analysis.margin,
            frames_voted=state.streak,
            template_version=str(analysis.template_version)
            if analysis.template_version is not None
            else None,
        )
        events.append(ev.IdentityConfirmed(at, identity))
        return events
