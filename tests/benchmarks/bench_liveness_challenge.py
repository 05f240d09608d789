"""The turn step's thresholds, measured in the units the challenge really uses (issue 10).

Not a test. Run from the repository root (it reuses the study's clip reader and attack
generator from ``bench_liveness_landmarks.py``):

    python -m tests.benchmarks.bench_liveness_challenge [--faces DIR] [--attacks-per-type 60]

``docs/liveness-landmarks-study.md`` measured the homography residual over the mean
distance between the eye *centres* and the turn as the change of a horizontal nose
offset. The challenge is fed by :mod:`agent.liveness.landmarks`: residual over the
*outer eye corner* distance of the frontal frame, turn along the eye line, and a turn
counts from a frontal frame (``|turn| <= frontal_turn``). This script measures, with
exactly those helpers, genuine pairs of ``video/short_hamilton_clip.mp4`` (one frame
frontal, the other of the same face track up to 30 frames away, either order) and the
study's synthetic planar attacks (frame 1 → frame 2), and prints BPCER/APCER of the turn
rule for several ``min_turn`` / ``min_planarity_residual``, with the machine load.
"""

from __future__ import annotations

import argparse
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from agent.faces.analysis import FaceAnalyser
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import FaceLandmarks, Thresholds
from agent.liveness.geometry import planarity_residual
from agent.liveness.landmarks import FaceLandmarker, FaceMesh
from tests.benchmarks.bench_liveness_landmarks import (
    ATTACK_KINDS,
    CLIP,
    PAIR_GAPS,
    attack_poses,
    load_average,
    make_background,
    quantiles,
    read_clip,
    render,
    subject_box,
    usable_photos,
    warp_print,
)

MIN_TURNS = (0.15, 0.2, 0.25, 0.28, 0.32)
MIN_RESIDUALS = (0.03, 0.035, 0.04, 0.045, 0.05, 0.06)
AT = datetime(2026, 1, 1, tzinfo=UTC)


def frame(landmarker: FaceLandmarker, mesh: FaceMesh) -> FaceLandmarks:
    return landmarker.challenge_frame(mesh, AT, "performer")


def passes(start: FaceLandmarks, turned: FaceLandmarks, min_turn: float, min_residual: float) -> bool:
    """The challenge's turn rule for one (frontal, turned) pair, in whichever direction was asked."""
    if abs(start.turn) > Thresholds().frontal_turn or abs(turned.turn) < min_turn:
        return False
    return residual(start, turned) >= min_residual


def residual(start: FaceLandmarks, turned: FaceLandmarks) -> float:
    """The planarity residual the challenge computes for this pair."""
    assert start.points is not None and turned.points is not None
    return planarity_residual(start.points, turned.points, start.scale)


def main(argv: list[str] | None = None) -> int:
    default_faces = Path(__file__).resolve().parents[3] / "shared" / "faces"
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=default_faces)
    parser.add_argument("--attacks-per-type", type=int, default=60)
    parser.add_argument("--seed", type=int, default=10)
    args = parser.parse_args(argv)
    print(f"Turn-step thresholds in challenge units, {load_average()}")
    analyser = FaceAnalyser(IdentificationSettings())
    landmarker = FaceLandmarker()
    print(f"model {landmarker.model_version}, {len(landmarker.rigid_indices)} rigid points")

    tracks, _, _ = read_clip(analyser, args.faces / CLIP)
    genuine: list[tuple[FaceLandmarks, FaceLandmarks]] = []
    ratios: list[float] = []
    for track in tracks:
        meshes = [landmarker.locate(item.frame, item.box) for item in track]
        frames = [frame(landmarker, m) for m in meshes if m.presence >= 0.5]
        for m in meshes:
            centres = m.points[[33, 133]].mean(axis=0), m.points[[263, 362]].mean(axis=0)
            ratios.append(float(np.linalg.norm(centres[0] - centres[1])) / (frame(landmarker, m).scale))
        indices = {item.index: k for k, item in enumerate(track)}
        for k, item in enumerate(track):
            for gap in PAIR_GAPS:
                j = indices.get(item.index + gap)
                if j is None or j >= len(frames) or k >= len(frames):
                    continue
                a, b = frames[k], frames[j]
                for start, turned in ((a, b), (b, a)):
                    if abs(start.turn) <= Thresholds().frontal_turn:
                        genuine.append((start, turned))
    print(
        f"eye-centre / outer-corner distance (33-133 and 263-362 midpoints): {quantiles(ratios)}\n"
        f"genuine (frontal, other) pairs: {len(genuine)}; |turn| of the other frame:"
        f" {quantiles([abs(t.turn) for _, t in genuine])}"
    )

    photos = usable_photos(analyser, args.faces / "identities", 3)
    people = sorted(photos)
    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    attacks: dict[str, list[tuple[FaceLandmarks, FaceLandmarks]]] = {k: [] for k in ATTACK_KINDS}
    for kind in ATTACK_KINDS:
        for n in range(args.attacks_per_type):
            photo = rng.choice(photos[people[n % len(people)]])
            face_px = rng.uniform(110, 170)
            centre = ((photo.box.left + photo.box.right) / 2, (photo.box.top + photo.box.bottom) / 2)
            background = make_background(np_rng)
            rendered = [
                render(*warp_print(photo.image, centre, photo.box.height, face_px, pose), background, np_rng)
                for pose in attack_poses(kind, rng)
            ]
            boxes = [subject_box(analyser, f) for f in rendered]
            if any(box is None for box in boxes):
                continue
            meshes = [landmarker.locate(f, box) for f, box in zip(rendered, boxes, strict=True) if box]
            if min(m.presence for m in meshes) >= 0.5:
                attacks[kind].append((frame(landmarker, meshes[0]), frame(landmarker, meshes[1])))

    print("\nattacks, all counted pairs (frame 1 frontal or not): |turn| of frame 2, residual")
    for kind in ATTACK_KINDS:
        pairs = attacks[kind]
        frontal = sum(1 for s, _ in pairs if abs(s.turn) <= Thresholds().frontal_turn)
        print(
            f"  {kind:27s} frame 1 frontal {frontal}/{len(pairs)}; |turn| {quantiles([abs(t.turn) for _, t in pairs])}"
        )
        print(f"  {'':27s} residual {quantiles([residual(s, t) for s, t in pairs])}")
    for min_turn in MIN_TURNS:
        reaching = [(s, t) for s, t in genuine if abs(t.turn) >= min_turn]
        residuals = [residual(s, t) for s, t in reaching]
        print(
            f"\nmin_turn {min_turn}: genuine pairs reaching it {len(reaching)}, residual {quantiles(residuals)}"
        )
        for kind in ATTACK_KINDS:
            gated = [
                residual(s, t)
                for s, t in attacks[kind]
                if abs(s.turn) <= Thresholds().frontal_turn and abs(t.turn) >= min_turn
            ]
            print(
                f"  attack {kind:27s} {len(attacks[kind]):3d} counted, reaching the turn gate: {quantiles(gated)}"
            )
        header = "".join(f"{k[:14]:>16s}" for k in ATTACK_KINDS)
        print(f"    {'t':>6s} {'BPCER':>7s}{header}")
        for threshold in MIN_RESIDUALS:
            rejected = sum(1 for s, b in reaching if not passes(s, b, min_turn, threshold))
            cells = [
                f"{sum(1 for s, b in attacks[k] if passes(s, b, min_turn, threshold))}/{len(attacks[k])}"
                for k in ATTACK_KINDS
            ]
            bpcer = rejected / max(1, len(reaching))
            print(f"    {threshold:6.3f} {bpcer:7.1%}" + "".join(f"{c:>16s}" for c in cells))
    print(f"\ndone, {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
