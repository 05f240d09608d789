"""dlib's frontal face (HOG) detector, serialised once at install time instead of rebuilt at every start.

``dlib.get_frontal_face_detector()`` rebuilds the detector from a compressed string compiled
into dlib: 0.5-2 s of CPU on a rig's PC, paid by every process that detects faces before its
first frame or photo (the identification child, ``scangate identify`` before its workers
start, every rehearsal). Reading the same detector from its plain serialisation
(``fhog_object_detector.save``, 155 kB) takes a few milliseconds.

Nothing is copied into this repository: the installer makes the serialisation from the
installed dlib (``packaging/bootstrap.py`` into the virtual environment, the PyInstaller
spec into the bundle), as ``share/scangate/models/`` under the installation's prefix, with a
note of the dlib it came from and the file's SHA-256. It is used only when the installed
dlib is that one and the file's digest is the noted one; otherwise (a plain ``pip install``,
another dlib, a damaged file) dlib builds the detector as before, only slower. Nothing is
written at run time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from agent.faces.installed_models import installed_models_dir, write_with_note

log = logging.getLogger(__name__)

DETECTOR_FILE = "frontal_face_detector.svm"
NOTE_FILE = "frontal_face_detector.json"

__all__ = [
    "DETECTOR_FILE",
    "NOTE_FILE",
    "dlib_identity",
    "load_frontal_detector",
    "write_installed_detector",
]


def dlib_identity(dlib: Any) -> dict[str, object]:
    """Which dlib this is: its version and its native library's size (no hashing at start-up)."""
    native = sys.modules.get("_dlib_pybind11")
    where = getattr(native, "__file__", None)
    size = os.path.getsize(where) if where and os.path.exists(where) else None
    return {"dlib_version": getattr(dlib, "__version__", None), "native_library_bytes": size}


def write_installed_detector(dlib: Any, folder: Path | None = None) -> Path:
    """Serialise this dlib's frontal detector into ``folder`` (default :func:`installed_models_dir`),
    with its note (:func:`~agent.faces.installed_models.write_with_note`: never half a file, never
    a note beside another file)."""
    folder = folder if folder is not None else installed_models_dir()
    (data,) = dlib.get_frontal_face_detector().__getstate__()  # what pickling saves: the .svm bytes
    note = {**dlib_identity(dlib), "sha256": hashlib.sha256(data).hexdigest()}
    return write_with_note(
        folder, DETECTOR_FILE, data, NOTE_FILE, (json.dumps(note, sort_keys=True) + "\n").encode()
    )


def load_frontal_detector(dlib: Any, folder: Path | None = None) -> Any:
    """dlib's frontal face detector: the installed serialisation when it is this dlib's, else built."""
    data = _verified_serialisation(dlib, folder if folder is not None else installed_models_dir())
    if data is None:
        return dlib.get_frontal_face_detector()
    detector = dlib.fhog_object_detector.__new__(dlib.fhog_object_detector)
    detector.__setstate__((data,))  # what unpickling does, from the bytes verified above
    return detector


def _verified_serialisation(dlib: Any, folder: Path) -> bytes | None:
    """The installed detector's bytes, if they are this dlib's as noted at install time."""
    try:
        note = json.loads((folder / NOTE_FILE).read_text(encoding="utf-8"))
        data = (folder / DETECTOR_FILE).read_bytes()
    except FileNotFoundError:
        return None  # not installed by our installer: build it, as dlib always did
    except (OSError, ValueError) as exc:
        log.warning(
            "installed face detector in %s unreadable (%s): building it (slower start-up)", folder, exc
        )
        return None
    if not isinstance(note, dict) or {k: note.get(k) for k in ("dlib_version", "native_library_bytes")} != (
        dlib_identity(dlib)
    ):
        log.warning("installed face detector in %s is another dlib's: building it (slower start-up)", folder)
        return None
    if hashlib.sha256(data).hexdigest() != note.get("sha256"):
        log.warning("installed face detector in %s is damaged (digest differs): building it", folder)
        return None
    return data


def main() -> int:
    """``python -m agent.faces.frontal_detector [FOLDER]``: write the installed detector (installers)."""
    import dlib  # noqa: PLC0415  # only installers run this

    path = write_installed_detector(dlib, Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    print(f"frontal face detector of dlib {dlib.__version__} written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
