"""Following the identified face through a challenge, instead of re-detecting it every frame.

During a challenge the performer turns their head. dlib's HOG detector finds frontal faces
only, and the encoding of a half-turned face often matches nobody; re-identifying every
frame would therefore both be slow (detect + encode ≈ 130 ms a frame on this class of
machine, well under the 10 analysed frames/s a turn needs) and lose the performer exactly
when the step is done, which would fail a genuine turn as "an unrecognised face".

:class:`ChallengeTracker` instead runs the landmark model on a box that follows the face
from frame to frame (a few ms), and identifies (HOG + encoding + match) the face again once
it has been followed for ``anchor_interval_s`` of camera time, or at once when it is lost.
The interval counts from the first followed frame, not from the identified one: on a loaded
machine an identification takes most of a second, and counting it in would leave no time
to follow the face (the analysed rate would fall below what a turn needs). Identity is
carried by continuity, within strict limits:

- a followed frame inherits the identity of the last frame that *matched* (its anchor);
  it is reported as :attr:`~agent.faces.analysis.Decision.TRACKED`, never as a match;
- the face must move continuously: between two frames its box may shift by at most
  ``max_shift`` of its size and change size by at most ``max_growth``, otherwise the track
  is dropped and the next frame is identified afresh;
- an identification that matches nobody keeps the track only while the face is *turned*
  (a turned head may not match): a frontal face that does not match the performer is not
  the performer, and the frame is reported as it was identified (unknown), which fails
  the challenge;
- a track lives at most ``max_unanchored_s`` of camera time without a matching frame;
- another performer, several faces or no face end the track at once.

Used in the identification process only (one instance, one thread).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

from agent.faces.appearance import appearance, similarity
from agent.faces.decision import Decision
from agent.faces.engine import FaceBox
from agent.faces.identifier import FrameAnalysis
from agent.faces.imaging import RGBImage
from agent.liveness.landmarks import MIN_PRESENCE, FaceLandmarker, FaceMesh

_NO_TIME = datetime(1970, 1, 1, tzinfo=UTC)

"""Landmark frames get their camera time and match from the session, not from here."""


@dataclass(frozen=True)
class TrackingLimits:
    """How far identity may be carried by following the face (see the module docstring)."""

    anchor_interval_s: float = 0.5
    """Identify afresh once the face has been followed this long (camera time) since the last
    identification."""
    max_unanchored_s: float = 3.0
    """Longest camera time a track lives without a frame that matched."""
    max_shift: float = 0.5
    """Largest movement of the face box between two frames, as a fraction of its size."""
    max_growth: float = 1.5
    """Largest change of the face box's size between two frames (ratio, either way)."""
    frontal_turn: float = 0.08
    """A face turned less than this (the challenge's turn cue) counts as frontal."""
    min_similarity: float = 0.2
    """Least correlation of the upper face's appearance in two consecutive frames. Measured on
    ``video/short_hamilton_clip.mp4``: a moving, turning head with hands in front of it 0.31 and
    more, the clip's cuts to another shot 0.09–0.18. One clip: a thin margin, kept low on
    purpose; the identification every ``anchor_interval_s`` is the main identity check."""


@dataclass
class _Track:
    """The face being followed: its anchor (last match) and where it was in the last frame.

    The box of each followed frame is placed on that frame's own mesh, as the anchor's
    box sat on the anchor's mesh (``box_offset`` and ``box_scale`` in mesh sizes), so
    small errors of one frame do not build up over the next ones.
    """

    anchor: FrameAnalysis
    anchored_at: float
    box: FaceBox
    mesh_centre: np.ndarray
    mesh_size: float
    box_offset: np.ndarray
    box_scale: tuple[float, float]
    following_since: float | None
    """Camera time of the first frame followed since the last identification (None: none yet)."""
    appearance: np.ndarray
    """The face's grey patch in the last frame (see :func:`appearance`)."""
    number: int = 0
    """Which track this is (see :attr:`FaceLandmarks.track`)."""

    @classmethod
    def start(
        cls, anchor: FrameAnalysis, box: FaceBox, mesh: FaceMesh, at_s: float, frame: RGBImage
    ) -> _Track:
        """A track anchored on a matching frame's box and mesh."""
        centre, size = _mesh_extent(mesh)
        box_centre = np.array([(box.left + box.right) / 2.0, (box.top + box.bottom) / 2.0])
        size = max(size, 1.0)
        return cls(
            anchor,
            at_s,
            box,
            centre,
            size,
            (box_centre - centre) / size,
            (box.width / size, box.height / size),
            None,
            appearance(frame, box),
        )


def _mesh_extent(mesh: FaceMesh) -> tuple[np.ndarray, float]:
    low, high = mesh.points.min(axis=0), mesh.points.max(axis=0)
    return (low + high) / 2.0, float(max(high - low))


class ChallengeTracker:
    """Analyses challenge frames: follows the face between identifications (module docstring)."""

    def __init__(
        self,
        identify: Callable[[RGBImage], FrameAnalysis],
        landmarker: FaceLandmarker,
        limits: TrackingLimits | None = None,
    ) -> None:
        """Args: the full identification of one frame, the landmark model, the tracking limits."""
        self._identify = identify
        self._landmarker = landmarker
        self.limits = limits or TrackingLimits()
        self._track: _Track | None = None
        self._tracks_started = 0
        self.identifications = 0
        """How many frames were identified afresh (the rest were followed)."""

    def reset(self) -> None:
        """Forget the face followed so far (a new challenge, a new roster)."""
        self._track = None

    def analyse(self, frame: RGBImage, at_s: float) -> FrameAnalysis:
        """The analysis of one frame taken at camera time ``at_s`` (seconds, increasing)."""
        track = self._track
        since = track.following_since if track is not None else None
        due = since is not None and at_s - since >= self.limits.anchor_interval_s
        if track is not None and not due and self._alive(track, at_s):
            followed = self._follow(frame, track, at_s)
            if followed is not None:
                return followed
        self.identifications += 1
        return self._identified(frame, self._identify(frame), at_s)

    # ------------------------------------------------------------------ internals

    def _alive(self, track: _Track, at_s: float) -> bool:
        return at_s - track.anchored_at <= self.limits.max_unanchored_s

    def _follow(self, frame: RGBImage, track: _Track, at_s: float) -> FrameAnalysis | None:
        """The frame's analysis from the followed box, or None when the face was lost."""
        mesh = self._landmarker.locate(frame, track.box)
        if mesh.presence < MIN_PRESENCE:
            return None
        box = self._moved(track, mesh, frame)
        if box is None:
            return None
        if track.following_since is None:
            track.following_since = at_s
        anchor = track.anchor
        return FrameAnalysis.followed(
            anchor,
            box,
            at_s - track.anchored_at,
            faces_found=1,
            landmarks=replace(self._landmarker.challenge_frame(mesh, _NO_TIME, None), track=track.number),
        )

    def _moved(self, track: _Track, mesh: FaceMesh, frame: RGBImage) -> FaceBox | None:
        """The box on this frame's mesh; None (track dropped) when the face jumped."""
        centre, size = _mesh_extent(mesh)
        growth = size / track.mesh_size
        shift = float(np.linalg.norm(centre - track.mesh_centre)) / track.mesh_size
        limits = self.limits
        if not (1.0 / limits.max_growth <= growth <= limits.max_growth) or shift > limits.max_shift:
            self._track = None
            return None
        cx, cy = centre + track.box_offset * size
        half_w, half_h = track.box_scale[0] * size / 2.0, track.box_scale[1] * size / 2.0
        height, width = frame.shape[:2]
        moved = FaceBox(
            top=max(0, round(cy - half_h)),
            right=min(width, round(cx + half_w)),
            bottom=min(height, round(cy + half_h)),
            left=max(0, round(cx - half_w)),
        )
        if moved.width <= 1 or moved.height <= 1:
            self._track = None
            return None
        seen = appearance(frame, moved)
        alike = similarity(track.appearance, seen)
        if alike < limits.min_similarity:
            self._track = None
            return None
        track.box, track.mesh_centre, track.mesh_size, track.appearance = moved, centre, max(size, 1.0), seen
        return moved

    def _continues(self, track: _Track, started: _Track) -> bool:
        """A new identification shows the face followed so far (close to where it was, alike)."""
        shift = float(np.linalg.norm(started.mesh_centre - track.mesh_centre)) / track.mesh_size
        growth = started.mesh_size / track.mesh_size
        limits = self.limits
        return (
            shift <= limits.max_shift
            and 1.0 / limits.max_growth <= growth <= limits.max_growth
            and similarity(track.appearance, started.appearance) >= limits.min_similarity
        )

    def _numbered(self, analysis: FrameAnalysis) -> FrameAnalysis:
        """The analysis with its landmarks marked as part of the current track."""
        if analysis.landmarks is None or self._track is None:
            return analysis
        return replace(analysis, landmarks=replace(analysis.landmarks, track=self._track.number))

    def _identified(self, frame: RGBImage, analysis: FrameAnalysis, at_s: float) -> FrameAnalysis:
        """An identified frame: start a new track, keep a turned one, or end it."""
        track = self._track
        if analysis.decision is Decision.MATCH and analysis.box is not None:
            mesh = self._landmarker.locate(frame, analysis.box)
            if mesh.presence < MIN_PRESENCE:
                self._track = None
                return analysis
            started = _Track.start(analysis, analysis.box, mesh, at_s, frame)
            if track is not None and self._alive(track, at_s) and self._continues(track, started):
                started.number = track.number  # the same face, identified again: one track
            else:
                self._tracks_started += 1
                started.number = self._tracks_started
            self._track = started
            return self._numbered(
                replace(analysis, landmarks=self._landmarker.challenge_frame(mesh, _NO_TIME, None))
            )
        if analysis.decision in (Decision.UNKNOWN, Decision.NO_FACE, Decision.LOW_QUALITY) and (
            track is not None and self._alive(track, at_s)
        ):
            followed = self._follow(frame, track, at_s)
            landmarks = followed.landmarks if followed is not None else None
            if (
                followed is not None
                and landmarks is not None
                and abs(landmarks.turn) > self.limits.frontal_turn
            ):
                track.following_since = None  # identify again after the next interval, still turned or not
                return followed
        self._track = None
        if analysis.box is None or analysis.decision is Decision.MULTIPLE_FACES:
            return analysis
        mesh = self._landmarker.locate(frame, analysis.box)
        if mesh.presence < MIN_PRESENCE:
            return analysis
        return replace(analysis, landmarks=self._landmarker.challenge_frame(mesh, _NO_TIME, None))
