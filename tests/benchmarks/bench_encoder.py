"""Benchmark of the face encoder: dlib's ResNet vs the numpy one, per 150x150 chip.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_encoder.py [--count 40] [--warmup 3]

Prints latency p50/p95 of one descriptor (the astronaut's aligned chip) for dlib's
``compute_face_descriptor`` and for :class:`agent.faces.resnet_encoder.NumpyFaceEncoder` with
1 and 2 OpenBLAS threads: first in one process alone, then in two processes encoding at the
same time (as the identification child and the live loop may). The numpy weights are
converted from the installed model file in each process (nothing is written). The machine
load (1/5/15-minute load average) is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
KINDS = ("dlib", "numpy-1", "numpy-2")


def _chip() -> np.ndarray:
    import dlib
    import face_recognition_models  # type: ignore[import-untyped]
    import skimage.data

    image = np.ascontiguousarray(getattr(skimage.data, "astronaut")())  # noqa: B009  # untyped
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location())
    shape = predictor(image, detector(image, 1)[0])
    return np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25))


def _timings(kind: str, count: int, warmup: int) -> list[float]:
    """Seconds per descriptor, ``count`` calls after ``warmup`` untimed ones."""
    import dlib
    import face_recognition_models

    from agent.faces import resnet_encoder
    from agent.faces.resnet_weights import convert

    chip = _chip()
    model = face_recognition_models.face_recognition_model_location()
    if kind == "dlib":
        encoder = dlib.face_recognition_model_v1(model)

        def run() -> object:
            return encoder.compute_face_descriptor(chip)
    else:
        resnet_encoder.BLAS_THREADS = int(kind.split("-")[1])
        numpy_encoder = resnet_encoder.NumpyFaceEncoder(convert(Path(model)))

        def run() -> object:
            return numpy_encoder.descriptor(chip)

    for _ in range(warmup):
        run()
    times = []
    for _ in range(count):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return times


def _summary(label: str, times: list[float]) -> str:
    ms = np.asarray(times) * 1000.0
    return f"{label:<28} p50 {np.percentile(ms, 50):7.1f} ms   p95 {np.percentile(ms, 95):7.1f} ms   (n={ms.size})"


def _parallel(kind: str, count: int, warmup: int) -> list[list[float]]:
    """Two worker processes of ``kind`` started together; each one's timings."""
    command = [sys.executable, __file__, "--worker", kind, "--count", str(count), "--warmup", str(warmup)]
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    workers = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    return [json.loads(worker.communicate()[0]) for worker in workers]


def main() -> int:
    """Run the benchmark (or, with ``--worker``, one timed worker printing JSON)."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=40, help="timed descriptors per run")
    parser.add_argument("--warmup", type=int, default=3, help="untimed descriptors first")
    parser.add_argument("--worker", choices=KINDS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(_timings(args.worker, args.count, args.warmup)))
        return 0
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}")
    print("one process:")
    for kind in KINDS:
        print("  " + _summary(kind, _timings(kind, args.count, args.warmup)))
    print("two processes at once (each process's numbers):")
    for kind in KINDS:
        for i, times in enumerate(_parallel(kind, args.count, args.warmup)):
            print("  " + _summary(f"{kind} [{i + 1}/2]", times))
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO_ROOT))
    raise SystemExit(main())
