"""``scangate liveness`` and the offline challenge on real footage and real photos.

Recordings are written to tmp_path at test time from ``../shared/faces`` (never stored in
the repository): a real head turn cut from ``video/short_hamilton_clip.mp4``, a real photo
warped as a hand-held print, a still repeated, and the printed-photo attacks of ``spoof/fake``.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from agent.cli.liveness_commands import liveness
from agent.cli.main import main
from agent.faces.analysis import FaceAnalyser
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import Step, Thresholds
from agent.liveness.landmarks import FaceLandmarker
from agent.liveness.offline import LivenessResult, OfflineChallenge, parse_steps
from tests.liveness.test_landmarks import CLIP, landmarker, model_file, tilted_print
from tests.liveness.test_tracking import TURN_RIGHT_BACKWARD

__all__ = ["landmarker", "model_file"]  # module fixtures shared with test_landmarks


def write_video(path: Path, frames: list[RGBImage], fps: float = 30.0) -> Path:
    """The frames as a lossless-enough MJPEG AVI that OpenCV reads back."""
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    for frame in frames:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@pytest.fixture(scope="module")
def judge(landmarker: FaceLandmarker) -> OfflineChallenge:
    """The offline challenge with the default settings and thresholds."""
    return OfflineChallenge(IdentificationSettings(), Thresholds(), landmarker=landmarker)


@pytest.fixture(scope="module")
def genuine_turn(faces_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Miranda turning to his right within one shot (the clip's frames 150 → 87)."""
    capture = cv2.VideoCapture(str(faces_dir / CLIP))
    frames: list[RGBImage] = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    return write_video(
        tmp_path_factory.mktemp("genuine") / "turn.avi", [frames[i] for i in TURN_RIGHT_BACKWARD]
    )


@pytest.mark.faces
def test_a_real_head_turn_is_live(judge: OfflineChallenge, genuine_turn: Path) -> None:
    verdict = judge.judge_path(genuine_turn, (Step.TURN_RIGHT,))
    assert verdict.result is LivenessResult.LIVE, verdict
    assert verdict.steps[0].evidence["planarity_residual"] >= Thresholds().min_planarity_residual
    assert verdict.frames_followed > verdict.frames_identified


@pytest.mark.faces
def test_the_same_turn_asked_the_other_way_is_not_live(judge: OfflineChallenge, genuine_turn: Path) -> None:
    verdict = judge.judge_path(genuine_turn, (Step.TURN_LEFT,))
    assert verdict.result is LivenessResult.INCOMPLETE, verdict


def hand_held_print(photo: RGBImage, analyser: FaceAnalyser) -> list[RGBImage]:
    """The photo as a flat print turned by hand to ±40° about both axes and back, 3 s at 30 fps."""
    found = analyser.detect(photo)
    assert found
    box = max(found, key=lambda f: f.box.area).box
    centre = ((box.left + box.right) / 2, (box.top + box.bottom) / 2)
    rng = np.random.default_rng(7)
    frames = []
    for k in range(90):
        phase = np.sin(np.pi * k / 45)  # 0 → 1 → 0 → -1 …
        yaw = 40 * phase + rng.normal(0, 1.5)
        pitch = 10 * phase + rng.normal(0, 1.5)
        frames.append(tilted_print(photo, centre, yaw, pitch))
    return frames


@pytest.mark.faces
@pytest.mark.parametrize("person", ["barack_obama", "alex_lacamoire"])
def test_a_flat_print_turned_by_hand_is_never_live(
    judge: OfflineChallenge, faces_dir: Path, tmp_path: Path, person: str
) -> None:
    photo = load_image(sorted((faces_dir / "identities" / person).glob("*"))[0])
    factor = 300 / photo.shape[0]
    photo = np.ascontiguousarray(cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA))
    video = write_video(tmp_path / "print.avi", hand_held_print(photo, judge.analyser))
    for steps in ((Step.TURN_LEFT,), (Step.TURN_RIGHT,), (Step.TURN_LEFT, Step.TURN_RIGHT)):
        verdict = judge.judge_path(video, steps)
        assert verdict.result in (LivenessResult.ATTACK, LivenessResult.INCOMPLETE), verdict
        assert verdict.frames_read == 90 or verdict.result is LivenessResult.ATTACK


@pytest.mark.faces
def test_a_still_photo_repeated_as_frames_is_never_live(
    judge: OfflineChallenge, faces_dir: Path, tmp_path: Path
) -> None:
    photo = cv2.imread(str(faces_dir / "singles" / "lin_manuel_miranda.png"))
    assert photo is not None
    folder = tmp_path / "still"
    folder.mkdir()
    for index in range(60):
        cv2.imwrite(str(folder / f"{index:03d}.png"), photo)
    verdict = judge.judge_path(folder, (Step.TURN_LEFT, Step.BLINK), fps=15)
    assert verdict.result is LivenessResult.INCOMPLETE, verdict
    assert verdict.frames_read == 60


@pytest.mark.faces
def test_every_printed_photo_attack_of_the_face_set_is_never_live(
    judge: OfflineChallenge, faces_dir: Path
) -> None:
    fakes = sorted((faces_dir / "spoof" / "fake").glob("*"))
    assert fakes
    results = {f.name: judge.judge_path(f, (Step.TURN_RIGHT, Step.BLINK)).result for f in fakes}
    assert not [name for name, result in results.items() if result is LivenessResult.LIVE], results


def test_unreadable_input_is_an_error_that_says_what_and_where(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    judge = OfflineChallenge.__new__(OfflineChallenge)  # reading fails before any model is needed
    for path, words in (
        (broken, "cannot open"),
        (tmp_path / "missing.mp4", "not found"),
        (tmp_path, "no images"),
    ):
        verdict = judge.judge_path(path, (Step.TURN_LEFT,))
        assert verdict.result is LivenessResult.ERROR
        assert words in verdict.reason and verdict.input == str(path)
        assert str(path) not in verdict.reason and "\n" not in verdict.reason, "named once, hint apart"


def test_steps_are_parsed_strictly() -> None:
    assert parse_steps("turn-left, blink") == (Step.TURN_LEFT, Step.BLINK)
    for bad in ("nod", "turn-left,turn-left", ""):
        with pytest.raises(ValueError):
            parse_steps(bad)


def test_a_bad_challenge_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(liveness, ["--challenge", "nod", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown step(s) 'nod'" in result.output


@pytest.mark.faces
def test_the_command_prints_one_json_line_per_input_and_exits_2_on_an_unreadable_one(
    genuine_turn: Path, tmp_path: Path, model_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["liveness", "--json", "--challenge", "turn-right", str(genuine_turn), str(tmp_path / "missing.avi")]
    )
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [line["result"] for line in lines] == ["live", "error"], out
    assert lines[0]["steps"][0]["step"] == "turn-right" and lines[0]["steps"][0]["passed"] is True
    assert status == 2 and "1 of 2 input(s) could not be read" in err
