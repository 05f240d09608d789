"""A native module that cannot load its system library: the error names the library.

The face engine and the landmark model import native extensions (dlib, LiteRT); when the
dynamic loader cannot find a library they need, the advice must be to install that
library, not to reinstall ScanGate or its Python packages.
"""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from types import ModuleType

import pytest

from agent.errors import FaceEngineError
from agent.faces.engine import FaceEngine
from agent.liveness.errors import LandmarkModelError
from agent.liveness.landmarks import FaceLandmarker
from agent.system_libraries import missing_system_library_error

LOADER_MESSAGE = "libopenblas.so.0: cannot open shared object file: No such file or directory"


class _CannotLoad(importlib.abc.MetaPathFinder):
    """Imports of ``blocked`` fail as the dynamic loader makes them fail."""

    def __init__(self, blocked: str) -> None:
        self.blocked = blocked

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> None:
        if fullname.split(".", maxsplit=1)[0] == self.blocked:
            raise ImportError(LOADER_MESSAGE, name=fullname)


def cannot_load(monkeypatch: pytest.MonkeyPatch, blocked: str) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == blocked]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(sys, "meta_path", [_CannotLoad(blocked), *sys.meta_path])


def test_the_loader_message_names_the_library_and_other_failures_are_left_alone() -> None:
    error = missing_system_library_error(ImportError(LOADER_MESSAGE, name="dlib"))
    assert error is not None
    assert error.what == "dlib cannot load the system library libopenblas.so.0, which is not installed here"
    assert missing_system_library_error(ImportError("undefined symbol: cblas_dgemm", name="dlib")) is None


def test_the_face_engine_names_the_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    cannot_load(monkeypatch, "dlib")
    with pytest.raises(FaceEngineError) as raised:
        FaceEngine()
    assert "apt-file search libopenblas.so.0" in (raised.value.hint or "")


def test_the_landmark_model_names_the_missing_library(monkeypatch: pytest.MonkeyPatch) -> None:
    cannot_load(monkeypatch, "ai_edge_litert")
    with pytest.raises(LandmarkModelError) as raised:
        FaceLandmarker()
    assert "apt-file search libopenblas.so.0" in (raised.value.hint or "")
