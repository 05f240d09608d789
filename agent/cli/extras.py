"""Which optional part of ScanGate (pip extra) provides a module a command needs.

ScanGate is one distribution with extras by role (pyproject.toml): the core (verify,
receipt, provenance, keys, check-config, outbox) needs none of them; ``faces`` adds dlib,
OpenCV and the face and landmark models; ``rig`` adds Qt and the gate hardware libraries;
``registry`` the registry service; ``demo`` the stand-in performer. A command that needs a
missing one says which extra to install instead of failing with a traceback.
"""

from __future__ import annotations

from agent.errors import ScanGateError
from agent.system_libraries import missing_system_library_error

EXTRA_OF_MODULE: dict[str, str] = {
    "dlib": "faces",
    "face_recognition": "faces",
    "face_recognition_models": "faces",
    "cv2": "faces",
    "numpy": "faces",
    "ai_edge_litert": "faces",
    "PyQt6": "rig",
    "reportlab": "rig",
    "serial": "rig",
    "zmq": "rig",
    "fastapi": "registry",
    "starlette": "registry",
    "uvicorn": "registry",
    "sqlalchemy": "registry",
    "psycopg": "registry",
    "skimage": "demo",
}
"""Top-level module → the extra that installs it."""


class MissingExtraError(ScanGateError):
    """A command needs an optional part of ScanGate that is not installed here."""


def missing_extra_error(
    exc: ModuleNotFoundError, command_extra: str | None = None
) -> MissingExtraError | None:
    """The error to show for a missing optional module, or None when it is not one of ours.

    ``command_extra`` names the extra the whole command needs (e.g. ``demo``), when that
    is wider than the one providing the missing module.
    """
    module = (exc.name or "").split(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    extra = command_extra or EXTRA_OF_MODULE[module]
    return MissingExtraError(
        f"this command needs {module}, which is not installed here (ScanGate's '{extra}' extra)",
        hint=f"install it with: pip install 'scangate[{extra}]' (the rig package and"
        " 'python3 packaging/bootstrap.py' install everything)",
    )


def import_failure_error(exc: ImportError, command_extra: str | None = None) -> ScanGateError | None:
    """The error to show when a module a command needs cannot be imported, or None when the
    failure is not one a user can fix by installing something (a broken install or a bug).

    A missing optional module names the extra to install (:func:`missing_extra_error`); a
    module whose native part cannot load a system library names that library
    (:func:`~agent.system_libraries.missing_system_library_error`): installing ScanGate again
    would not help.
    """
    if isinstance(exc, ModuleNotFoundError):
        return missing_extra_error(exc, command_extra)
    return missing_system_library_error(exc)
