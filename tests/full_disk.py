"""Filling the small real file system of the ``small_disk`` fixture (tests/conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path


def fill_leaving(folder: Path, free: int) -> None:
    """Fill the file system of ``folder`` until about ``free`` bytes are left (a file named ``filler``)."""
    stats = os.statvfs(folder)
    available = stats.f_bavail * stats.f_frsize
    (folder / "filler").write_bytes(b"\0" * max(0, available - free))
