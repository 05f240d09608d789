"""``identify_many``: forked workers share the models loaded once, the roster loads while they work."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from agent.faces import engine as engine_module
from agent.faces.analysis import FaceAnalyser
from agent.faces.batch import default_jobs, identify_many, usable_cpus
from agent.faces.imaging import RGBImage
from agent.faces.roster import Performer, Roster, Template
from agent.faces.settings import IdentificationSettings
from tests.faces.conftest import warp, write_video


@pytest.fixture
def roster(analyser: FaceAnalyser, astronaut: RGBImage) -> Roster:
    encoding = analyser.observe(astronaut).encoding
    assert encoding is not None
    return Roster([Performer("P-7", "Eileen", (Template("t-1", 1, encoding),))])


def _lines(outcomes: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in item.line.items() if k != "timings_ms"} for item in outcomes]


def test_jobs_default_to_the_usable_cpus_but_never_more_than_the_inputs() -> None:
    assert default_jobs(1) == 1
    assert default_jobs(1000) == usable_cpus()


def test_forked_workers_use_the_models_this_process_loaded_once(
    settings: IdentificationSettings, roster: Roster, astronaut_files: dict[str, Path]
) -> None:
    inputs = [astronaut_files[k] for k in ("probe", "coffee", "probe", "chelsea")]
    real_init = engine_module.FaceEngine.__init__
    loaded: list[int] = []

    def counting_init(self: Any, **kwargs: Any) -> None:
        loaded.append(1)
        real_init(self, **kwargs)

    with mock.patch.object(engine_module.FaceEngine, "__init__", counting_init):
        forked = _lines(identify_many(settings, roster, inputs, jobs=2, sample_fps=5, start_method="fork"))
    assert len(loaded) == 1  # here, once; the two workers loaded nothing
    assert forked == _lines(identify_many(settings, roster, inputs, jobs=1, sample_fps=5))
    assert [line["decision"] for line in forked] == ["match", "no_face", "match", "no_face"]


def test_the_roster_is_loaded_once_while_the_workers_already_work(
    settings: IdentificationSettings, roster: Roster, astronaut_files: dict[str, Path]
) -> None:
    workers_at_load: list[int] = []

    def load_roster() -> Roster:
        workers_at_load.append(len(multiprocessing.active_children()))
        return roster

    inputs = [astronaut_files["probe"]] * 3
    lines = _lines(identify_many(settings, load_roster, inputs, jobs=2, sample_fps=5, start_method="fork"))
    assert workers_at_load == [2]
    assert [line["performer_id"] for line in lines] == ["P-7"] * 3


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_a_video_among_photos_is_identified_with_the_roster_in_a_worker(
    settings: IdentificationSettings,
    roster: Roster,
    astronaut: RGBImage,
    astronaut_files: dict[str, Path],
    tmp_path: Path,
    start_method: str,
) -> None:
    video = write_video(
        tmp_path / "clip.avi", [warp(astronaut, dx=i, dy=0, scale=1.0) for i in range(4)], fps=5
    )
    inputs = [astronaut_files["coffee"], video, astronaut_files["probe"]]
    parallel = _lines(
        identify_many(settings, roster, inputs, jobs=2, sample_fps=5, start_method=start_method)  # type: ignore[arg-type]
    )
    assert parallel == _lines(identify_many(settings, roster, inputs, jobs=1, sample_fps=5))
    assert [(line.get("kind"), line["decision"]) for line in parallel] == [
        ("image", "no_face"),
        ("video", "match"),
        ("image", "match"),
    ]
