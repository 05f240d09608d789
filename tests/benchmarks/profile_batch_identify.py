"""Per-stage profile of batch identification, ScanGate next to the face_recognition CLI (issue 14, goal 1).

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/profile_batch_identify.py [--faces DIR] [--probes 120] [--seed 0]

The probes and enrolment are those of ``bench_batch_identify.py`` (same seed, same files).
In this one process, photo by photo (the two tools interleaved, so load changes hit both
alike), the CPU time (``time.thread_time``) of each stage of:
- ScanGate (``FaceAnalyser.observe``): decode (``load_image``), downscale to the pixel
  budget, HOG detection, quality gate, 5-point landmarks, ResNet (chip + network);
- what ``face_recognition``'s CLI does per photo (``test_image``): decode
  (``load_image_file``), HOG detection at upsample 1 on the full photo, 5-point landmarks
  (``face_encodings``' default ``model="small"``) and the ResNet for every face found;
plus counts (photo sizes, pixels detected on, faces found, faces encoded), the
face_recognition CLI's serial encoding of its known people, and, in fresh subprocesses,
each tool's start-up (imports and model loading). Also checks that the ScanGate
observation computed stage by stage here equals ``FaceAnalyser.observe`` (the same
decision inputs). The machine load is printed with the numbers.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from agent.faces.analysis import FaceAnalyser, detection_scale  # noqa: E402
from agent.faces.engine import CHIP_PADDING, Detection  # noqa: E402
from agent.faces.imaging import load_image  # noqa: E402
from agent.faces.resnet_architecture import CHIP_SIZE  # noqa: E402
from agent.faces.settings import IdentificationSettings  # noqa: E402
from tests.benchmarks.bench_batch_identify import enrol_half, load  # noqa: E402

T = TypeVar("T")


class Stages:
    """CPU seconds per stage name, summed over photos."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)

    def time(self, stage: str, call: Callable[[], T]) -> T:
        started = time.thread_time()
        result = call()
        self.cpu[stage] += time.thread_time() - started
        self.counts[stage] += 1
        return result


def _start_up(code: str, rounds: int = 3) -> list[float]:
    """Wall seconds of a fresh interpreter running ``code`` (imports, model loading)."""
    times = []
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    for _ in range(rounds):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, env=env)
        times.append(time.perf_counter() - started)
    return times


def profile_scangate(analyser: FaceAnalyser, path: Path, stages: Stages) -> dict[str, Any]:
    """One photo through ScanGate's stages, timed; the same steps as ``FaceAnalyser.observe``."""
    settings = analyser.settings
    engine: Any = analyser.engine
    frame = stages.time("decode", lambda: load_image(path))
    height, width = frame.shape[:2]
    scale = detection_scale(width, height, settings)
    small = frame
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        small = stages.time(
            "downscale",
            lambda: np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), dtype=np.uint8),
        )
    found: list[Detection] = stages.time("detect", lambda: engine.detect(small, upsample=settings.upsample))
    observed = analyser.observe(frame)  # the reference: the decision inputs must be the same
    encoded = observed.encoding is not None
    if encoded:
        assert observed.box is not None and observed.encoding is not None
        box = observed.box
        rect = engine._dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
        shape = stages.time("landmarks", lambda: engine._predictor(frame, rect))
        numpy_encoder = engine._numpy_encoder
        if numpy_encoder is not None and settings.num_jitters <= 1:  # as FaceEngine.encode chooses
            vector = stages.time(
                "resnet",
                lambda: numpy_encoder.descriptor(
                    engine._dlib.get_face_chip(frame, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
                ),
            )
        else:
            vector = stages.time(
                "resnet",
                lambda: engine._dlib_encoder().compute_face_descriptor(frame, shape, settings.num_jitters),
            )
        assert np.array_equal(np.asarray(vector), observed.encoding), f"{path}: encoding differs"
    return {
        "size": (width, height),
        "detected_px": small.shape[0] * small.shape[1],
        "faces": len(found),
        "encoded": int(encoded),
        "decision": observed.refusal.value if observed.refusal else "encoded",
    }


def profile_face_recognition(path: Path, stages: Stages) -> dict[str, Any]:
    """One photo through what ``face_recognition``'s CLI ``test_image`` does, stage by stage."""
    import face_recognition.api as fr
    import PIL.Image

    image = stages.time("decode", lambda: fr.load_image_file(str(path)))
    if max(image.shape) > 1600:

        def shrink() -> Any:
            pil = PIL.Image.fromarray(image)
            pil.thumbnail((1600, 1600), PIL.Image.Resampling.LANCZOS)
            return np.array(pil)

        image = stages.time("downscale", shrink)
    rects = stages.time("detect", lambda: fr._raw_face_locations(image))
    for rect in rects:
        shape = stages.time("landmarks", partial(fr.pose_predictor_5_point, image, rect))
        stages.time("resnet", partial(fr.face_encoder.compute_face_descriptor, image, shape, 1))
    return {
        "size": (image.shape[1], image.shape[0]),
        "detected_px": image.shape[0] * image.shape[1] * 4,
        "faces": len(rects),
        "encoded": len(rects),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=REPO_ROOT.parent / "shared" / "faces")
    parser.add_argument("--probes", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start-up-rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"profile_batch_identify: {load()}")
    import face_recognition.api as fr

    analyser = FaceAnalyser(IdentificationSettings())
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        known = root / "known"
        known.mkdir()
        by_person, _ = enrol_half(args.faces, root / "store", known, args.seed)
        truth = {p: person for person, photos in by_person.items() for p in photos}
        probes = sorted(random.Random(args.seed).sample(sorted(truth), min(args.probes, len(truth))))
        known_stages = Stages()
        known_rows = [profile_face_recognition(p.resolve(), known_stages) for p in sorted(known.iterdir())]
    ours, theirs = Stages(), Stages()
    our_rows, their_rows = [], []
    for path in probes:
        our_rows.append(profile_scangate(analyser, path, ours))
        their_rows.append(profile_face_recognition(path, theirs))
    print(f"{len(probes)} probes; {load()}")
    sizes = [r["size"][0] * r["size"][1] for r in our_rows]
    print(
        f"photo pixels: median {statistics.median(sizes):.0f}, max {max(sizes)};"
        f" {sum(1 for r in our_rows if r['detected_px'] < r['size'][0] * r['size'][1])} downscaled to the budget"
    )
    for name, stages, rows in (("scangate", ours, our_rows), ("face_recognition", theirs, their_rows)):
        total = sum(stages.cpu.values())
        print(
            f"\n{name}: {total:.2f} CPU s for {len(rows)} probes ({1000 * total / len(rows):.0f} ms/probe);"
            f" faces found {sum(r['faces'] for r in rows)}, faces encoded {sum(r['encoded'] for r in rows)}"
        )
        for stage in ("decode", "downscale", "detect", "landmarks", "resnet"):
            if stage in stages.cpu:
                cpu, count = stages.cpu[stage], stages.counts[stage]
                print(
                    f"  {stage:<10} {cpu:7.2f} s  {100 * cpu / total:5.1f} %  {count:4d} calls,"
                    f" {1000 * cpu / count:6.1f} ms/call"
                )
    decisions: dict[str, int] = defaultdict(int)
    for row in our_rows:
        decisions[row["decision"]] += 1
    print(f"\nscangate gate outcomes: {dict(decisions)}")
    total_known = sum(known_stages.cpu.values())
    print(
        f"face_recognition known people (serial, before its pool starts): {len(known_rows)} photos,"
        f" {total_known:.2f} CPU s (resnet {known_stages.cpu['resnet']:.2f} s)"
    )
    del fr
    scangate_start = _start_up(
        "from agent.faces.analysis import FaceAnalyser; from agent.faces.settings import IdentificationSettings;"
        " FaceAnalyser(IdentificationSettings())",
        args.start_up_rounds,
    )
    fr_start = _start_up("import face_recognition", args.start_up_rounds)
    print(
        "start-up, fresh interpreter, imports + models (wall s, each round):"
        f" scangate {', '.join(f'{t:.2f}' for t in scangate_start)};"
        f" face_recognition {', '.join(f'{t:.2f}' for t in fr_start)}"
    )
    print(f"({load()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
