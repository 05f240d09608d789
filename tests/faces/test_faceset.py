"""Identification on the real face set (../shared/faces or $SCANGATE_FACES_DIR).

Encodings of every identities photo are computed once per session; the accuracy
protocol is the one of docs/identification.md: two enrolment photos per person for
a seeded half of the people, every other photo probes the roster.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from agent.faces.analysis import FaceAnalyser, FaceObservation
from agent.faces.evaluation import evaluate, list_identities, make_split, observe_all
from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV
from agent.faces.settings import IdentificationSettings

pytestmark = pytest.mark.faces

DECISIONS = {"match", "unknown", "no_face", "multiple_faces", "low_quality", "error"}


@pytest.fixture(scope="session")
def identities(faces_dir: Path) -> dict[str, list[Path]]:
    return list_identities(faces_dir / "identities")


@pytest.fixture(scope="session")
def observations(identities: dict[str, list[Path]], analyser: FaceAnalyser) -> dict[Path, FaceObservation]:
    return observe_all(analyser, [p for photos in identities.values() for p in photos])


def test_default_settings_zero_false_accepts_and_90_percent_genuine(
    identities: dict[str, list[Path]],
    observations: dict[Path, FaceObservation],
    settings: IdentificationSettings,
) -> None:
    split = make_split(identities, observations, enrol_per_person=2, seed=0)
    assert len(split.enrolment) == len(identities) // 2
    result = evaluate(split, observations, settings)
    assert result.impostor_probes > 50 and result.genuine_detected > 40
    assert result.false_accepts == []
    assert result.genuine_accept_rate >= 0.90, (
        result.genuine_accepted,
        result.genuine_detected,
        result.refusals,
    )


def test_zero_false_accepts_over_twenty_splits(
    identities: dict[str, list[Path]],
    observations: dict[Path, FaceObservation],
    settings: IdentificationSettings,
) -> None:
    results = [
        evaluate(make_split(identities, observations, seed=seed), observations, settings)
        for seed in range(20)
    ]
    assert [len(r.false_accepts) for r in results] == [0] * 20
    mean_rate = sum(r.genuine_accept_rate for r in results) / len(results)
    assert mean_rate >= 0.90


def test_face_recognition_default_tolerance_gives_false_accepts(
    identities: dict[str, list[Path]],
    observations: dict[Path, FaceObservation],
    settings: IdentificationSettings,
) -> None:
    """Why the default is stricter than face_recognition's customary 0.6."""
    loose = settings.model_copy(update={"max_distance": 0.6, "min_margin": 0.0})
    false_accepts = sum(
        len(evaluate(make_split(identities, observations, seed=seed), observations, loose).false_accepts)
        for seed in range(20)
    )
    assert false_accepts > 0


def _identify_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, Any]]]:
    status = main(["identify", "--json", *args])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.out + captured.err
    lines = [json.loads(line) for line in captured.out.splitlines()]
    for line in lines:
        assert line["decision"] in DECISIONS
        assert {"input", "performer_id", "distance", "margin", "reason"} <= set(line)
        assert line["reason"]
    return status, lines


@pytest.fixture
def obama_store(
    faces_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A sealed store of three people; its passphrase exported as an operator would."""
    monkeypatch.setenv(DEFAULT_PASSPHRASE_ENV, "a passphrase for the face-set tests")
    store = tmp_path / "store"
    photos = [faces_dir / "identities" / "barack_obama" / name for name in ("1.jpg", "2.jpg")]
    assert main(["enrol", "--store", str(store), "--performer", "obama", *map(str, photos)]) == 0
    lacamoire = sorted((faces_dir / "identities" / "alex_lacamoire").iterdir())
    assert main(["enrol", "--store", str(store), "--performer", "lacamoire", *map(str, lacamoire)]) == 0
    miranda = faces_dir / "singles" / "lin_manuel_miranda.png"
    assert main(["enrol", "--store", str(store), "--performer", "miranda", str(miranda)]) == 0
    capsys.readouterr()
    return store


def test_every_hard_file_gets_a_decision_or_a_clear_error(
    faces_dir: Path, obama_store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = sorted(
        p for folder in ("noface", "multiface", "hard_cases") for p in (faces_dir / folder).iterdir()
    )
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((faces_dir / "hard_cases" / "obama_720p.jpg").read_bytes()[:30000])
    text = tmp_path / "text.jpg"
    text.write_text("plain text, renamed")
    bad = [truncated, text, tmp_path / "missing.jpg"]
    status, lines = _identify_json(["--store", str(obama_store), *map(str, files + bad)], capsys)
    assert status == 2
    by_name = {Path(line["input"]).relative_to(faces_dir).as_posix(): line for line in lines[: len(files)]}
    assert len(lines) == len(files) + len(bad)
    assert [line["decision"] for line in lines[len(files) :]] == ["error"] * 3
    assert all(line["decision"] != "error" for line in by_name.values())
    assert {k: v["decision"] for k, v in by_name.items() if k.startswith("multiface/")} == {
        k: "multiple_faces" for k in by_name if k.startswith("multiface/")
    }
    assert all(v["decision"] != "match" for k, v in by_name.items() if k.startswith("noface/"))
    for size in ("480p", "720p", "1080p"):
        line = by_name[f"hard_cases/obama_{size}.jpg"]
        assert (line["decision"], line["performer_id"]) == ("match", "obama"), line
    assert by_name["hard_cases/obama_240p.jpg"]["decision"] == "low_quality"
    assert by_name["hard_cases/inspireface_blur.jpg"]["decision"] == "low_quality"


def test_hamilton_clip_confirms_lin_manuel_miranda(
    faces_dir: Path, obama_store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clip = faces_dir / "video" / "short_hamilton_clip.mp4"
    status, (line,) = _identify_json(["--store", str(obama_store), str(clip)], capsys)
    assert status == 0
    assert line["kind"] == "video"
    assert (line["decision"], line["performer_id"]) == ("match", "miranda"), line
    assert line["distance"] <= IdentificationSettings().max_distance
    assert line["frame_decisions"]["match"] >= 3
