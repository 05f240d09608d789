"""The face encoder's weights as numpy arrays, converted once at install time from the installed ``.dat``.

:class:`~agent.faces.resnet_encoder.NumpyFaceEncoder` needs dlib's ResNet weights as numpy
arrays. Nothing is copied into this repository: the installer converts the ``.dat`` file of
the installed ``face_recognition_models`` (``packaging/bootstrap.py`` into the virtual
environment, the PyInstaller spec into the bundle) into ``share/scangate/models/`` under the
installation's prefix (:func:`~agent.faces.installed_models.installed_models_dir`), as
``face_resnet_v1.npz`` with a note recording the source file's size and SHA-256 and the
``.npz``'s SHA-256 (:func:`~agent.faces.installed_models.write_with_note`).

At run time the weights are used only when the note names the very ``.dat`` the engine is
given (size and digest) and the ``.npz`` has the noted digest; otherwise (a plain ``pip
install``, another model file, a damaged or altered conversion) the engine uses dlib's own
encoder, which gives the same descriptors, only slower. Nothing is written at run time.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import sys
from pathlib import Path

import numpy as np

from agent.errors import FaceEngineError
from agent.faces.installed_models import installed_models_dir, write_with_note
from agent.faces.resnet_dat import Weights, parse_resnet_dat
from agent.faces.resnet_encoder import NumpyFaceEncoder

log = logging.getLogger(__name__)

WEIGHTS_FILE = "face_resnet_v1.npz"
NOTE_FILE = "face_resnet_v1.json"
FORMAT = 1
"""Version of the ``.npz`` layout (the names of :func:`~agent.faces.resnet_dat.parse_resnet_dat`)."""


def source_identity(dat: Path) -> dict[str, object]:
    """The model file the weights come from: its name, size and SHA-256."""
    data = dat.read_bytes()
    return {
        "source_file": dat.name,
        "source_bytes": len(data),
        "source_sha256": hashlib.sha256(data).hexdigest(),
    }


def convert(dat: Path) -> Weights:
    """The weights in ``dat`` (dlib's face recognition ResNet v1).

    Raises:
        FaceEngineError: when ``dat`` is unreadable, truncated or another network.
    """
    try:
        data = dat.read_bytes()
    except OSError as exc:
        raise FaceEngineError(
            f"cannot read the face recognition model ({exc.strerror})", where=str(dat)
        ) from None
    return parse_resnet_dat(data, where=str(dat))


def write_installed_weights(dat: Path, folder: Path | None = None) -> Path:
    """Convert ``dat`` into ``folder`` (default :func:`installed_models_dir`) with its note."""
    folder = folder if folder is not None else installed_models_dir()
    weights = convert(dat)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **weights)
    data = buffer.getvalue()
    note = {**source_identity(dat), "format": FORMAT, "sha256": hashlib.sha256(data).hexdigest()}
    return write_with_note(
        folder, WEIGHTS_FILE, data, NOTE_FILE, (json.dumps(note, sort_keys=True) + "\n").encode()
    )


def load_installed_encoder(dat: Path, folder: Path | None = None) -> NumpyFaceEncoder | None:
    """The numpy encoder from the installed weights if they are ``dat``'s, as noted; else None."""
    folder = folder if folder is not None else installed_models_dir()
    weights = _verified_weights(dat, folder)
    if weights is None:
        return None
    # Any fault here is safe to fall back from: dlib's encoder gives the same vectors.
    try:
        return NumpyFaceEncoder(weights)
    except Exception as exc:
        log.warning("installed face encoder weights in %s unusable (%s): using dlib's encoder", folder, exc)
        return None


def _verified_weights(dat: Path, folder: Path) -> Weights | None:
    """The installed weights, if they were converted from ``dat`` and are as noted."""
    try:
        note = json.loads((folder / NOTE_FILE).read_text(encoding="utf-8"))
        data = (folder / WEIGHTS_FILE).read_bytes()
    except FileNotFoundError:
        log.info("no installed face encoder weights in %s: using dlib's encoder (slower)", folder)
        return None
    except (OSError, ValueError) as exc:
        log.warning("installed face encoder weights in %s unreadable (%s): using dlib's encoder", folder, exc)
        return None
    try:
        source = source_identity(dat)
    except OSError:
        return None  # dlib will report the missing model file itself
    if (
        not isinstance(note, dict)
        or note.get("format") != FORMAT
        or any(note.get(k) != v for k, v in source.items())
    ):
        log.warning("installed face encoder weights in %s are another model's: using dlib's encoder", folder)
        return None
    if hashlib.sha256(data).hexdigest() != note.get("sha256"):
        log.warning(
            "installed face encoder weights in %s are damaged (digest differs): using dlib's encoder", folder
        )
        return None
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def main() -> int:
    """``python -m agent.faces.resnet_weights [FOLDER]``: write the installed weights (installers)."""
    import face_recognition_models  # type: ignore[import-untyped]  # noqa: PLC0415  # installers only

    dat = Path(face_recognition_models.face_recognition_model_location())
    try:
        path = write_installed_weights(dat, Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    except FaceEngineError as exc:
        print(exc.message(), file=sys.stderr)
        return 2
    print(f"face encoder weights of {dat.name} written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
