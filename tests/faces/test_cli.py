"""``scangate enrol`` / ``scangate identify`` through agent.cli.main.main (no face set needed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.cli.main import main
from agent.faces.imaging import RGBImage
from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV, unseal
from agent.faces.store import STORE_FILE_NAME
from tests.faces.conftest import warp, write_video

PASSPHRASE = "a passphrase for the CLI tests"
DECISIONS = {"match", "unknown", "no_face", "multiple_faces", "low_quality", "error"}


def json_lines(text: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert {"input", "decision", "performer_id", "distance", "margin", "reason"} <= set(line)
        assert line["decision"] in DECISIONS
    return lines


@pytest.fixture(autouse=True)
def _store_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template store's passphrase, as an operator would export it."""
    monkeypatch.setenv(DEFAULT_PASSPHRASE_ENV, PASSPHRASE)


@pytest.fixture
def store(tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> Path:
    directory = tmp_path / "store"
    status = main(
        [
            "enrol",
            "--store",
            str(directory),
            "--performer",
            "P-7",
            "--name",
            "Eileen",
            str(astronaut_files["enrol"]),
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "template v1" in out and "enrolled P-7: 1 template(s)" in out
    return directory


def test_identify_json_lines_for_match_and_no_face(
    store: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = [astronaut_files["probe"], astronaut_files["coffee"], astronaut_files["chelsea"]]
    status = main(["identify", "--store", str(store), "--json", *map(str, inputs)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    lines = json_lines(captured.out)
    assert [line["input"] for line in lines] == [str(p) for p in inputs]
    assert [line["decision"] for line in lines] == ["match", "no_face", "no_face"]
    assert lines[0]["performer_id"] == "P-7" and lines[0]["display_name"] == "Eileen"
    assert 0 <= lines[0]["distance"] < 0.2 and lines[0]["margin"] is None  # one performer: no runner-up
    assert lines[0]["template_version"] == 1
    assert lines[1]["performer_id"] is None and lines[1]["distance"] is None


def test_bad_inputs_get_error_lines_and_exit_2(
    store: Path, astronaut_files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    whole = astronaut_files["probe"].read_bytes()
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(whole[: len(whole) // 2])
    missing = tmp_path / "missing.jpg"
    bad_video = tmp_path / "broken.mp4"
    bad_video.write_bytes(b"\x00" * 100)
    inputs = [text, astronaut_files["probe"], truncated, missing, bad_video]
    status = main(["identify", "--store", str(store), "--json", *map(str, inputs)])
    captured = capsys.readouterr()
    assert status == 2
    lines = json_lines(captured.out)
    assert [line["decision"] for line in lines] == ["error", "match", "error", "error", "error"]
    assert "not an image file" in lines[0]["reason"]
    assert "truncated" in lines[2]["reason"]
    assert "file not found" in lines[3]["reason"]
    assert "cannot open as a video" in lines[4]["reason"] or "no readable frames" in lines[4]["reason"]
    assert "4 of 5 input(s) could not be read" in captured.err
    assert "Traceback" not in captured.out + captured.err
    for line in (lines[0], lines[3]):
        assert "\n" not in line["reason"] and "hint" not in line["reason"], "the hint has its own member"
        assert line["input"] not in line["reason"], "the input is named once, in 'input'"
        assert line["hint"]
    assert lines[1]["hint"] is None


def test_worker_processes_give_the_same_lines_in_input_order(
    store: Path,
    astronaut_files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    missing = tmp_path / "missing.jpg"
    probe, coffee, chelsea = (astronaut_files[k] for k in ("probe", "coffee", "chelsea"))
    inputs = [coffee, probe, text, chelsea, probe, missing, coffee, probe]
    runs = {}
    for jobs in ("1", "2"):
        status = main(["identify", "--store", str(store), "--json", "--jobs", jobs, *map(str, inputs)])
        captured = capsys.readouterr()
        assert status == 2, captured.err  # two inputs cannot be read, whatever the jobs
        assert "2 of 8 input(s) could not be read" in captured.err
        runs[jobs] = [
            {k: v for k, v in line.items() if k != "timings_ms"} for line in json_lines(captured.out)
        ]
    assert [line["input"] for line in runs["2"]] == [str(p) for p in inputs]
    assert runs["2"] == runs["1"]
    assert "cannot start" not in caplog.text  # the workers did run
    assert [line["decision"] for line in runs["2"]] == [
        "no_face",
        "match",
        "error",
        "no_face",
        "match",
        "error",
        "no_face",
        "match",
    ]


def test_a_bad_input_is_named_once_and_its_hint_stands_on_its_own_line(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.jpg"
    assert main(["identify", "--store", str(store), str(missing)]) == 2
    out = capsys.readouterr().out
    assert out.count(str(missing)) == 1, out
    assert out.splitlines()[0] == f"{missing}: error: file not found"
    assert out.splitlines()[1].startswith("  hint: ")


def test_identify_video_input(
    store: Path, astronaut: RGBImage, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frames = [warp(astronaut, dx=i, dy=0, scale=1.0) for i in range(6)]
    video = write_video(tmp_path / "clip.avi", frames, fps=5)
    status = main(["identify", "--store", str(store), "--json", str(video)])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    (line,) = json_lines(captured.out)
    assert line["kind"] == "video"
    assert line["decision"] == "match" and line["performer_id"] == "P-7"
    assert line["frames_analysed"] == 6 and line["frame_decisions"] == {"match": 6}


def test_human_readable_output(
    store: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(
        ["identify", "--store", str(store), str(astronaut_files["probe"]), str(astronaut_files["coffee"])]
    )
    out = capsys.readouterr().out.splitlines()
    assert status == 0
    assert out[0].startswith(f"{astronaut_files['probe']}: match P-7 (Eileen), distance ")
    assert out[1] == f"{astronaut_files['coffee']}: no_face: no face found in the frame"


def test_enrol_is_all_or_nothing(
    tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = tmp_path / "store"
    status = main(
        [
            "enrol",
            "--store",
            str(directory),
            "--performer",
            "P-1",
            str(astronaut_files["enrol"]),
            str(astronaut_files["coffee"]),
            str(tmp_path / "gone.png"),
        ]
    )
    err = capsys.readouterr().err
    assert status == 2
    assert "2 of 3 photo(s) cannot be used, nothing was enrolled" in err
    assert "no_face" in err and "file not found" in err
    assert not (directory / "templates.json").exists()


def _folders(tmp_path: Path, photos: dict[str, list[Path]]) -> list[Path]:
    folders = []
    for performer, files in photos.items():
        folder = tmp_path / "people" / performer
        folder.mkdir(parents=True)
        for file in files:
            (folder / file.name).write_bytes(file.read_bytes())
        folders.append(folder)
    return folders


def test_enrol_folders_enrols_each_performer_in_one_call(
    tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folders = _folders(
        tmp_path,
        {"P-1": [astronaut_files["enrol"], astronaut_files["probe"]], "P-2": [astronaut_files["probe"]]},
    )
    (folders[0] / "notes.txt").write_text("not a photo: ignored")
    directory = tmp_path / "store"
    status = main(["enrol", "--store", str(directory), "--folders", *map(str, folders)])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "enrolled P-1: 2 template(s)" in out and "enrolled P-2: 1 template(s)" in out
    data = json.loads(unseal((directory / STORE_FILE_NAME).read_bytes(), PASSPHRASE, where="test"))
    assert {p["performer_id"]: [t["version"] for t in p["templates"]] for p in data["performers"]} == {
        "P-1": [1, 2],
        "P-2": [1],
    }


def test_enrol_folders_is_all_or_nothing_across_performers(
    tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folders = _folders(
        tmp_path, {"P-1": [astronaut_files["enrol"]], "P-2": [astronaut_files["coffee"]], "P-3": []}
    )
    directory = tmp_path / "store"
    status = main(["enrol", "--store", str(directory), "--folders", *map(str, folders)])
    err = capsys.readouterr().err
    assert status == 2
    assert "nothing was enrolled" in err and "no_face" in err and "P-3: no photos found" in err
    assert not (directory / STORE_FILE_NAME).exists()
    for extra in (["--performer", "P-9"], ["--name", "Somebody"]):
        assert main(["enrol", "--store", str(directory), "--folders", *extra, str(folders[0])]) == 2
        assert "not both" in capsys.readouterr().err
    assert not (directory / STORE_FILE_NAME).exists()


def test_enrol_twice_appends_versions(
    store: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["enrol", "--store", str(store), "--performer", "P-7", str(astronaut_files["probe"])])
    assert status == 0
    assert "template v2" in capsys.readouterr().out
    data = json.loads(unseal((store / STORE_FILE_NAME).read_bytes(), PASSPHRASE, where="test"))
    assert [t["version"] for t in data["performers"][0]["templates"]] == [1, 2]
    assert data["performers"][0]["display_name"] == "Eileen"


def test_usage_errors_exit_2(
    tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["enrol", "--store", str(tmp_path), str(astronaut_files["enrol"])]) == 2  # no --performer
    assert main(["identify", "--store", str(tmp_path)]) == 2  # no inputs
    assert (
        main(["identify", "--store", str(tmp_path / "empty"), str(astronaut_files["enrol"])]) == 2
    )  # no store
    err = capsys.readouterr().err
    assert "Missing option '--performer'" in err
    assert "nobody enrolled yet" in err


def test_corrupt_store_is_a_clear_error(
    tmp_path: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / STORE_FILE_NAME).write_text("{oops")
    assert main(["identify", "--store", str(tmp_path), "--json", str(astronaut_files["enrol"])]) == 2
    err = capsys.readouterr().err
    assert "not a sealed ScanGate store" in err and "Traceback" not in err


def test_config_settings_are_used(
    tmp_path: Path, store: Path, astronaut_files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "scangate.toml"
    config.write_text("[identification]\nmax_distance = 0.01\n")
    status = main(
        ["identify", "--config", str(config), "--store", str(store), "--json", str(astronaut_files["probe"])]
    )
    (line,) = json_lines(capsys.readouterr().out)
    assert status == 0
    assert line["decision"] == "unknown" and line["distance"] > 0.01


def test_enrolled_faces_are_encrypted_at_rest(
    store: Path,
    astronaut_files: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    on_disk = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert b"vector" not in on_disk and b"Eileen" not in on_disk and b"P-7" not in on_disk
    monkeypatch.setenv(DEFAULT_PASSPHRASE_ENV, "somebody else's passphrase")
    assert main(["identify", "--store", str(store), str(astronaut_files["probe"])]) == 2
    err = capsys.readouterr().err
    assert "passphrase is wrong or the file was altered" in err and "Traceback" not in err
