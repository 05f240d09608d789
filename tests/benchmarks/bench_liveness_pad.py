"""Presentation-attack detection of the liveness challenge: APCER per attack type, BPCER, latency.

Not a test. Run from the repository root:

    python -m tests.benchmarks.bench_liveness_pad [--faces DIR] [--per-type 55] [--seed 1]

Every sample — attack or genuine — is a frame sequence judged by exactly what the rig runs
during a challenge (:class:`agent.liveness.offline.OfflineChallenge`: the challenge tracker
with the real dlib identifier and MediaPipe landmark model, then the
:class:`~agent.liveness.challenge.Challenge` with the default thresholds), with two steps drawn
at random as on a rig and the default ``[liveness]`` time limit (8 s a step). ISO/IEC 30107-3 terms: APCER = share of attacks judged ``live``;
BPCER = share of genuine samples not judged ``live``.

Attacks are generated from real photos of ``identities/`` (one person per attack, at least
20 people): a print held by hand (3 s at 15 fps, 640 × 480, a pinhole camera) moved from a
start pose to an end pose and back with hand tremor on every frame —

- ``print-tilt``: rotated about the vertical, the horizontal or both axes by 15–40°, moved
  and scaled (the three tilt kinds of ``bench_liveness_landmarks.py``, drawn in turn);
- ``print-shake``: small rotations (≤ 6°), translation and scale jitter;
- ``screen-still``: the photo as a phone screen shows it (gamma, blue cast, scan lines, a
  glare spot) then tilted and moved as a print;
- ``still``: held still (tremor only);
- ``print-bent`` (not a flat attack; reported, no target): a print curved about its
  vertical axis and turned.

The ``spoof/fake`` printed-photo crops (NUAA, Silent-Face) are judged as stills and tilted.
Genuine: the one real head turn within one shot of ``video/short_hamilton_clip.mp4``
(frames 150 → 87 played backwards), from several start frames, asked ``turn-right``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from agent.faces.analysis import FaceAnalyser
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings
from agent.liveness.challenge import Step, draw_steps
from agent.liveness.offline import LivenessResult, OfflineChallenge, OfflineVerdict
from agent.liveness.settings import LivenessSettings
from tests.benchmarks.bench_liveness_landmarks import (
    CLIP,
    Photo,
    PrintPose,
    attack_poses,
    jitter,
    make_background,
    render,
    subject_box,
    usable_photos,
    warp_print,
)

FPS = 15.0
SECONDS = 3.0
TILTS = ("print-tilt-vertical-axis", "print-tilt-horizontal-axis", "print-tilt-both+move")
FLAT_TYPES = ("print-tilt", "print-shake", "screen-still", "still")
GENUINE_STARTS = range(150, 142, -1)


def blend(a: PrintPose, b: PrintPose, t: float) -> PrintPose:
    """The pose a fraction ``t`` of the way from ``a`` to ``b``."""

    def mix(x: float, y: float) -> float:
        return x + (y - x) * t

    return PrintPose(
        yaw=mix(a.yaw, b.yaw),
        pitch=mix(a.pitch, b.pitch),
        roll=mix(a.roll, b.roll),
        tx=mix(a.tx, b.tx),
        ty=mix(a.ty, b.ty),
        scale=mix(a.scale, b.scale),
        bend=a.bend,
    )


def hand_path(start: PrintPose, end: PrintPose, rng: random.Random) -> Iterator[PrintPose]:
    """Start → end → start, eased like a hand, with tremor on every frame."""
    frames = round(SECONDS * FPS)
    for k in range(frames):
        t = (1 - np.cos(2 * np.pi * k / (frames - 1))) / 2  # 0 → 1 → 0
        yield jitter(blend(start, end, float(t)), rng)


def as_screen(photo: RGBImage, rng: np.random.Generator) -> RGBImage:
    """The photo as a phone screen shows it: gamma, blue cast, scan lines, a glare spot."""
    image = (photo.astype(np.float32) / 255.0) ** rng.uniform(0.8, 1.2)
    image *= np.array([0.92, 0.97, 1.08], dtype=np.float32)
    lines = np.ones(photo.shape[:2], np.float32)
    lines[:: rng.integers(2, 4)] = 0.85
    image *= lines[..., None]
    h, w = photo.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cx, cy, radius = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.15, 0.3) * max(h, w)
    glare = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius**2)).astype(np.float32)
    image = image + 0.35 * glare[..., None]
    return np.ascontiguousarray((np.clip(image, 0, 1) * 255).astype(np.uint8))


def attack_frames(
    kind: str, photo: Photo, n: int, rng: random.Random, np_rng: np.random.Generator
) -> list[RGBImage]:
    """One attack of ``kind`` from ``photo`` as frames."""
    image = as_screen(photo.image, np_rng) if kind == "screen-still" else photo.image
    pose_kind = {
        "print-tilt": TILTS[n % len(TILTS)],
        "screen-still": "print-tilt-both+move",
        "print-bent": "print-bent-tilt",
    }.get(kind, kind)
    start, end = attack_poses(pose_kind, rng)
    face_px = rng.uniform(110, 170)
    centre = ((photo.box.left + photo.box.right) / 2, (photo.box.top + photo.box.bottom) / 2)
    background = make_background(np_rng)
    return [
        render(*warp_print(image, centre, photo.box.height, face_px, pose), background, np_rng)
        for pose in hand_path(start, end, rng)
    ]


def timed(frames: list[RGBImage]) -> Iterator[tuple[float, RGBImage]]:
    return ((k / FPS, frame) for k, frame in enumerate(frames))


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--faces", type=Path, default=Path(__file__).resolve().parents[3] / "shared" / "faces"
    )
    parser.add_argument("--per-type", type=int, default=55, help="attacks per attack type")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not (args.faces / "identities").is_dir():
        print(f"face set not found at {args.faces}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    settings = IdentificationSettings()
    judge = OfflineChallenge(settings, LivenessSettings().thresholds(), analyser=FaceAnalyser(settings))
    photos = usable_photos(judge.analyser, args.faces / "identities", per_person=2)
    people = sorted(photos)
    print(f"attack photos: {sum(len(v) for v in photos.values())} of {len(people)} people")
    rng, np_rng = random.Random(args.seed), np.random.default_rng(args.seed)
    verdicts: dict[str, list[OfflineVerdict]] = {}
    used: dict[str, set[str]] = {}
    for kind in (*FLAT_TYPES, "print-bent"):
        for n in range(args.per_type if kind != "print-bent" else max(1, args.per_type // 2)):
            person = people[n % len(people)]
            photo = rng.choice(photos[person])
            frames = attack_frames(kind, photo, n, rng, np_rng)
            verdicts.setdefault(kind, []).append(judge.judge(f"{kind}/{n}", timed(frames), draw_steps(2)))
            used.setdefault(kind, set()).add(person)
    for path in sorted((args.faces / "spoof" / "fake").glob("*")):
        image = load_image(path)
        box = subject_box(judge.analyser, image)
        still = [image] * round(SECONDS * FPS)
        verdicts.setdefault("spoof/fake still", []).append(
            judge.judge(path.name, timed(still), draw_steps(2))
        )
        if box is not None:
            frames = attack_frames("print-tilt", Photo(path.name, image, box), 2, rng, np_rng)
            verdicts.setdefault("spoof/fake tilted", []).append(
                judge.judge(path.name, timed(frames), draw_steps(2))
            )
    genuine = genuine_samples(judge, args.faces)

    print(f"\n{'attack type':22} {'n':>4} {'people':>6} {'APCER':>7}  results")
    for kind, results in verdicts.items():
        live = sum(v.result is LivenessResult.LIVE for v in results)
        counts = Counter(v.result.value for v in results)
        people_n = len(used.get(kind, ())) or "-"
        print(f"{kind:22} {len(results):>4} {people_n!s:>6} {live / len(results):>7.1%}  {dict(counts)}")
    flat = [v for k in FLAT_TYPES for v in verdicts[k]]
    print(
        f"{'all flat attacks':22} {len(flat):>4} {len(people):>6} {sum(v.result is LivenessResult.LIVE for v in flat) / len(flat):>7.1%}"
    )
    rejected = [v for v in genuine if v.result is not LivenessResult.LIVE]
    print(
        f"\ngenuine turns (one shot of one clip, {len(genuine)} start frames, turn-right):"
        f" BPCER {len(rejected) / len(genuine):.1%} ({len(rejected)} of {len(genuine)} rejected)"
    )
    for v in rejected:
        print(f"  rejected {v.input}: {v.reason}")
    residuals = [v.steps[0].evidence.get("planarity_residual", float("nan")) for v in genuine if v.steps]
    print(f"  planarity residual of the genuine turns: {', '.join(f'{r:.3f}' for r in residuals)}")
    attack_res = [
        s.evidence["planarity_residual"] for v in flat for s in v.steps if "planarity_residual" in s.evidence
    ]
    if attack_res:
        print(
            f"  largest planarity residual of a flat attack that reached the turn threshold: {max(attack_res):.3f}"
            f" ({len(attack_res)} steps reached it)"
        )
    everything = [v for results in verdicts.values() for v in results] + genuine
    followed = [ms for v in everything for ms in v.followed_ms]
    identified = [ms for v in everything for ms in v.identified_ms]
    total_s = (sum(followed) + sum(identified)) / 1000
    print(
        f"\nper analysed frame: followed p50 {pct(followed, 50):.1f} ms p95 {pct(followed, 95):.1f} ms"
        f" (n {len(followed)}); identified p50 {pct(identified, 50):.1f} ms p95 {pct(identified, 95):.1f} ms"
        f" (n {len(identified)}); {len(followed) + len(identified)} frames in {total_s:.1f} s ="
        f" {(len(followed) + len(identified)) / total_s:.1f} analysed frames/s"
    )
    print(f"steps drawn: {dict(Counter(s.step.value for v in everything for s in v.steps))}")
    print(
        f"load average at end: {os.getloadavg()[0]:.2f}; wall {time.perf_counter() - started:.0f} s;"
        f" mean steps per sample {statistics.fmean(len(v.steps) for v in everything):.2f}"
    )
    return 0


def genuine_samples(judge: OfflineChallenge, faces: Path) -> list[OfflineVerdict]:
    capture = cv2.VideoCapture(str(faces / CLIP))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames: list[RGBImage] = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)))
    capture.release()
    out = []
    for start in GENUINE_STARTS:
        seq = [frames[i] for i in range(start, 86, -1)]
        out.append(
            judge.judge(f"clip {start}→87", ((k / fps, f) for k, f in enumerate(seq)), (Step.TURN_RIGHT,))
        )
    return out


if __name__ == "__main__":
    sys.exit(main())
