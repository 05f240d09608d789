"""Identifier end to end on the astronaut (no face set needed)."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.faces.analysis import FaceAnalyser, competing_faces
from agent.faces.decision import Decision
from agent.faces.engine import Detection, FaceBox, FaceEngine
from agent.faces.identifier import FrameAnalysis, Identifier
from agent.faces.imaging import RGBImage
from agent.faces.roster import Roster, roster_from_vectors
from agent.faces.settings import IdentificationSettings
from agent.faces.subprocess_identifier import _serve
from agent.faces.video import identify_video, iter_video_frames
from registry.demo.environment import write_stand_in_video
from tests.faces.conftest import sample_image, warp, write_video


@pytest.fixture(scope="module")
def astronaut_roster(analyser: FaceAnalyser, astronaut: RGBImage) -> Roster:
    observation = analyser.observe(astronaut)
    assert observation.encoding is not None, observation.reason
    decoy = np.random.default_rng(0).normal(0, 0.1, 128)
    return roster_from_vectors(
        [("astro", "Eileen Collins", [observation.encoding]), ("decoy", "Decoy", [decoy])]
    )


@pytest.fixture(scope="module")
def identifier(settings: IdentificationSettings, astronaut_roster: Roster, engine: FaceEngine) -> Identifier:
    return Identifier(settings, astronaut_roster, engine=engine)


@pytest.mark.parametrize(("dx", "dy", "scale"), [(20, 10, 1.0), (-30, 15, 1.2), (10, -5, 0.9), (0, 0, 1.5)])
def test_moved_and_rescaled_astronaut_matches(
    identifier: Identifier, astronaut: RGBImage, dx: float, dy: float, scale: float
) -> None:
    result = identifier.analyse(warp(astronaut, dx=dx, dy=dy, scale=scale))
    assert result.decision is Decision.MATCH, result.reason
    assert result.performer_id == "astro" and result.display_name == "Eileen Collins"
    assert result.distance is not None and result.distance < 0.2
    assert result.margin is not None and result.margin > 0.3
    assert result.template_id == "astro/1" and result.template_version == 1
    assert result.box is not None and result.box.height > 70
    assert result.timings.detect_ms > 0 and result.timings.encode_ms > 0 and result.timings.match_ms > 0


def test_full_resolution_box_after_downscaled_detection(
    engine: FaceEngine, astronaut: RGBImage, settings: IdentificationSettings
) -> None:
    large = np.ascontiguousarray(np.kron(astronaut, np.ones((3, 3, 1), dtype=np.uint8)))  # 1536 x 1536
    native = FaceAnalyser(settings, engine=engine).observe(astronaut)
    scaled = FaceAnalyser(settings, engine=engine).observe(large)
    assert native.box is not None and scaled.box is not None
    # HOG boxes are quantised per pyramid level: compare centres and sizes loosely.
    expected_height = native.box.height * 3
    assert scaled.box.height == pytest.approx(expected_height, rel=0.2)
    assert (scaled.box.top + scaled.box.bottom) / 2 == pytest.approx(
        (native.box.top + native.box.bottom) * 1.5, abs=0.15 * expected_height
    )
    assert (scaled.box.left + scaled.box.right) / 2 == pytest.approx(
        (native.box.left + native.box.right) * 1.5, abs=0.15 * expected_height
    )
    assert scaled.encoding is not None and native.encoding is not None
    assert float(np.linalg.norm(scaled.encoding - native.encoding)) < 0.15


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_no_face_images(identifier: Identifier, name: str) -> None:
    result = identifier.analyse(sample_image(name))
    assert result.decision is Decision.NO_FACE
    assert result.performer_id is None and result.distance is None and result.box is None
    assert result.reason == "no face found in the frame"


def test_face_not_on_roster_is_unknown(
    settings: IdentificationSettings, engine: FaceEngine, astronaut: RGBImage
) -> None:
    decoys = np.random.default_rng(1).normal(0, 0.1, (2, 128))
    roster = roster_from_vectors([("x", "X", [decoys[0]]), ("y", "Y", [decoys[1]])])
    result = Identifier(settings, roster, engine=engine).analyse(astronaut)
    assert result.decision is Decision.UNKNOWN
    assert result.performer_id is None and result.template_id is None
    assert result.distance is not None and result.distance > settings.max_distance
    assert "does not match anyone closely enough" in result.reason


def test_lookalike_roster_is_ambiguous(
    settings: IdentificationSettings, engine: FaceEngine, astronaut: RGBImage, astronaut_roster: Roster
) -> None:
    astro = astronaut_roster.get("astro")
    assert astro is not None
    twin = astro.templates[0].vector + 0.002
    roster = roster_from_vectors([("astro", "A", [astro.templates[0].vector]), ("twin", "T", [twin])])
    result = Identifier(settings, roster, engine=engine).analyse(warp(astronaut, dx=5, dy=5, scale=1.0))
    assert result.decision is Decision.UNKNOWN
    assert "ambiguous" in result.reason


def test_two_astronauts_side_by_side_are_multiple_faces(identifier: Identifier, astronaut: RGBImage) -> None:
    pair = np.ascontiguousarray(np.hstack([astronaut, astronaut]))
    result = identifier.analyse(pair)
    assert result.decision is Decision.MULTIPLE_FACES
    assert result.faces_found >= 2 and "faces of similar size" in result.reason


def test_small_face_is_low_quality(identifier: Identifier, astronaut: RGBImage) -> None:
    canvas = np.full((480, 640, 3), 120, dtype=np.uint8)
    small = astronaut[::2, ::2]  # face about 45 px high
    canvas[100 : 100 + small.shape[0], 200 : 200 + small.shape[1]] = small
    result = identifier.analyse(canvas)
    assert result.decision is Decision.LOW_QUALITY
    assert "face too small" in result.reason


def test_blurred_face_is_low_quality(identifier: Identifier, astronaut: RGBImage) -> None:
    blurred = np.ascontiguousarray(cv2.GaussianBlur(astronaut, (0, 0), 3.0), dtype=np.uint8)
    result = identifier.analyse(blurred)
    assert result.decision is Decision.LOW_QUALITY, result.reason
    assert "too blurred" in result.reason


def test_background_faces_and_weak_detections_do_not_compete() -> None:
    subject = Detection(FaceBox(0, 100, 100, 0), 2.0)
    background = Detection(FaceBox(0, 40, 40, 0), 2.0)
    weak_rival = Detection(FaceBox(0, 95, 95, 0), 0.1)
    strong_rival = Detection(FaceBox(0, 80, 80, 0), 1.0)
    assert competing_faces([background, subject, weak_rival], ratio=0.5, min_score=0.5) == (subject, [])
    assert competing_faces([subject, strong_rival], ratio=0.5, min_score=0.5) == (subject, [strong_rival])


def test_a_weak_detection_a_little_taller_than_the_face_does_not_take_its_place() -> None:
    # HOG boxes come in a few sizes: on the stand-in clip the suit's patch (score 0.01-0.23) gets
    # a box 2 px taller than the real face (score 0.9-1.5) in some frames.
    face = Detection(FaceBox(178, 678, 266, 590), 1.45)
    patch = Detection(FaceBox(436, 620, 526, 532), 0.04)
    assert competing_faces([patch, face], ratio=0.5, min_score=0.5) == (face, [])


def test_a_weak_detection_much_larger_than_any_confident_face_stays_the_subject() -> None:
    # A real but half-turned performer (weak score) in front of a confident small background face:
    # the background face must not become the subject.
    performer = Detection(FaceBox(0, 200, 200, 0), 0.3)
    background = Detection(FaceBox(0, 80, 80, 0), 2.0)
    assert competing_faces([background, performer], ratio=0.5, min_score=0.5) == (performer, [])


def test_every_frame_of_the_demo_clip_shows_one_subject(identifier: Identifier, tmp_path: Path) -> None:
    # Every 5th frame of the 100: before the fix frames 30, 40 and 80 were multiple_faces.
    clip = write_stand_in_video(tmp_path / "performer.avi")
    decisions = Counter(
        identifier.analyse(frame.rgb).decision.value for frame in iter_video_frames(clip, sample_fps=5)
    )
    assert decisions == {"match": 20}, decisions


def test_identifier_runs_in_worker_threads(
    settings: IdentificationSettings, astronaut_roster: Roster, astronaut: RGBImage
) -> None:
    results: list[FrameAnalysis] = []
    errors: list[BaseException] = []

    def work(dx: int) -> None:
        try:
            results.append(
                Identifier(settings, astronaut_roster).analyse(warp(astronaut, dx=dx, dy=0, scale=1.0))
            )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(dx,)) for dx in (-10, 10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [r.performer_id for r in results] == ["astro", "astro"]


def test_video_of_astronaut_is_confirmed_by_votes(
    identifier: Identifier, astronaut: RGBImage, tmp_path: Path
) -> None:
    frames = [warp(astronaut, dx=2 * i, dy=i, scale=1.0) for i in range(8)]
    video = write_video(tmp_path / "astro.avi", frames, fps=10)
    assert len(list(iter_video_frames(video, sample_fps=10))) == 8
    result = identify_video(identifier, video, votes_required=3, sample_fps=10)
    assert result.decision is Decision.MATCH, result.reason
    assert result.analysis is not None and result.analysis.performer_id == "astro"
    assert result.frames_analysed == 8
    assert result.decisions == {"match": 8}
    assert result.confirmed_at_s == pytest.approx(0.2)


def test_video_interrupted_every_other_frame_is_not_confirmed(
    identifier: Identifier, astronaut: RGBImage, tmp_path: Path
) -> None:
    empty = np.ascontiguousarray(cv2.resize(sample_image("coffee"), (512, 512)), dtype=np.uint8)
    frames = [astronaut if i % 2 == 0 else empty for i in range(6)]
    video = write_video(tmp_path / "flicker.avi", frames, fps=10)
    result = identify_video(identifier, video, votes_required=2, sample_fps=10)
    assert result.decision is Decision.UNKNOWN
    assert "never in 2 consecutive" in result.reason
    assert result.decisions == {"match": 3, "no_face": 3}


def test_the_identification_child_keeps_its_models_when_the_roster_changes(
    monkeypatch: pytest.MonkeyPatch,
    settings: IdentificationSettings,
    engine: FaceEngine,
    astronaut_roster: Roster,
    astronaut: RGBImage,
) -> None:
    loads: list[str] = []

    def load_engine(*, detection_model: str, encoder: str) -> FaceEngine:
        loads.append(detection_model)
        return engine

    monkeypatch.setattr("agent.faces.analysis.FaceEngine", load_engine)
    parent, child = multiprocessing.Pipe()
    server = threading.Thread(target=_serve, args=(child, settings, Roster(())), daemon=True)
    server.start()
    try:
        assert parent.recv() == ("ready", None)
        for roster in (astronaut_roster, Roster(()), astronaut_roster):
            parent.send(("roster", roster))
            assert parent.recv() == ("ok", None)
        parent.send(("analyse", astronaut))
        status, analysis = parent.recv()
    finally:
        parent.send(("stop", None))
        server.join(10)
    assert status == "ok"
    assert analysis.performer_id == "astro"
    assert loads == ["hog"]  # loaded once when the child started, never again


def test_challenge_frames_are_followed_in_the_child_and_plain_frames_end_the_track(
    settings: IdentificationSettings, astronaut_roster: Roster, astronaut: RGBImage
) -> None:
    """ "track" requests (a liveness challenge) follow the face; an "analyse" request ends the track."""
    pytest.importorskip(
        "ai_edge_litert", reason="the landmark runtime is installed by packaging/bootstrap.py"
    )
    parent, child = multiprocessing.Pipe()
    server = threading.Thread(target=_serve, args=(child, settings, astronaut_roster, True), daemon=True)
    server.start()
    answers: list[FrameAnalysis] = []
    try:
        assert parent.recv() == ("ready", None)
        for request, at in (("track", 0.0), ("track", 0.033), ("analyse", None), ("track", 0.1)):
            parent.send((request, (astronaut, at) if request == "track" else astronaut))
            status, analysis = parent.recv()
            assert status == "ok", analysis
            answers.append(analysis)
    finally:
        parent.send(("stop", None))
        server.join(10)
    assert [a.decision for a in answers] == [Decision.MATCH, Decision.TRACKED, Decision.MATCH, Decision.MATCH]
    assert answers[1].performer_id == "astro" and answers[1].landmarks is not None
    assert [a.landmarks is not None for a in answers] == [
        True,
        True,
        False,
        True,
    ]  # landmarks only when followed
