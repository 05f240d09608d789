"""The liveness challenge on synthetic landmarks: a 3-D head turning vs a flat print moved by hand.

The head is a rigid set of 3-D landmark positions (mm) at the depths of a real face
(nose tip 38 mm in front of the eye corners, cheeks behind them), projected through a
pinhole camera. The print is that head's frontal image on a plane, rotated about both
axes, shifted, scaled and jittered as a hand would. Real landmarks are measured on real
footage elsewhere (tests/benchmarks); these tests pin the logic and its geometry.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from agent.liveness.challenge import Challenge, FaceLandmarks, Step, Thresholds, Verdict, draw_steps
from agent.liveness.geometry import GeometryError, eye_aspect_ratio, planarity_residual, turn_cue

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
FOCAL_PX, DISTANCE_MM = 1100.0, 650.0
CENTRE = np.array([640.0, 360.0])

# x to the performer's left as the camera sees it = image right; y down; z towards the camera.
HEAD_MM = np.array(
    [
        [-45, 0, 0],
        [45, 0, 0],  # outer eye corners (image left, image right)
        [-15, 0, 3],
        [15, 0, 3],  # inner eye corners
        [0, 8, 20],
        [0, 38, 38],  # nose bridge, nose tip
        [-18, 45, 12],
        [18, 45, 12],  # nostrils
        [-26, 68, 8],
        [26, 68, 8],
        [0, 72, 14],  # mouth corners, upper lip
        [0, 110, 2],  # chin
        [-62, 40, -35],
        [62, 40, -35],  # cheeks
        [0, -45, 8],  # forehead
    ],
    dtype=np.float64,
)
LEFT_EYE, RIGHT_EYE, NOSE = 0, 1, 5


def rotation(yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    y, p = math.radians(yaw_deg), math.radians(pitch_deg)
    about_y = np.array([[math.cos(y), 0, math.sin(y)], [0, 1, 0], [-math.sin(y), 0, math.cos(y)]])
    about_x = np.array([[1, 0, 0], [0, math.cos(p), -math.sin(p)], [0, math.sin(p), math.cos(p)]])
    combined: np.ndarray = about_x @ about_y
    return combined


def project(points_mm: np.ndarray) -> np.ndarray:
    depth = DISTANCE_MM - points_mm[:, 2]
    return CENTRE + FOCAL_PX * points_mm[:, :2] / depth[:, None]


def head(yaw_deg: float, pitch_deg: float = 0.0) -> np.ndarray:
    """A real head turned by ``yaw_deg`` (positive: towards the performer's left = image right)."""
    return project(HEAD_MM @ rotation(yaw_deg, pitch_deg).T)


def printed(
    yaw_deg: float, pitch_deg: float, shift: tuple[float, float] = (0, 0), scale: float = 1.0
) -> np.ndarray:
    """A photo of the frontal face, printed and held at an angle: every point on one plane."""
    photo_mm = (head(0) - CENTRE) * DISTANCE_MM / FOCAL_PX  # the frontal image, life-size on paper
    flat = np.column_stack([photo_mm * scale, np.zeros(len(photo_mm))])
    moved = flat @ rotation(yaw_deg, pitch_deg).T
    moved[:, 0] += shift[0]
    moved[:, 1] += shift[1]
    return project(moved)


def jitter(points: np.ndarray, rng: np.random.Generator, sigma_px: float = 0.6) -> np.ndarray:
    return points + rng.normal(0.0, sigma_px, points.shape)


def observe(points: np.ndarray, seconds: float, performer: str | None = "perf-a") -> FaceLandmarks:
    scale = float(np.linalg.norm(points[RIGHT_EYE] - points[LEFT_EYE]))
    cue = turn_cue(points[NOSE], points[LEFT_EYE], points[RIGHT_EYE])
    return FaceLandmarks(T0 + timedelta(seconds=seconds), performer, points, scale, cue, 0.3)


def run(frames: list[FaceLandmarks], steps: tuple[Step, ...] = (Step.TURN_LEFT,)) -> Challenge:
    challenge = Challenge(steps, "perf-a", T0, Thresholds())
    for frame in frames:
        challenge.feed(frame)
    return challenge


def test_a_real_head_turning_passes_and_says_how_far_it_turned_in_depth() -> None:
    rng = np.random.default_rng(1)
    frames = [observe(jitter(head(yaw), rng), k * 0.1) for k, yaw in enumerate([0, 0, 5, 12, 20, 28, 35, 42])]
    challenge = run(frames)
    assert challenge.verdict is Verdict.PASSED, challenge.results
    evidence = challenge.results[0].evidence
    assert evidence["turn"] >= 0.25 and evidence["planarity_residual"] >= 0.06


@pytest.mark.parametrize("yaw", [-40, -25, 25, 40])
@pytest.mark.parametrize("pitch", [-25, 0, 25])
def test_a_flat_print_tilted_by_hand_never_passes_a_turn(yaw: float, pitch: float) -> None:
    rng = np.random.default_rng(abs(int(yaw * 7 + pitch)))
    path = np.linspace(0.0, 1.0, 12)
    frames = [
        observe(jitter(printed(yaw * s, pitch * s, (20 * s, -10 * s), 1.0 + 0.1 * s), rng), k * 0.1)
        for k, s in enumerate(path)
    ]
    frames.append(observe(printed(yaw, pitch), 7.0))  # after the time limit
    challenge = run(frames, (Step.TURN_LEFT if yaw > 0 else Step.TURN_RIGHT,))
    assert challenge.verdict is Verdict.FAILED
    assert "flat picture" in challenge.results[0].reason or "not done" in challenge.results[0].reason


def test_a_turn_the_wrong_way_does_not_count() -> None:
    frames = [observe(head(yaw), k * 0.1) for k, yaw in enumerate([0, -15, -30, -35])]
    assert run(frames).verdict is Verdict.RUNNING


def test_another_performer_during_the_challenge_fails_it_at_once() -> None:
    frames = [observe(head(0), 0.0), observe(head(10), 0.1, performer="someone-else")]
    challenge = run(frames)
    assert challenge.verdict is Verdict.FAILED
    assert "different performer" in challenge.results[0].reason


def test_a_face_that_matched_nobody_breaks_the_turn_it_sits_in() -> None:
    """An unmatched frame between the frontal reference and the turn: the turn must start again."""
    frames = [observe(head(0), 0.0), observe(head(20), 0.1, performer=None), observe(head(42), 0.2)]
    challenge = run(frames)
    assert challenge.verdict is Verdict.RUNNING
    assert challenge.expire(T0 + timedelta(seconds=6.5)) is Verdict.FAILED
    assert "matched nobody" in challenge.results[0].reason
    assert challenge.results[0].evidence["unmatched_frames"] == 1.0


def test_a_turn_after_an_unmatched_face_passes_from_a_new_frontal_frame() -> None:
    frames = [observe(head(0), 0.0), observe(head(5), 0.1, performer=None)]
    frames += [observe(head(y), 0.2 + k * 0.1) for k, y in enumerate([0, 20, 42])]
    challenge = run(frames)
    assert challenge.verdict is Verdict.PASSED, challenge.results
    assert challenge.results[0].evidence["unmatched_frames"] == 1.0


def test_steps_are_done_in_order_each_within_its_own_time_limit() -> None:
    frames = [observe(head(y), k * 0.1) for k, y in enumerate([0, 20, 42])]  # left turn: not asked first
    frames += [observe(head(y), 1.0 + k * 0.1) for k, y in enumerate([0, -20, -42])]
    challenge = run(frames, (Step.TURN_RIGHT, Step.TURN_LEFT))
    assert [r.step for r in challenge.results] == [Step.TURN_RIGHT]
    assert challenge.current_step is Step.TURN_LEFT
    assert challenge.expire(T0 + timedelta(seconds=1.2 + 6.1)) is Verdict.FAILED


def eyes(ratios: list[float], start: float = 0.0) -> list[FaceLandmarks]:
    base = head(0)
    return [
        FaceLandmarks(T0 + timedelta(seconds=start + k * 0.1), "perf-a", base, 90.0, 0.0, r)
        for k, r in enumerate(ratios)
    ]


def test_a_blink_is_a_dip_against_the_own_baseline_and_a_recovery() -> None:
    challenge = run(eyes([0.22, 0.23, 0.22, 0.22, 0.12, 0.08, 0.21]), (Step.BLINK,))
    assert challenge.verdict is Verdict.PASSED
    assert challenge.results[0].evidence["closed_frames"] == 2


def test_narrow_eyes_that_never_blink_do_not_pass() -> None:
    # A broad smile: ratios as low as closed eyes for another face, but steady for this one.
    challenge = run(eyes([0.14, 0.13, 0.14, 0.14, 0.13, 0.14, 0.13, 0.14]), (Step.BLINK,))
    assert challenge.verdict is Verdict.RUNNING


def test_eyes_held_shut_are_not_a_blink() -> None:
    challenge = run(eyes([0.25, 0.25, 0.25, 0.25] + [0.05] * 12 + [0.25]), (Step.BLINK,))
    assert challenge.verdict is Verdict.RUNNING


def test_steps_are_drawn_at_random_and_never_repeat() -> None:
    drawn = {draw_steps(2) for _ in range(200)}
    assert len(drawn) == 6  # every ordered pair of different steps turns up
    assert all(len(set(pair)) == 2 for pair in drawn)
    with pytest.raises(ValueError):
        draw_steps(4)


def test_every_challenge_has_a_turn_the_step_a_picture_cannot_fake() -> None:
    assert {draw_steps(1) for _ in range(100)} == {(Step.TURN_LEFT,), (Step.TURN_RIGHT,)}
    assert all(set(draw_steps(2)) & {Step.TURN_LEFT, Step.TURN_RIGHT} for _ in range(200))


def test_geometry_refuses_what_it_cannot_measure() -> None:
    with pytest.raises(GeometryError):
        planarity_residual(head(0)[:4], head(10)[:4], 90.0)
    with pytest.raises(GeometryError):
        eye_aspect_ratio(np.zeros((6, 2)))
    with pytest.raises(GeometryError):
        planarity_residual(np.full((8, 2), np.nan), head(0)[:8], 90.0)


def test_a_turn_is_never_measured_across_two_pictures_swapped_in_front_of_the_camera() -> None:
    """Two photos of the performer, frontal then turned: both match, but the swap starts a new
    track, so the turned photo is not compared with the frontal one."""
    frontal = replace(observe(head(0), 0.0), track=1)
    turned = [replace(observe(head(y), 0.1 + 0.1 * k), track=2) for k, y in enumerate([20, 42])]
    challenge = run([frontal, *turned])
    assert challenge.verdict is Verdict.RUNNING
    # The same frames on one track pass: the track number is what refused it.
    same = run([replace(f, track=1) for f in (frontal, *turned)])
    assert same.verdict is Verdict.PASSED
