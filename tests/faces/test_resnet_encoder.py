"""The numpy ResNet against dlib's own encoder, on aligned chips of real photos (../shared/faces).

Measured on this machine (2026-12-06, dlib-bin 20.0.1, numpy 2.4.6 with OpenBLAS 0.3.31): the
largest difference of one descriptor component was 5.4e-7 over the 601 faces HOG finds in the
set (4.2e-7 over the 35 of the default sample), the distances of every pair differed by at most
8.2e-7, and no pair's decision at ScanGate's match threshold (0.5) changed; the pair closest to
the threshold was 1.8e-5 from it. :data:`MAX_COMPONENT_DEVIATION` allows a little more than that.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

dlib = pytest.importorskip("dlib")
face_recognition_models = pytest.importorskip("face_recognition_models")

from agent.faces.engine import CHIP_PADDING, FaceEngine  # noqa: E402
from agent.faces.imaging import load_image  # noqa: E402
from agent.faces.resnet_encoder import BLAS_THREADS, NumpyFaceEncoder, _blas  # noqa: E402
from agent.faces.resnet_weights import convert  # noqa: E402
from agent.faces.settings import IdentificationSettings  # noqa: E402

MAX_COMPONENT_DEVIATION = 2e-6
"""Bound on |numpy - dlib| of any descriptor component (measured: 5.4e-7, see the docstring)."""

Chip = npt.NDArray[np.uint8]


@pytest.fixture(scope="module")
def models() -> tuple[Any, Any, Any]:
    """dlib's detector, 5-point predictor and encoder."""
    return (
        dlib.get_frontal_face_detector(),
        dlib.shape_predictor(face_recognition_models.pose_predictor_five_point_model_location()),
        dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location()),
    )


@pytest.fixture(scope="module")
def numpy_encoder() -> NumpyFaceEncoder:
    """The numpy encoder from a fresh conversion of the installed model file."""
    return NumpyFaceEncoder(convert(Path(face_recognition_models.face_recognition_model_location())))


def _photos(faces_dir: Path, *, sample: bool) -> Iterator[tuple[Path, int]]:
    """Photos with a face HOG finds (MANIFEST.tsv) and the upsampling that finds it."""
    with (faces_dir / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    seen: set[str] = set()
    for row in rows:
        upsample = (
            1 if (row["hog_faces_up1"] or "0") != "0" else 2 if (row["hog_faces_up2"] or "0") != "0" else 0
        )
        if not upsample:
            continue
        if sample:  # the first photo of each identity
            person = row["path"].split("/")[1] if row["path"].startswith("identities/") else ""
            if not person or person in seen:
                continue
            seen.add(person)
        yield faces_dir / row["path"], upsample


def _chips(faces_dir: Path, models: tuple[Any, Any, Any], *, sample: bool) -> list[Chip]:
    detector, predictor, _ = models
    chips = []
    for path, upsample in _photos(faces_dir, sample=sample):
        image = load_image(path)
        for rect in detector(image, upsample):
            shape = predictor(image, rect)
            chips.append(dlib.get_face_chip(image, shape, size=150, padding=CHIP_PADDING))
    return chips


def _compare(chips: list[Chip], models: tuple[Any, Any, Any], numpy_encoder: NumpyFaceEncoder) -> None:
    encoder = models[2]
    ours = np.vstack([numpy_encoder.descriptor(chip) for chip in chips])  # one chip at a time, as the engine
    theirs = np.array([np.asarray(encoder.compute_face_descriptor(chip)) for chip in chips])
    deviation = np.abs(ours - theirs).max()
    print(f"\n{len(chips)} chips: max |numpy - dlib| per component {deviation:.3g}")
    assert deviation < MAX_COMPONENT_DEVIATION
    threshold = IdentificationSettings().max_distance
    ours_d = np.linalg.norm(ours[:, None, :] - ours[None, :, :], axis=2)
    theirs_d = np.linalg.norm(theirs[:, None, :] - theirs[None, :, :], axis=2)
    closest = np.abs(theirs_d[np.triu_indices(len(chips), 1)] - threshold).min()
    print(
        f"pair distances differ by <= {np.abs(ours_d - theirs_d).max():.3g}; closest to {threshold}: {closest:.3g}"
    )
    assert np.array_equal(ours_d <= threshold, theirs_d <= threshold)


@pytest.mark.faces
def test_numpy_descriptors_are_dlibs_on_a_sample_of_the_face_set(
    faces_dir: Path, models: tuple[Any, Any, Any], numpy_encoder: NumpyFaceEncoder
) -> None:
    chips = _chips(faces_dir, models, sample=True)
    assert len(chips) >= 30
    _compare(chips, models, numpy_encoder)


@pytest.mark.faces
@pytest.mark.slow
def test_numpy_descriptors_are_dlibs_on_every_face_of_the_face_set(
    faces_dir: Path, models: tuple[Any, Any, Any], numpy_encoder: NumpyFaceEncoder
) -> None:
    chips = _chips(faces_dir, models, sample=False)
    assert len(chips) >= 500
    _compare(chips, models, numpy_encoder)


def test_the_chip_is_what_dlib_encodes_from_image_and_landmarks(
    astronaut: Chip, models: tuple[Any, Any, Any], numpy_encoder: NumpyFaceEncoder
) -> None:
    detector, predictor, encoder = models
    shape = predictor(astronaut, detector(astronaut, 1)[0])
    chip = dlib.get_face_chip(astronaut, shape, size=150, padding=CHIP_PADDING)
    whole = np.asarray(encoder.compute_face_descriptor(astronaut, shape))
    assert np.array_equal(whole, np.asarray(encoder.compute_face_descriptor(chip)))
    assert np.array_equal(whole, np.asarray(encoder.compute_face_descriptor(astronaut, shape, 1)))
    assert np.abs(numpy_encoder.descriptor(chip) - whole).max() < MAX_COMPONENT_DEVIATION


def test_one_chip_on_one_thread_is_reproducible_and_threads_or_batches_change_only_rounding(
    astronaut: Chip, numpy_encoder: NumpyFaceEncoder
) -> None:
    """Measured: two BLAS threads, or a batch of two chips, change the last bits (about 1e-8)
    because OpenBLAS then splits the products differently; the engine therefore encodes one
    chip at a time on one thread, which repeats bit for bit."""
    chip = np.ascontiguousarray(astronaut[100:250, 150:300])
    pinned = numpy_encoder.descriptor(chip)
    assert BLAS_THREADS == 1
    assert np.array_equal(numpy_encoder.descriptor(chip), pinned)
    batch = numpy_encoder.descriptors([chip, chip])
    assert np.abs(batch - pinned).max() < 1e-6
    with _blas.limit(limits=2, user_api="blas"):
        two_threads = numpy_encoder._forward(numpy_encoder._input([chip]))
    assert np.abs(two_threads - pinned).max() < 1e-6


def test_the_engine_encodes_with_numpy_and_jitters_with_dlib(engine: FaceEngine, astronaut: Chip) -> None:
    if engine.encoder_implementation != "numpy":
        pytest.skip("the face encoder's weights are not installed (python -m agent.faces.resnet_weights)")
    box = engine.detect(astronaut, upsample=1)[0].box
    fast = engine.encode(astronaut, box)
    numpy_encoder = engine._numpy_encoder
    engine._numpy_encoder = None
    try:
        slow = engine.encode(astronaut, box)
    finally:
        engine._numpy_encoder = numpy_encoder
    assert np.abs(fast - slow).max() < MAX_COMPONENT_DEVIATION
    jittered = engine.encode(astronaut, box, num_jitters=3)
    assert 0 < np.linalg.norm(jittered - slow) < 0.3  # dlib's random jitter, not the plain chip


def test_the_reference_implementation_can_be_chosen_in_the_settings(
    engine: FaceEngine, astronaut: Chip
) -> None:
    """``[identification] encoder = "dlib"`` re-checks with dlib's own encoder: the same descriptors."""
    from agent.faces.analysis import FaceAnalyser
    from agent.faces.settings import IdentificationSettings

    reference = FaceAnalyser(IdentificationSettings(encoder="dlib")).engine
    assert reference.encoder_implementation == "dlib"
    box = engine.detect(astronaut, upsample=1)[0].box
    assert (
        np.abs(reference.encode(astronaut, box) - engine.encode(astronaut, box)).max()
        < MAX_COMPONENT_DEVIATION
    )
