"""Busy processes that keep the machine's cores loaded, for timing tests and benchmarks.

Timing-dependent behaviour must hold while other work keeps every core busy
(the rig's PC also runs capture software). :func:`busy_cores` starts plain
Python spin loops in child processes and always stops them again, also when the
code under test fails.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator

SPIN_LOOP = "while True:\n    pass\n"
"""A pure-Python spin loop: one process keeps one core at 100 %."""


@contextlib.contextmanager
def busy_cores(count: int = 2) -> Iterator[list[int]]:
    """Keep ``count`` cores busy while the block runs; yields the burners' process ids."""
    burners: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            burners.append(
                subprocess.Popen(
                    [sys.executable, "-c", SPIN_LOOP],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        yield [burner.pid for burner in burners]
    finally:
        for burner in burners:
            burner.terminate()
        for burner in burners:
            try:
                burner.wait(timeout=5)
            except subprocess.TimeoutExpired:
                burner.kill()
                burner.wait(timeout=5)


def load_average() -> str:
    """The 1-minute load average and the core count, for printing next to measurements."""
    one, _five, _fifteen = os.getloadavg()
    return f"load average {one:.2f} on {os.cpu_count()} cores"
