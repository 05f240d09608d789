"""Benchmark of the detection pixel budget (issue 14, goal 6): cost by pixels, not width.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_detection_budget.py [--faces DIR] [--rounds 3] [--frames 8] [--decisions]

Both rules run in the same process, interleaved frame by frame, so machine load hits them
alike: **width only** (the previous release: frames wider than ``detect_width`` scaled to
it, nothing else; reproduced with an unbounded ``detect_pixels``) and **pixel budget** (the
defaults: also at most ``detect_pixels`` = 640x360 pixels). Real identity photos are
letterboxed into 1280x720 (the reference), 640x480, 1024x768, a 1000x1500 portrait photo
and a 1200x1600 photo; detect and whole-observation (detect + gate + encode) times are
printed per size and rule, with the ratio to 1280x720 under the same rule.

``--decisions`` also observes every image of the face set under both rules and prints the
files whose decision changes, and the accuracy protocol (20 enrolment splits) under both.
The machine load is printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from agent.faces.analysis import FaceAnalyser, FaceObservation, detection_scale
from agent.faces.engine import FaceEngine
from agent.faces.evaluation import IMAGE_SUFFIXES, evaluate, list_identities, make_split, observe_all
from agent.faces.imaging import RGBImage, load_image
from agent.faces.settings import IdentificationSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
SIZES = ((1280, 720), (640, 480), (1024, 768), (1000, 1500), (1200, 1600))
UNBOUNDED = 4096 * 4096


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def letterbox(image: RGBImage, width: int, height: int) -> RGBImage:
    """``image`` scaled to fit width x height, centred on a grey canvas."""
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), 110, dtype=np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = resized
    return canvas


def run_latency(faces: Path, rules: dict[str, FaceAnalyser], rounds: int, count: int) -> None:
    identities = list_identities(faces / "identities")
    sources = [p for ps in identities.values() for p in ps]
    images = [img for img in (load_image(p) for p in sources) if img.shape[1] >= 600][:count]
    print(f"latency: {len(images)} real photos letterboxed, {rounds} rounds ({load_average()})")
    detect: dict[tuple[str, tuple[int, int]], list[float]] = {}
    whole: dict[tuple[str, tuple[int, int]], list[float]] = {}
    for size in SIZES:
        frames = [letterbox(img, *size) for img in images]
        for _ in range(rounds):
            for frame in frames:
                for name, analyser in rules.items():
                    started = time.perf_counter()
                    observation: FaceObservation = analyser.observe(frame)
                    whole.setdefault((name, size), []).append((time.perf_counter() - started) * 1000)
                    detect.setdefault((name, size), []).append(observation.timings.detect_ms)
        print(f"  measured {size[0]}x{size[1]} ({load_average()})", flush=True)
    print(
        f"\n{'frame':>10} {'rule':<13} {'detected at':>12} {'detect p50/p95 ms':>19} {'x 720p':>7}"
        f" {'observe p50/p95 ms':>20} {'x 720p':>7}"
    )
    for size in SIZES:
        for name, analyser in rules.items():
            scale = detection_scale(size[0], size[1], analyser.settings)
            at = f"{round(size[0] * scale)}x{round(size[1] * scale)}"
            d, w = detect[(name, size)], whole[(name, size)]
            d_ref, w_ref = detect[(name, SIZES[0])], whole[(name, SIZES[0])]
            print(
                f"{size[0]:>4}x{size[1]:<5} {name:<13} {at:>12} {percentile(d, 50):8.1f} / {percentile(d, 95):7.1f}"
                f" {percentile(d, 50) / percentile(d_ref, 50):6.2f}x {percentile(w, 50):9.1f} / {percentile(w, 95):7.1f}"
                f" {percentile(w, 50) / percentile(w_ref, 50):6.2f}x"
            )
    print(f"({load_average()})")


def run_decisions(faces: Path, rules: dict[str, FaceAnalyser]) -> None:
    paths = sorted(
        p
        for p in faces.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES and "identities_lowres" not in p.parts
    )
    print(f"\ndecisions: {len(paths)} images of {faces} under both rules ({load_average()})")
    observed = {name: observe_all(analyser, paths) for name, analyser in rules.items()}
    (a, first), (b, second) = observed.items()
    changed = 0
    for path in paths:
        one, two = first[path], second[path]
        if one.refusal != two.refusal or one.faces_found != two.faces_found:
            changed += 1
            print(
                f"  {path.relative_to(faces)}: {a} {one.refusal} ({one.faces_found} faces)"
                f" -> {b} {two.refusal} ({two.faces_found} faces)"
            )
        elif one.encoding is not None and two.encoding is not None:
            distance = float(np.linalg.norm(one.encoding - two.encoding))
            if distance > 0.05:
                print(f"  {path.relative_to(faces)}: same decision, encodings {distance:.3f} apart")
    print(f"  {changed} of {len(paths)} gate decisions differ")
    identities = list_identities(faces / "identities")
    for name, analyser in rules.items():
        obs = {p: observed[name][p] for ps in identities.values() for p in ps}
        results = [
            evaluate(make_split(identities, obs, seed=seed), obs, analyser.settings) for seed in range(20)
        ]
        fa = sum(len(r.false_accepts) for r in results)
        rates = [r.genuine_accept_rate for r in results]
        print(
            f"  {name:<13} 20 splits: {fa} false accepts; genuine seed 0 {rates[0]:.1%},"
            f" mean {sum(rates) / len(rates):.1%}, worst {min(rates):.1%}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=REPO_ROOT.parent / "shared" / "faces")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--decisions", action="store_true", help="compare decisions on the whole face set")
    args = parser.parse_args(argv)
    if not (args.faces / "identities").is_dir():
        print(f"no face set at {args.faces}", file=sys.stderr)
        return 2
    engine = FaceEngine()
    budget = IdentificationSettings()
    rules = {
        "width only": FaceAnalyser(budget.model_copy(update={"detect_pixels": UNBOUNDED}), engine=engine),
        "pixel budget": FaceAnalyser(budget, engine=engine),
    }
    run_latency(args.faces, rules, args.rounds, args.frames)
    if args.decisions:
        run_decisions(args.faces, rules)
    return 0


if __name__ == "__main__":
    sys.exit(main())
