"""Identifying the performer in a recorded video file (frames sampled, then voted)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from agent.errors import InputError
from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis, Identifier
from agent.faces.imaging import RGBImage
from agent.faces.voting import IdentityVoter

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv"})
DEFAULT_SAMPLE_FPS = 5.0


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its index in the file, its time in seconds and RGB pixels."""

    index: int
    time_s: float
    rgb: RGBImage = field(repr=False)


def is_video_path(path: Path) -> bool:
    """True when the file name has a video suffix."""
    return path.suffix.lower() in VIDEO_SUFFIXES


def iter_video_frames(
    path: Path, *, sample_fps: float = DEFAULT_SAMPLE_FPS, max_frames: int | None = None
) -> Iterator[VideoFrame]:
    """Decode ``path`` with OpenCV, yielding about ``sample_fps`` frames per second of video.

    Raises:
        InputError: the file is missing, cannot be opened as a video, or has no frames.
    """
    where = str(path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file", where=where)
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise InputError("cannot open as a video (unknown or damaged format)", where=where)
        fps = capture.get(cv2.CAP_PROP_FPS) or 0.0
        fps = fps if fps > 0 else 25.0
        step = max(1, round(fps / sample_fps)) if sample_fps > 0 else 1
        index = 0
        yielded = 0
        while max_frames is None or yielded < max_frames:
            grabbed = capture.grab()
            if not grabbed:
                break
            if index % step == 0:
                ok, bgr = capture.retrieve()
                if ok and bgr is not None and bgr.size:
                    yield VideoFrame(
                        index=index,
                        time_s=index / fps,
                        rgb=np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8),
                    )
                    yielded += 1
            index += 1
        if index == 0:
            raise InputError("video has no readable frames", where=where)
    finally:
        capture.release()


@dataclass(frozen=True)
class VideoIdentification:
    """The outcome of a whole video: a decision plus the frame counts behind it.

    ``analysis`` is the confirming frame for a match (distance: the worst of the
    confirming streak, margin: the smallest), otherwise a representative frame.
    """

    decision: Decision
    reason: str
    analysis: FrameAnalysis | None
    frames_analysed: int
    decisions: dict[str, int]
    confirmed_at_s: float | None = None


def identify_video(
    identifier: Identifier,
    path: Path,
    *,
    votes_required: int,
    sample_fps: float = DEFAULT_SAMPLE_FPS,
    max_frames: int | None = None,
) -> VideoIdentification:
    """Sample frames of a video, vote, and report the first confirmed performer.

    Fails closed: a video where two different performers get confirmed is 'unknown'.
    Without a confirmation, the decision is 'unknown' if any frame matched someone,
    else the most frequent frame decision (no_face, multiple_faces, low_quality).
    """
    voter = IdentityVoter(votes_required)
    counts: Counter[str] = Counter()
    confirmed: list[tuple[float, tuple[FrameAnalysis, ...]]] = []
    last: FrameAnalysis | None = None
    frames = 0
    for frame in iter_video_frames(path, sample_fps=sample_fps, max_frames=max_frames):
        analysis = identifier.analyse(frame.rgb)
        frames += 1
        counts[analysis.decision.value] += 1
        last = analysis
        state = voter.feed(analysis)
        if state.confirmed_performer_id is not None and voter.streak == votes_required:
            confirmed.append((frame.time_s, voter.streak_frames))
    summary = dict(sorted(counts.items()))
    if frames == 0 or last is None:
        raise InputError("video has no readable frames", where=str(path))
    performers = {streak[-1].performer_id for _, streak in confirmed}
    if len(performers) > 1:
        return VideoIdentification(
            Decision.UNKNOWN,
            f"different performers were confirmed in this video ({', '.join(sorted(map(str, performers)))})",
            None,
            frames,
            summary,
        )
    if confirmed:
        time_s, streak = confirmed[0]
        worst = max(streak, key=lambda a: a.distance if a.distance is not None else 1.0)
        margins = [a.margin for a in streak if a.margin is not None]
        analysis = replace(worst, margin=min(margins) if margins else None)
        return VideoIdentification(
            Decision.MATCH,
            f"{analysis.display_name} confirmed by {votes_required} consecutive frames at {time_s:.1f} s",
            analysis,
            frames,
            summary,
            confirmed_at_s=time_s,
        )
    if counts[Decision.MATCH.value]:
        return VideoIdentification(
            Decision.UNKNOWN,
            f"a performer matched in some frames but never in {votes_required} consecutive ones",
            last,
            frames,
            summary,
        )
    representative = Decision(counts.most_common(1)[0][0])
    return VideoIdentification(
        representative,
        f"no identity confirmed; most frames: {representative.value}",
        last,
        frames,
        summary,
    )
