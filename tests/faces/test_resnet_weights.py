"""The face encoder's weights converted at install time: round trip, verified read, refusals."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

face_recognition_models = pytest.importorskip("face_recognition_models")

from agent.errors import FaceEngineError  # noqa: E402
from agent.faces import resnet_weights  # noqa: E402
from agent.faces.resnet_encoder import NumpyFaceEncoder  # noqa: E402

DAT = Path(face_recognition_models.face_recognition_model_location())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models folder as the installer writes it."""
    folder = tmp_path_factory.mktemp("models")
    resnet_weights.write_installed_weights(DAT, folder)
    return folder


@pytest.fixture
def copy_of(installed: Path, tmp_path: Path) -> Path:
    """A copy of the installed folder that a test may damage."""
    return Path(shutil.copytree(installed, tmp_path / "models"))


def _chip() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (150, 150, 3), dtype=np.uint8)


def test_round_trip_gives_the_encoder_of_the_converted_model(installed: Path) -> None:
    note = json.loads((installed / resnet_weights.NOTE_FILE).read_text(encoding="utf-8"))
    assert note["source_file"] == DAT.name and note["source_bytes"] == DAT.stat().st_size
    assert set(note) == {"format", "sha256", "source_bytes", "source_file", "source_sha256"}
    loaded = resnet_weights.load_installed_encoder(DAT, installed)
    assert loaded is not None
    direct = NumpyFaceEncoder(resnet_weights.convert(DAT))
    assert np.array_equal(loaded.descriptor(_chip()), direct.descriptor(_chip()))
    assert not list(installed.glob(".partial-*"))


def test_the_converted_input_means_are_dlibs() -> None:
    mean = resnet_weights.convert(DAT)["input.mean"]
    assert np.allclose(mean, [122.782, 117.001, 104.298], atol=1e-4)


def test_missing_weights_fall_back_to_dlib(tmp_path: Path) -> None:
    assert resnet_weights.load_installed_encoder(DAT, tmp_path / "nowhere") is None


def test_altered_weights_fall_back_to_dlib(copy_of: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = copy_of / resnet_weights.WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one weight
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        assert resnet_weights.load_installed_encoder(DAT, copy_of) is None
    assert "damaged" in caplog.text


def test_an_edited_note_falls_back_to_dlib(copy_of: Path) -> None:
    note_path = copy_of / resnet_weights.NOTE_FILE
    note = json.loads(note_path.read_text(encoding="utf-8"))
    note["format"] = 99
    note_path.write_text(json.dumps(note), encoding="utf-8")
    assert resnet_weights.load_installed_encoder(DAT, copy_of) is None
    note_path.write_text("{not json", encoding="utf-8")
    assert resnet_weights.load_installed_encoder(DAT, copy_of) is None


def test_weights_of_another_model_file_are_not_used(installed: Path, tmp_path: Path) -> None:
    other = tmp_path / DAT.name
    data = bytearray(DAT.read_bytes())
    data[-10] ^= 0x01  # same size and name, another file
    other.write_bytes(bytes(data))
    assert resnet_weights.load_installed_encoder(other, installed) is None


def test_conversion_refuses_a_truncated_file(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.dat"
    truncated.write_bytes(DAT.read_bytes()[: DAT.stat().st_size // 2])
    with pytest.raises(FaceEngineError, match="ends early"):
        resnet_weights.convert(truncated)


def test_conversion_refuses_trailing_bytes(tmp_path: Path) -> None:
    longer = tmp_path / "longer.dat"
    longer.write_bytes(DAT.read_bytes() + b"\x01\x01")
    with pytest.raises(FaceEngineError, match="follow the network"):
        resnet_weights.convert(longer)


def test_conversion_refuses_another_model(tmp_path: Path) -> None:
    predictor = Path(face_recognition_models.pose_predictor_five_point_model_location())
    with pytest.raises(FaceEngineError, match="not dlib's face recognition ResNet v1"):
        resnet_weights.convert(predictor)
    with pytest.raises(FaceEngineError, match="cannot read"):
        resnet_weights.convert(tmp_path / "absent.dat")


def test_incomplete_weights_are_refused() -> None:
    weights = resnet_weights.convert(DAT)
    del weights[next(name for name in weights if name.endswith(".gamma"))]
    with pytest.raises(FaceEngineError, match="incomplete"):
        NumpyFaceEncoder(weights)
