"""Where installers put the model files they derive from installed packages, and how they write them.

Both derived files (dlib's serialised frontal detector, :mod:`agent.faces.frontal_detector`,
and the encoder's numpy weights, :mod:`agent.faces.resnet_weights`) live in
``share/scangate/models/`` under the installation's prefix, each beside a note saying what
it was made from. Readers trust a file only when its note matches, so the writers here make
sure no reader can see half a file, or a new note beside an old file.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def installed_models_dir() -> Path:
    """Where the installer put model files derived from installed packages."""
    prefix = Path(getattr(sys, "_MEIPASS", sys.prefix))  # a PyInstaller bundle's own folder
    return prefix / "share" / "scangate" / "models"


def replace_file(folder: Path, name: str, data: bytes) -> None:
    """Make ``folder / name`` hold ``data``: written beside it and renamed over it, so that a reader
    sees the old file or the new one, never part of one (a failed write leaves no partial file)."""
    partial = folder / f".partial-{os.getpid()}-{name}"
    try:
        partial.write_bytes(data)
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)


def write_with_note(folder: Path, name: str, data: bytes, note_name: str, note: bytes) -> Path:
    """Install ``data`` as ``folder / name`` with its note: the old note goes first and the new one
    comes last, so a note is only ever beside the file it describes (an interrupted install
    leaves a file with no note, which readers do not use)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / note_name).unlink(missing_ok=True)
    replace_file(folder, name, data)
    replace_file(folder, note_name, note)
    return folder / name


__all__ = ["installed_models_dir", "replace_file", "write_with_note"]
