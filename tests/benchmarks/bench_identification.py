"""Benchmark of face identification: accuracy on a labelled face folder and per-stage latency.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_identification.py [--faces DIR] [--seeds 20] [--rounds 3]

Prints, for a folder laid out like ../shared/faces/identities (``<person>/<photo>``):
- genuine accept rate and false accept rate with ``--enrol-per-person`` photos enrolled
  for a seeded half of the people and every other photo as a probe (people left out of
  the roster are impostors), at face_recognition's customary tolerance 0.6 and at the
  configured defaults, for seed 0 and summarised over ``--seeds`` seeds;
- distance distributions behind the threshold (genuine vs impostor);
- latency p50/p95 per stage (detect, quality, encode, match) and for the whole decision at
  640x480 and 1280x720 (real photos letterboxed to those sizes);
- matching time against a 10,000-template roster.
The machine load (1/5/15-minute load average) is printed with the numbers.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from agent.faces.analysis import FaceAnalyser, FaceObservation
from agent.faces.evaluation import (
    Evaluation,
    evaluate,
    list_identities,
    make_split,
    observe_all,
    split_roster,
)
from agent.faces.identifier import match_observation
from agent.faces.imaging import RGBImage, load_image
from agent.faces.roster import judge_match, roster_from_vectors
from agent.faces.settings import IdentificationSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAME_SIZES = ((640, 480), (1280, 720))


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def describe(values: Sequence[float]) -> str:
    if not values:
        return "n=0"
    qs = [percentile(values, q) for q in (0, 1, 5, 50, 95, 99, 100)]
    return "n={} min {:.3f} p1 {:.3f} p5 {:.3f} p50 {:.3f} p95 {:.3f} p99 {:.3f} max {:.3f}".format(
        len(values), *qs
    )


def accuracy_line(label: str, result: Evaluation) -> str:
    total = result.genuine_probes + result.impostor_probes
    return (
        f"  {label:<30} false accepts {len(result.false_accepts):3d} / {total} probes"
        f" (FAR {result.false_accept_rate:.2%}); genuine accepts {result.genuine_accepted}/"
        f"{result.genuine_detected} = {result.genuine_accept_rate:.1%} of genuine probes with a face"
    )


def run_accuracy(
    faces: Path, analyser: FaceAnalyser, settings: IdentificationSettings, args: argparse.Namespace
) -> None:
    identities = list_identities(faces / "identities")
    extra = (
        sorted((faces / "singles").glob("*")) if args.extra_impostors and (faces / "singles").is_dir() else []
    )
    photos = [p for ps in identities.values() for p in ps] + extra
    started = time.perf_counter()
    observations = observe_all(analyser, photos)
    print(
        f"encoded {len(photos)} photos of {len(identities)} people"
        f" (+{len(extra)} extra impostors) in {time.perf_counter() - started:.1f} s"
    )
    loose = settings.model_copy(update={"max_distance": 0.6, "min_margin": 0.0})
    configs = [
        ("tolerance 0.6 (face_recognition)", loose),
        (f"defaults {settings.max_distance}/margin {settings.min_margin}", settings),
    ]
    split = make_split(
        identities, observations, enrol_per_person=args.enrol_per_person, seed=0, extra_impostors=extra
    )
    print(
        f"\nseed 0: {len(split.enrolment)} people enrolled with {args.enrol_per_person} photos each;"
        f" {len(split.genuine_probes)} genuine probes, {len(split.impostor_probes)} impostor probes"
    )
    for label, config in configs:
        result = evaluate(split, observations, config)
        print(accuracy_line(label, result))
        for path, performer, distance in result.false_accepts:
            print(f"      false accept: {path.relative_to(faces)} -> {performer} at {distance:.3f}")
    refusals = evaluate(split, observations, settings).refusals
    print(f"  probe refusals (same for both): {dict(sorted(refusals.items())) or 'none'}")

    print(f"\nover seeds 0..{args.seeds - 1}:")
    for label, config in configs:
        results = [
            evaluate(
                make_split(
                    identities,
                    observations,
                    enrol_per_person=args.enrol_per_person,
                    seed=s,
                    extra_impostors=extra,
                ),
                observations,
                config,
            )
            for s in range(args.seeds)
        ]
        rates = [r.genuine_accept_rate for r in results]
        print(
            f"  {label:<30} false accepts total {sum(len(r.false_accepts) for r in results)}"
            f" (seeds with any: {sum(bool(r.false_accepts) for r in results)}/{args.seeds});"
            f" genuine accept rate mean {statistics.mean(rates):.1%}, min {min(rates):.1%},"
            f" seeds below 90%: {sum(r < 0.9 for r in rates)}"
        )

    print("\ndistance distributions (seed 0 roster; probe to nearest template):")
    result = evaluate(split, observations, settings)
    print(f"  genuine (own templates)        {describe(result.genuine_distances)}")
    print(f"  impostor (nearest other)       {describe(result.impostor_distances)}")
    encoded = [(p, o.encoding) for p, o in observations.items() if o.encoding is not None and p not in extra]
    genuine_pairs: list[float] = []
    impostor_pairs: list[float] = []
    for (a, va), (b, vb) in itertools.combinations(encoded, 2):
        assert va is not None and vb is not None
        (genuine_pairs if a.parent == b.parent else impostor_pairs).append(float(np.linalg.norm(va - vb)))
    print("all photo pairs of the identities folder:")
    print(f"  genuine pairs                  {describe(genuine_pairs)}")
    print(f"  impostor pairs                 {describe(impostor_pairs)}")
    for threshold in (0.45, 0.5, 0.55, 0.6):
        below = sum(d <= threshold for d in impostor_pairs)
        above = sum(d > threshold for d in genuine_pairs)
        print(f"  at {threshold:.2f}: impostor pairs within {below:5d}, genuine pairs beyond {above:4d}")

    multi = faces / "multiface"
    if multi.is_dir():
        scenes = observe_all(analyser, sorted(multi.iterdir()))
        flagged = sum(o.refusal is not None and o.refusal.value == "multiple_faces" for o in scenes.values())
        print(f"\nmultiple_faces: {flagged}/{len(scenes)} multiface scenes;", end=" ")
    flagged_ids = sum(
        o.refusal is not None and o.refusal.value == "multiple_faces" for o in observations.values()
    )
    print(f"{flagged_ids}/{len(observations)} identity photos (background faces judged comparable)")


def letterbox(image: RGBImage, width: int, height: int) -> RGBImage:
    """``image`` scaled to fit width x height, centred on a grey canvas."""
    scale = min(width / image.shape[1], height / image.shape[0])
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    resized = cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    canvas = np.full((height, width, 3), 110, dtype=np.uint8)
    top, left = (height - size[1]) // 2, (width - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = resized
    return canvas


def run_latency(
    faces: Path, analyser: FaceAnalyser, settings: IdentificationSettings, args: argparse.Namespace
) -> None:
    identities = list_identities(faces / "identities")
    sources = [p for ps in identities.values() for p in ps]
    big = [p for p in sources if p.suffix.lower() in {".jpg", ".png"}]
    images = [img for img in (load_image(p) for p in big) if img.shape[1] >= 600][: args.frames]
    observations = observe_all(analyser, sources)
    roster = split_roster(make_split(identities, observations, seed=0), observations)
    print(
        f"\nlatency: {len(images)} real photos letterboxed, {args.rounds} rounds, roster of {len(roster)} performers"
    )
    for width, height in FRAME_SIZES:
        frames = [letterbox(img, width, height) for img in images]
        stages: dict[str, list[float]] = {
            "detect": [],
            "quality": [],
            "encode": [],
            "match": [],
            "decision": [],
        }
        decisions: dict[str, int] = {}
        for _ in range(args.rounds):
            for frame in frames:
                started = time.perf_counter()
                observation: FaceObservation = analyser.observe(frame)
                analysis = match_observation(observation, roster, settings)
                stages["decision"].append((time.perf_counter() - started) * 1000)
                timings = analysis.timings
                stages["detect"].append(timings.detect_ms)
                stages["quality"].append(timings.quality_ms)
                if observation.encoding is not None:
                    stages["encode"].append(timings.encode_ms)
                    stages["match"].append(timings.match_ms)
                decisions[analysis.decision.value] = decisions.get(analysis.decision.value, 0) + 1
        print(f"  {width}x{height} ({load_average()}); decisions {decisions}")
        for name, values in stages.items():
            print(
                f"    {name:<9} p50 {percentile(values, 50):7.2f} ms  p95 {percentile(values, 95):7.2f} ms  (n={len(values)})"
            )


def run_large_roster(settings: IdentificationSettings, templates: int) -> None:
    rng = np.random.default_rng(0)
    per_performer = 4
    vectors = rng.normal(0, 0.09, (templates, 128))
    entries = [
        (f"p{i}", f"Performer {i}", list(vectors[i * per_performer : (i + 1) * per_performer]))
        for i in range(templates // per_performer)
    ]
    started = time.perf_counter()
    roster = roster_from_vectors(entries)
    build_ms = (time.perf_counter() - started) * 1000
    probes = rng.normal(0, 0.09, (2000, 128))
    for probe in probes[:50]:  # warm-up: page in the matrix, settle caches
        roster.nearest(probe)
    times: list[float] = []
    for probe in probes:
        started = time.perf_counter()
        judge_match(roster.nearest(probe), max_distance=settings.max_distance, min_margin=settings.min_margin)
        times.append((time.perf_counter() - started) * 1000)
    print(
        f"\nmatch against {roster.template_count} templates ({len(roster)} performers; roster built once in"
        f" {build_ms:.0f} ms): p50 {percentile(times, 50):.2f} ms, p95 {percentile(times, 95):.2f} ms"
        f" ({load_average()})"
    )


def default_faces_dir() -> Path:
    configured = os.environ.get("SCANGATE_FACES_DIR")
    return Path(configured) if configured else REPO_ROOT.parent / "shared" / "faces"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--faces", type=Path, default=default_faces_dir(), help="face set root (with identities/)"
    )
    parser.add_argument(
        "--enrol-per-person", type=int, default=2, help="enrolment photos per enrolled person"
    )
    parser.add_argument("--seeds", type=int, default=20, help="how many enrolment splits to summarise")
    parser.add_argument("--rounds", type=int, default=3, help="latency: passes over the frames")
    parser.add_argument("--frames", type=int, default=15, help="latency: how many distinct photos")
    parser.add_argument("--templates", type=int, default=10_000, help="size of the large roster")
    parser.add_argument(
        "--extra-impostors", action="store_true", help="also probe with singles/ as impostors"
    )
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    settings = IdentificationSettings()
    print(f"bench_identification: {load_average()}")
    print(f"settings: {settings.model_dump()}")
    run_large_roster(settings, args.templates)
    if not (args.faces / "identities").is_dir():
        print(f"face set not found at {args.faces}: accuracy and frame latency skipped", file=sys.stderr)
        return 0
    analyser = FaceAnalyser(settings)
    if not args.skip_accuracy:
        run_accuracy(args.faces, analyser, settings, args)
    if not args.skip_latency:
        run_latency(args.faces, analyser, settings, args)
    print(f"\nend: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
