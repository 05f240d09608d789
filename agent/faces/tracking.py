"""Following the subject between whole-frame analyses in the live loop.

Without tracking every frame is detected on the whole frame (≈ 135 ms for 720p on this class
of machine), checked and encoded (≈ 150 ms). :class:`SubjectTracker` instead keeps a *track*:
where the subject's face was, and what the last encoding of it said. On the next frame it runs
the same detector on the same downscaled pixels, but only in a window around the last box
(:meth:`FaceAnalyser.detect_near`, a few ms), applies the same quality gate to what it finds
there, and encodes the face only when an encoding is needed:

- **while the identity is voted on**: every frame is encoded and matched until
  ``votes_required`` consecutive encodings on the track matched one performer *and* the
  session has confirmed that performer (the caller says who: the session's votes, on the
  frames the session counts, are what decide). Votes come only from these real encodings; a
  followed frame is never a vote;
- **re-verification**: once the face has been found near its last box for
  ``reverify_interval_s`` of camera time, the frame is analysed exactly as without tracking
  (whole-frame detection, quality gate, encoding, match). The interval counts from the first
  frame after the last whole-frame analysis, not from the analysed frame itself: on a loaded
  machine that analysis takes a second or more, and counting it in would make every next
  frame due again (measured: with load 10 on 2 cores every frame was a whole-frame analysis);
- **doubt**: the face looks different from the last frame that matched (``doubt_similarity``).

A frame that is not encoded is reported as :attr:`Decision.TRACKED` with the performer of the
track's last matching encoding, never as a match and with no distance. The track ends, and the
same frame is analysed afresh on the whole frame, when:

- the window shows no face, a face that fails the quality gate, or a second face;
- the face box jumped (``max_shift``), changed size (``max_growth``) or changed its look
  between two frames (``min_similarity``);
- camera time went backwards.

When identification starts or stops (a session opens or ends) the track keeps where the face
is, never who it is: its votes start afresh, so the first frames of a session are encoded and
matched one by one, but need no whole-frame detection when the face was already followed
while it was only located (the performer usually sits in view when the technician starts).
The re-verification clock restarts then too (those frames are encoded anyway), so around a
session's start a second face elsewhere in the frame can go unseen for up to two intervals.

An encoding that does not match the track's performer takes the identity off the track: the
next frames are encoded until the votes agree again, so an unknown face that the detector
follows is reported ``unknown`` frame after frame, as it would be without tracking.
Used in the identification process only (one instance, one thread).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from agent.faces.analysis import FaceObservation
from agent.faces.appearance import Look, look_of, resemblance
from agent.faces.engine import FaceBox
from agent.faces.identifier import FrameAnalysis, Identifier, located
from agent.faces.imaging import RGBImage
from agent.faces.settings import TrackingSettings


@dataclass
class _Track:
    """The subject face being followed, and what its last encoding said."""

    box: FaceBox
    look: Look
    """The face's upper part in the last frame (see :func:`resemblance`)."""
    analysed_at: float
    """Camera time of the last frame on this track."""
    identifying: bool
    """The track's frames are identified (a session is open), not only located."""
    near_since: float | None = None
    """Camera time of the first frame found near the box since the last whole-frame analysis."""
    anchor: FrameAnalysis | None = None
    """The track's last encoding, when it matched a performer."""
    anchor_look: Look | None = None
    anchored_at: float = 0.0
    votes: int = 0
    """Consecutive encodings on this track that matched the anchor's performer."""


@dataclass
class TrackerCounts:
    """What the tracker did with the frames it was given (for benchmarks and tests)."""

    whole: int = 0
    """Frames analysed on the whole frame (no track, re-verification, or the track was lost)."""
    near: int = 0
    """Frames whose face was found near the last box."""
    encoded_near: int = 0
    """Of those, frames encoded and matched (votes, doubt)."""
    followed: int = 0
    """Frames reported as followed (:attr:`Decision.TRACKED`), not encoded."""
    lost: int = 0
    """Tracks ended by what the window showed (no face, a refusal, a jump, another look)."""


@dataclass
class SubjectTracker:
    """Identifies (or only locates) the subject of a stream of frames, following it between analyses.

    ``identifier`` supplies the detector, quality gate, encoder and roster; frames must come
    with their camera time in seconds, increasing.
    """

    identifier: Identifier
    settings: TrackingSettings = field(default_factory=TrackingSettings)
    counts: TrackerCounts = field(default_factory=TrackerCounts)
    _track: _Track | None = None

    def reset(self) -> None:
        """Forget the face followed so far (a new roster, a liveness challenge, frames out of order)."""
        self._track = None

    def analyse(self, frame: RGBImage, at_s: float, *, confirmed: str | None) -> FrameAnalysis:
        """Identify the subject of a frame taken at camera time ``at_s`` (a session is open).

        ``confirmed`` is the performer the session has confirmed (None: not yet): a face is
        followed without encoding only under that name.
        """
        return self._frame(frame, at_s, identify=True, confirmed=confirmed)

    def locate(self, frame: RGBImage, at_s: float) -> FrameAnalysis:
        """Find the subject face of a frame without identifying it (no encoding, no match)."""
        return self._frame(frame, at_s, identify=False, confirmed=None)

    # ------------------------------------------------------------------ internals

    def _frame(self, frame: RGBImage, at_s: float, *, identify: bool, confirmed: str | None) -> FrameAnalysis:
        track = self._track
        if track is not None and at_s < track.analysed_at:
            track = self._track = None
        elif track is not None and track.identifying != identify:
            track.identifying, track.anchor, track.anchor_look, track.votes = identify, None, None, 0
            track.near_since = None  # the votes that start now are encoded frame by frame anyway
        since = track.near_since if track is not None else None
        if track is None or (since is not None and at_s - since >= self.settings.reverify_interval_s):
            return self._whole(frame, at_s, identify, track)
        analyser = self.identifier.analyser
        started = time.perf_counter()
        detections = analyser.detect_near(frame, track.box, window=self.settings.window)
        detect_ms = (time.perf_counter() - started) * 1000
        observation = analyser.judge(frame, detections, detect_ms=detect_ms, encode=False)
        box = observation.box
        if observation.refusal is not None or box is None or not self._continues(track, frame, box):
            self.counts.lost += 1
            return self._whole(frame, at_s, identify, None)
        self.counts.near += 1
        look = look_of(frame, box)
        track.box, track.look, track.analysed_at = box, look, at_s
        if track.near_since is None:
            track.near_since = at_s
        if not identify:
            return located(observation)
        anchor = track.anchor
        doubt = (
            anchor is None
            or anchor.performer_id != confirmed
            or track.votes < self.identifier.settings.votes_required
            or track.anchor_look is None
            or resemblance(track.anchor_look, frame, box) < self.settings.doubt_similarity
        )
        if anchor is None or doubt:
            self.counts.encoded_near += 1
            analysis = self.identifier.match(self._encoded(frame, observation, box))
            self._vote(track, analysis, look, at_s)
            return analysis
        self.counts.followed += 1
        return FrameAnalysis.followed(
            anchor,
            box,
            at_s - track.anchored_at,
            faces_found=observation.faces_found,
            sharpness=observation.sharpness,
            timings=observation.timings,
        )

    def _whole(self, frame: RGBImage, at_s: float, identify: bool, track: _Track | None) -> FrameAnalysis:
        """The frame analysed as without tracking; the track continues, starts or ends with it."""
        self.counts.whole += 1
        observation = self.identifier.analyser.observe(frame, encode=identify)
        analysis = self.identifier.match(observation) if identify else located(observation)
        box = observation.box
        if observation.refusal is not None or box is None:
            self._track = None
            return analysis
        look = look_of(frame, box)
        if track is None or not self._continues(track, frame, box):
            track = _Track(box, look, at_s, identify)
        track.box, track.look, track.analysed_at, track.near_since = box, look, at_s, None
        self._track = track
        if identify:
            self._vote(track, analysis, look, at_s)
        return analysis

    def _encoded(self, frame: RGBImage, observation: FaceObservation, box: FaceBox) -> FaceObservation:
        """``observation`` (it passed the gate) with the subject face encoded."""
        started = time.perf_counter()
        settings = self.identifier.settings
        encoding = self.identifier.analyser.engine.encode(frame, box, num_jitters=settings.num_jitters)
        encode_ms = (time.perf_counter() - started) * 1000
        return replace(
            observation,
            reason="face passed the quality checks",
            encoding=encoding,
            timings=replace(observation.timings, encode_ms=encode_ms),
        )

    def _continues(self, track: _Track, frame: RGBImage, box: FaceBox) -> bool:
        """The face at ``box`` is the one followed: near where it was, about as large, alike."""
        size = max(track.box.width, track.box.height, 1)
        shift = float(
            np.hypot(
                (box.left + box.right - track.box.left - track.box.right) / 2,
                (box.top + box.bottom - track.box.top - track.box.bottom) / 2,
            )
        )
        growth = max(box.height, 1) / max(track.box.height, 1)
        limits = self.settings
        return (
            shift <= limits.max_shift * size
            and 1.0 / limits.max_growth <= growth <= limits.max_growth
            and resemblance(track.look, frame, box) >= limits.min_similarity
        )

    def _vote(self, track: _Track, analysis: FrameAnalysis, look: Look, at_s: float) -> None:
        """Count an encoding of the track's face: a match of the same performer adds a vote."""
        if analysis.is_match:
            same = track.anchor is not None and track.anchor.performer_id == analysis.performer_id
            track.votes = track.votes + 1 if same else 1
            track.anchor, track.anchor_look, track.anchored_at = analysis, look, at_s
        else:
            track.anchor, track.anchor_look, track.votes = None, None, 0
