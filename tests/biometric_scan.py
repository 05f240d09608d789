"""Find biometric data left on disk: face templates (in any encoding we can recognise) and frames.

Used after the GUI demo and every rehearsal to show that nothing biometric stays
at rest outside the capture folders: no 128-d face encoding as JSON text, as raw
float32/float64 bytes, inside a SQLite database (its tables, WAL or journal),
and no image or video file outside the folders the capture gate writes to.
Encrypted data (the sealed template store, sealed registry templates) looks like
random bytes and is, rightly, not reported.

The detectors are deliberately broader than ScanGate's own formats (any run of
64 or more small numbers in a JSON-like list, any run of 128 small floats in a
binary file), so a new way of writing templates does not slip past them.
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

IMAGE_OR_VIDEO_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".avi", ".mp4", ".mkv", ".mov"}
)
ARRAY_SUFFIXES = frozenset({".npy", ".npz", ".pkl", ".pickle"})
TEMPLATE_LENGTH = 128

_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_JSON_VECTOR = re.compile(rf"\[\s*{_NUMBER}(?:\s*,\s*{_NUMBER}){{63,}}\s*\]".encode())
_SQLITE_HEADER = b"SQLite format 3\x00"


@dataclass(frozen=True)
class Finding:
    """One piece of biometric data found at rest."""

    path: Path
    what: str

    def __str__(self) -> str:
        return f"{self.path}: {self.what}"


def _within(path: Path, folders: Iterable[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder.resolve()) for folder in folders)


def _float_run(values: np.ndarray) -> bool:
    """Whether ``values`` hold 128 consecutive numbers that look like a face encoding."""
    plausible = np.isfinite(values) & (np.abs(values) < 1.0) & (np.abs(values) > 1e-6)
    if plausible.size < TEMPLATE_LENGTH:
        return False
    window = np.convolve(plausible.astype(np.int32), np.ones(TEMPLATE_LENGTH, dtype=np.int32), "valid")
    for start in np.flatnonzero(window == TEMPLATE_LENGTH)[:50]:
        run = values[start : start + TEMPLATE_LENGTH]
        if 0.01 < float(np.std(run)) < 0.5:
            return True
    return False


def _binary_template(data: bytes) -> str | None:
    for dtype, size in ((np.float64, 8), (np.float32, 4)):
        for offset in range(size):
            usable = (len(data) - offset) // size * size
            if usable < TEMPLATE_LENGTH * size:
                continue
            with np.errstate(all="ignore"):
                values = np.frombuffer(data, dtype=dtype, count=usable // size, offset=offset).astype(
                    np.float64
                )
            if _float_run(values):
                return (
                    f"{TEMPLATE_LENGTH} consecutive {np.dtype(dtype).name} values shaped like a face encoding"
                )
    return None


def _sqlite_cells(path: Path) -> Iterable[tuple[str, bytes]]:
    """Every text or blob cell of the database, read as SQLite sees it (WAL included)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error:
        return
    try:
        tables = [row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in connection.execute(
                f'SELECT * FROM "{table}"'
            ):  # table names come from the file itself
                for cell in row:
                    if isinstance(cell, str):
                        yield table, cell.encode("utf-8")
                    elif isinstance(cell, bytes):
                        yield table, cell
    except sqlite3.Error:
        return
    finally:
        connection.close()


def findings_in_file(path: Path) -> list[Finding]:
    """Biometric data in one file, whatever its name says it is."""
    found: list[Finding] = []
    if path.suffix.lower() in ARRAY_SUFFIXES:
        found.append(Finding(path, f"array file ({path.suffix})"))
    data = path.read_bytes()
    if _JSON_VECTOR.search(data):
        found.append(Finding(path, "a list of 64 or more numbers (a face encoding as text)"))
    else:
        binary = _binary_template(data)
        if binary:
            found.append(Finding(path, binary))
    if data.startswith(_SQLITE_HEADER):
        for table, cell in _sqlite_cells(path):
            if _JSON_VECTOR.search(cell) or _binary_template(cell):
                found.append(Finding(path, f"a face encoding in table {table!r}"))
                break
    return found


def biometric_findings(
    root: Path, *, capture_dirs: Sequence[Path] = (), stand_in_media: Sequence[Path] = ()
) -> list[Finding]:
    """Every face template and every image or video under ``root`` outside the capture folders.

    ``capture_dirs`` hold the consented captures (and their quarantine), which are the
    product, not identification data. ``stand_in_media`` are the demo camera's own
    input files (a public-domain portrait rendered as a clip), named one by one.
    """
    found: list[Finding] = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        if _within(path, capture_dirs):
            continue
        if path.suffix.lower() in IMAGE_OR_VIDEO_SUFFIXES:
            if path.resolve() not in {media.resolve() for media in stand_in_media}:
                found.append(Finding(path, "an image or video outside the capture folders"))
            continue
        found.extend(findings_in_file(path))
    return found


def demo_leftovers(out_dir: Path) -> list[Finding]:
    """Biometric data left by a demo run in ``out_dir`` or in the user's data, cache and state folders.

    The captures are the product and are allowed in the capture folder; the stand-in
    camera's clip (a public-domain portrait) is its input. The user folders are the
    test's own (tests/conftest.py isolates them).
    """
    roots = [
        out_dir,
        *(Path(os.environ[name]) for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")),
    ]
    return [
        finding
        for root in roots
        if root.exists()
        for finding in biometric_findings(
            root, capture_dirs=[out_dir / "captures"], stand_in_media=[out_dir / "stand-in" / "performer.avi"]
        )
    ]
