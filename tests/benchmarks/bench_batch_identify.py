"""Benchmark of batch identification against the face_recognition CLI (issue 14, goal 1).

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_batch_identify.py [--faces DIR] [--probes 120] [--cpus 2]
        [--rounds 2] [--also OTHER_CHECKOUT]

From ../shared/faces: a seeded half of ``identities/`` is enrolled with two photos per
person (the first pair of photos that enrols); ``--probes`` held-out photos (the other
identity photos and ``singles/``, a seeded sample) are identified, in one run, by:
- ``face_recognition --cpus N`` (what a user would otherwise run; known people are the
  same enrolment photos, symlinked into a temporary folder; tolerance 0.6, its default);
- ``scangate identify --json`` with the default ``--jobs`` and with ``--jobs 1``.
Each is the real command in a subprocess, start-up and model loading included (the
face_recognition run also encodes its known people; ScanGate opens its sealed store).
``--also`` adds ``scangate identify`` (default ``--jobs``) run from another checkout of the
repository (e.g. the previous release), for a before/after in the same run. With
``--rounds`` the whole sequence is repeated, so load changes hit every command alike.
Prints wall time, the ratio to face_recognition (of the same round), CPU time (of every process a
command started: this script adopts orphaned workers to count them), and false accepts /
genuine accepts (a false accept: any name other than the probe's own person). The machine
load is printed with the numbers. Photos are only symlinked, never copied.

Decisions unchanged: every ScanGate command's lines (all but ``timings_ms``: decision,
identity, distance, margin, box, faces found, sharpness, reason) are compared input by
input with those of the first ScanGate command of round 1 (so ``--also`` compares this
checkout with another); any difference is printed and makes the exit status 1. The one
exception: ``distance`` and ``margin`` are printed to 4 decimals, so two encoder
implementations that agree to 1e-6 (dlib's and the numpy one, agent/faces/engine.py) can
round a value on either side of a last digit; a line that differs only there, by at most
one unit of the last digit, is counted and reported as a rounding difference, not a change.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from agent.errors import ScanGateError  # noqa: E402
from agent.faces.analysis import FaceAnalyser  # noqa: E402
from agent.faces.enrolment import enrol_images  # noqa: E402
from agent.faces.evaluation import IMAGE_SUFFIXES, list_identities  # noqa: E402
from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV  # noqa: E402
from agent.faces.settings import IdentificationSettings  # noqa: E402
from agent.faces.store import TemplateStore  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def enrol_half(faces: Path, store: Path, known: Path, seed: int) -> tuple[dict[str, list[Path]], set[str]]:
    """Enrol a seeded half of the people; symlink the same photos for face_recognition."""
    identities = list_identities(faces / "identities")
    people = sorted(identities)
    chosen = sorted(random.Random(seed).sample(people, len(people) // 2))
    analyser = FaceAnalyser(IdentificationSettings())
    template_store = TemplateStore(store, passphrase=lambda: PASSPHRASE)
    used: dict[str, list[Path]] = {}
    for person in chosen:
        photos = identities[person]
        for first in range(len(photos) - 1):
            pair = photos[first : first + 2]
            try:
                enrol_images(analyser, template_store, person, pair)
            except ScanGateError:
                continue
            used[person] = pair
            for index, photo in enumerate(pair):
                (known / f"{person}__{index}{photo.suffix.lower()}").symlink_to(photo)
            break
    enrolled_photos = {p for pair in used.values() for p in pair}
    probes = {p: person for person, photos in identities.items() for p in photos if p not in enrolled_photos}
    for single in sorted((faces / "singles").iterdir()):
        if single.suffix.lower() in IMAGE_SUFFIXES:
            probes[single] = f"single:{single.stem}"
    return {
        person: [p for p, who in probes.items() if who == person] for person in set(probes.values())
    }, set(used)


PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> None:
    """Adopt every orphaned descendant (pool workers, fork servers), so their CPU time is counted."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap_descendants() -> None:
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and every process it started) and its output."""
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    _reap_descendants()  # workers the command left to exit on their own
    if done.returncode not in (0, 2):
        raise SystemExit(f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, _children_cpu() - cpu, done.stdout


def _accepts(
    label: str, out: str, links: list[Path], probes: list[Path], truth: dict[Path, str]
) -> tuple[int, int]:
    """(false accepts, genuine accepts) in one command's output."""
    names: dict[int, set[str]] = {}
    if label.startswith("face_recognition"):
        for row in out.splitlines():
            if "," not in row or row.startswith("WARNING"):
                continue
            path, name = row.split(",")[:2]
            if name not in ("unknown_person", "no_persons_found"):
                names.setdefault(int(Path(path).stem), set()).add(name.split("__")[0])
    else:
        for index, row in enumerate(out.splitlines()):
            line = json.loads(row)
            assert line["input"] == str(links[index]), "lines out of input order"
            if line["decision"] == "match":
                names.setdefault(index, set()).add(line["performer_id"])
    false = sum(1 for i, found in names.items() if found - {truth[probes[i]]})
    genuine = sum(1 for i, found in names.items() if found == {truth[probes[i]]})
    return false, genuine


def _decisions(out: str) -> list[dict[str, object]]:
    """A ScanGate command's lines without their timings: what must not change."""
    lines = []
    for row in out.splitlines():
        line = json.loads(row)
        line.pop("timings_ms", None)
        lines.append(line)
    return lines


LAST_DIGIT = 0.0001
"""One unit of the last printed digit of ``distance`` and ``margin``."""


def _rounding_only(before: dict[str, object], after: dict[str, object]) -> bool:
    """Whether two lines differ only by one last-digit unit of distance and/or margin."""
    rounded = ("distance", "margin")
    if {k: v for k, v in before.items() if k not in rounded} != {
        k: v for k, v in after.items() if k not in rounded
    }:
        return False
    for key in rounded:
        a, b = before.get(key), after.get(key)
        if a == b:
            continue
        if not isinstance(a, float) or not isinstance(b, float) or abs(a - b) > LAST_DIGIT * 1.5:
            return False
    return True


def _differences(reference: list[dict[str, object]], lines: list[dict[str, object]]) -> tuple[list[str], int]:
    """One text per input whose line differs from the reference's, and how many lines differ
    only by a last-digit rounding of distance or margin."""
    if len(reference) != len(lines):
        return [f"{len(lines)} lines against {len(reference)}"], 0
    changed, rounding = [], 0
    for before, after in zip(reference, lines, strict=True):
        if before == after:
            continue
        if _rounding_only(before, after):
            rounding += 1
        else:
            changed.append(f"{before['input']}: {before} -> {after}")
    return changed, rounding


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=REPO_ROOT.parent / "shared" / "faces")
    parser.add_argument("--probes", type=int, default=120)
    parser.add_argument("--cpus", type=int, default=os.cpu_count() or 1, help="face_recognition --cpus")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-jobs-1", action="store_true", help="do not run scangate --jobs 1")
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole sequence this many times")
    parser.add_argument("--also", type=Path, help="another checkout whose scangate identify runs too")
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    _become_subreaper()
    print(f"bench_batch_identify: {load()}")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        known, unknown = root / "known", root / "unknown"
        known.mkdir()
        unknown.mkdir()
        by_person, enrolled = enrol_half(args.faces, root / "store", known, args.seed)
        truth = {p: person for person, photos in by_person.items() for p in photos}
        probes = sorted(random.Random(args.seed).sample(sorted(truth), min(args.probes, len(truth))))
        links = []
        for index, photo in enumerate(probes):
            link = unknown / f"{index:04d}{photo.suffix.lower()}"
            link.symlink_to(photo)
            links.append(link)
        genuine_total = sum(1 for p in probes if truth[p] in enrolled)
        print(
            f"{len(enrolled)} people enrolled (2 photos each), {len(probes)} probes"
            f" ({genuine_total} of enrolled people)"
        )
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), DEFAULT_PASSPHRASE_ENV: PASSPHRASE}
        scangate = [sys.executable, "-c", "from agent.cli.main import entry; entry()"]
        runs: list[tuple[str, list[str]]] = [
            (
                f"face_recognition --cpus {args.cpus}",
                [str(bin_dir / "face_recognition"), "--cpus", str(args.cpus), str(known), str(unknown)],
            ),
            (
                "scangate identify (default --jobs)",
                [*scangate, "identify", "--json", "--store", str(root / "store"), *map(str, links)],
            ),
        ]
        if args.also is not None:
            runs.append(
                (
                    f"scangate identify from {args.also.name} (default --jobs)",
                    [
                        sys.executable,
                        "-c",
                        f"import sys; sys.path.insert(0, {str(args.also)!r}); from agent.cli.main import entry; entry()",
                        "identify",
                        "--json",
                        "--store",
                        str(root / "store"),
                        *map(str, links),
                    ],
                )
            )
        if not args.skip_jobs_1:
            runs.append(
                (
                    "scangate identify --jobs 1",
                    [
                        *scangate,
                        "identify",
                        "--json",
                        "--jobs",
                        "1",
                        "--store",
                        str(root / "store"),
                        *map(str, links),
                    ],
                )
            )
        results: dict[str, list[tuple[float, float, int, int]]] = {}
        baseline: tuple[str, list[dict[str, object]]] | None = None
        differing = rounding = 0
        for round_ in range(args.rounds):
            for label, command in runs:
                elapsed, cpu, out = run(command, env)
                false, genuine = _accepts(label, out, links, probes, truth)
                if label.startswith("scangate"):
                    decisions = _decisions(out)
                    if baseline is None:
                        baseline = (f"{label}, round 1", decisions)
                    else:
                        changed, rounded = _differences(baseline[1], decisions)
                        rounding += rounded
                        for text in changed:
                            differing += 1
                            print(f"  DECISION CHANGED, round {round_ + 1}, {label}: {text}")
                results.setdefault(label, []).append((elapsed, cpu, false, genuine))
                print(f"  round {round_ + 1}, {label}: {elapsed:.1f} s ({load()})", flush=True)
        print(
            f"\n{'what':<48} {'round':>5} {'wall s':>7} {'speed-up':>9} {'CPU s':>6} {'false accepts':>14}"
            f" {'genuine':>9}"
        )
        for round_ in range(args.rounds):
            reference = results[runs[0][0]][round_][0]
            for label, rows in results.items():
                elapsed, cpu, false, genuine = rows[round_]
                print(
                    f"{label:<48} {round_ + 1:>5} {elapsed:7.1f} {reference / elapsed:8.2f}x {cpu:6.1f}"
                    f" {false:>14} {genuine:>5}/{genuine_total}"
                )
        print("(CPU s: user + system time of the command and of every process it started)")
        print(f"({load()}; goal: scangate >= 2x face_recognition --cpus {args.cpus}, 0 false accepts)")
        assert baseline is not None
        print(
            f"decisions: every scangate line of every round identical to {baseline[0]}"
            f" ({len(baseline[1])} inputs; all fields but timings)"
            if not differing
            else f"decisions: {differing} scangate line(s) differ from {baseline[0]} (listed above)"
        )
        if rounding:
            print(
                f"({rounding} line(s) differ only in the last printed digit of distance or margin:"
                f" {LAST_DIGIT} apart, a rounding of values that agree to ~1e-6)"
            )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
