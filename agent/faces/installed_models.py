"""Where installers put the model files they derive from installed packages, and how they write them.

Both derived files (dlib's serialised frontal detector, :mod:`agent.faces.frontal_detector`,
and the encoder's numpy weights, :mod:`agent.faces.resnet_weights`) live in
``share/scangate/models/`` under the installation's prefix, each beside a note saying what
it was made from. Readers trust a file only when its note matches, so the writers here make
sure no reader can see half a file, or a new note beside an old file.
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.durable import replace_file_atomically

MODEL_FILE_MODE = 0o644
"""Installed model files are no secret: whoever runs ScanGate from the installation reads them."""


def installed_models_dir() -> Path:
    """Where the installer put model files derived from installed packages."""
    prefix = Path(getattr(sys, "_MEIPASS", sys.prefix))  # a PyInstaller bundle's own folder
    return prefix / "share" / "scangate" / "models"


def write_with_note(folder: Path, name: str, data: bytes, note_name: str, note: bytes) -> Path:
    """Install ``data`` as ``folder / name`` with its note: the old note goes first and the new one
    comes last, each written whole beside its place and renamed, so a note is only ever beside
    the file it describes and no file is ever half written (an interrupted install leaves a
    file with no note, which readers do not use)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / note_name).unlink(missing_ok=True)
    replace_file_atomically(folder / name, data, MODEL_FILE_MODE)
    replace_file_atomically(folder / note_name, note, MODEL_FILE_MODE)
    return folder / name


__all__ = ["MODEL_FILE_MODE", "installed_models_dir", "write_with_note"]
