"""dlib's frontal face detector as the installer serialised it: dlib's own, byte for byte, or not used at all."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

dlib = pytest.importorskip("dlib")

from agent.errors import InputError  # noqa: E402
from agent.faces import frontal_detector  # noqa: E402
from agent.faces.analysis import FaceAnalyser  # noqa: E402
from agent.faces.engine import FaceEngine  # noqa: E402
from agent.faces.imaging import load_image  # noqa: E402
from agent.faces.installed_models import installed_models_dir  # noqa: E402
from agent.faces.settings import IdentificationSettings  # noqa: E402


def _serialised(detector: Any) -> bytes:
    state = detector.__getstate__()
    assert isinstance(state, tuple) and len(state) == 1
    data = state[0]
    assert isinstance(data, bytes)
    return data


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """A models folder as the installer writes it."""
    frontal_detector.write_installed_detector(dlib, tmp_path / "models")
    return tmp_path / "models"


def test_the_installed_serialisation_is_dlibs_own_frontal_detector_byte_for_byte(installed: Path) -> None:
    assert (installed / frontal_detector.DETECTOR_FILE).read_bytes() == _serialised(
        dlib.get_frontal_face_detector()
    )
    note = json.loads((installed / frontal_detector.NOTE_FILE).read_text(encoding="utf-8"))
    assert note["dlib_version"] == dlib.__version__
    assert (
        note["sha256"]
        == hashlib.sha256((installed / frontal_detector.DETECTOR_FILE).read_bytes()).hexdigest()
    )


class _NoRebuild:
    """A dlib stand-in whose slow rebuild must not be called; the rest is the real dlib."""

    __version__ = dlib.__version__
    fhog_object_detector = dlib.fhog_object_detector

    def get_frontal_face_detector(self) -> Any:
        raise AssertionError("rebuilt the detector although the installed one is valid")


def test_a_valid_installed_detector_is_loaded_without_rebuilding_it_and_nothing_is_written(
    installed: Path,
) -> None:
    before = sorted((p.name, p.stat().st_mtime_ns) for p in installed.iterdir())
    detector = frontal_detector.load_frontal_detector(_NoRebuild(), installed)
    assert _serialised(detector) == _serialised(dlib.get_frontal_face_detector())
    assert sorted((p.name, p.stat().st_mtime_ns) for p in installed.iterdir()) == before


@pytest.mark.parametrize("damage", ["not installed", "altered", "other dlib", "unreadable note"])
def test_a_missing_altered_or_foreign_detector_falls_back_to_dlibs_own(
    damage: str, installed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    svm, note = installed / frontal_detector.DETECTOR_FILE, installed / frontal_detector.NOTE_FILE
    if damage == "not installed":
        svm.unlink()
        note.unlink()
    elif damage == "altered":
        data = bytearray(svm.read_bytes())
        data[len(data) // 2] ^= 0x01  # one weight changed: a different detector
        svm.write_bytes(bytes(data))
    elif damage == "other dlib":
        monkeypatch.setattr(_NoRebuild, "__version__", "0.0.0")
    else:
        note.write_text("{not json", encoding="utf-8")
    rebuilt: list[bool] = []

    class _Counting(_NoRebuild):
        def get_frontal_face_detector(self) -> Any:
            rebuilt.append(True)
            return dlib.get_frontal_face_detector()

    detector = frontal_detector.load_frontal_detector(_Counting(), installed)
    assert rebuilt == [True]
    assert _serialised(detector) == _serialised(dlib.get_frontal_face_detector())


def test_the_installer_puts_it_where_the_engine_reads_it() -> None:
    """bootstrap.py wrote it into this environment; the face engine reads it from there."""
    folder = installed_models_dir()
    if not (folder / frontal_detector.NOTE_FILE).exists():
        pytest.skip(f"not installed by packaging/bootstrap.py ({folder}): the engine builds the detector")
    assert frontal_detector.load_frontal_detector(_NoRebuild()) is not None


def test_the_face_engine_detects_with_dlibs_own_frontal_detector() -> None:
    engine: Any = FaceEngine()
    assert _serialised(engine._detector) == _serialised(dlib.get_frontal_face_detector())


@pytest.mark.faces
@pytest.mark.slow  # 30 s quiet; the byte-for-byte test above already shows the detector is dlib's own
def test_every_decision_on_the_hard_photos_is_that_of_dlibs_rebuilt_detector(
    faces_dir: Path, installed: Path
) -> None:
    """Observations with the installed detector equal those with dlib's rebuilt one, photo by photo."""
    settings = IdentificationSettings()
    installed_engine: Any = FaceEngine()
    installed_engine._detector = frontal_detector.load_frontal_detector(_NoRebuild(), installed)
    stored = FaceAnalyser(settings, engine=installed_engine)
    rebuilt_engine: Any = FaceEngine()
    rebuilt_engine._detector = dlib.get_frontal_face_detector()
    rebuilt = FaceAnalyser(settings, engine=rebuilt_engine)
    photos = sorted(
        p
        for folder in ("multiface", "hard_cases", "noface", "singles", "spoof/real", "spoof/fake")
        for p in (faces_dir / folder).iterdir()
        if p.is_file()
    )
    compared = 0
    for photo in photos:
        try:
            frame = load_image(photo)
        except InputError:
            continue  # damaged on purpose: no detector involved
        ours, theirs = stored.observe(frame), rebuilt.observe(frame)
        assert (ours.refusal, ours.reason, ours.box, ours.faces_found, ours.sharpness) == (
            theirs.refusal,
            theirs.reason,
            theirs.box,
            theirs.faces_found,
            theirs.sharpness,
        ), photo
        assert (ours.encoding is None and theirs.encoding is None) or (
            ours.encoding is not None
            and theirs.encoding is not None
            and bool((ours.encoding == theirs.encoding).all())
        ), photo
        compared += 1
    assert compared >= 60


def test_a_reinstall_on_a_full_disk_leaves_no_half_file_and_no_note_beside_another_file(
    small_disk: Path,
) -> None:
    """Re-installing over an earlier install with too little room: the earlier detector loses its
    note (so the engine no longer trusts it and builds its own), and nothing half written remains."""
    frontal_detector.write_installed_detector(dlib, small_disk)  # 155 kB of 256
    with pytest.raises(OSError, match="No space left on device"):
        frontal_detector.write_installed_detector(dlib, small_disk)
    assert sorted(p.name for p in small_disk.iterdir()) == [frontal_detector.DETECTOR_FILE]
    assert _serialised(frontal_detector.load_frontal_detector(dlib, small_disk)) == _serialised(
        dlib.get_frontal_face_detector()
    )
