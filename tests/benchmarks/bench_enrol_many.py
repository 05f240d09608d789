"""Benchmark of enrolling many performers: one call per performer against one ``--folders`` call.

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_enrol_many.py [--faces DIR] [--performers 8]

Takes ``--performers`` people of ../shared/faces/identities with their first two photos
(symlinked into one folder per performer, never copied) and enrols them into fresh sealed
stores, in one run: ``scangate enrol --performer ID photo photo`` once per performer (what
the previous release needed), then ``scangate enrol --folders DIR...`` once. Each is the
real command in a subprocess. Prints wall times, the ratio, and the machine load.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSPHRASE = "benchmark passphrase, not a secret"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def scangate(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from agent.cli.main import entry; entry()", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"scangate {args[:4]} failed ({done.returncode}): {done.stderr[-1500:]}")
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--faces", type=Path, default=REPO_ROOT.parent / "shared" / "faces")
    parser.add_argument("--performers", type=int, default=8)
    args = parser.parse_args()
    # People whose first two photos each show one usable face (checked by the previous runs).
    people = [
        "alex_lacamoire", "barack_obama", "bbt_amy", "bbt_howard", "bbt_leonard", "bbt_penny",
        "bbt_raj", "bbt_sheldon", "joe_biden", "kit_harington", "rose_leslie", "lfw_bud_selig",
    ][: args.performers]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SCANGATE_TEMPLATE_PASSPHRASE": PASSPHRASE}
    print(f"bench_enrol_many: {len(people)} performers x 2 photos ({load()})")
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        folders = []
        for person in people:
            folder = root / "people" / person
            folder.mkdir(parents=True)
            for photo in sorted((args.faces / "identities" / person).iterdir())[:2]:
                (folder / photo.name).symlink_to(photo)
            folders.append(folder)
        one_by_one = 0.0
        for folder in folders:
            photos = [str(p) for p in sorted(folder.iterdir())]
            one_by_one += scangate(
                ["enrol", "--store", str(root / "a"), "--performer", folder.name, *photos], env
            )
        print(f"  one call per performer: {one_by_one:.1f} s ({load()})", flush=True)
        together = scangate(["enrol", "--store", str(root / "b"), "--folders", *map(str, folders)], env)
        print(f"  one --folders call:     {together:.1f} s ({load()})")
        print(
            f"\n{len(people)} performers: {one_by_one:.1f} s one by one ({one_by_one / len(people):.2f} s each),"
            f" {together:.1f} s in one call ({together / len(people):.2f} s each): {one_by_one / together:.1f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
