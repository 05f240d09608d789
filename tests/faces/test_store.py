"""TemplateStore: round trip, versions, atomic writes, clear errors for a corrupt file."""

from __future__ import annotations

import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from agent.errors import TemplateStoreError
from agent.faces.engine import ENCODING_SIZE, MODEL_NAME
from agent.faces.store import STORE_FILE_NAME, EnrolmentSample, TemplateStore

SHA = "ab" * 32


def sample(seed: int) -> EnrolmentSample:
    vector = np.random.default_rng(seed).normal(0, 0.1, ENCODING_SIZE)
    return EnrolmentSample(encoding=vector, source_sha256=SHA)


def test_round_trip_keeps_vectors_names_and_metadata(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path / "store")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    records = store.enrol("P-1", [sample(1), sample(2)], display_name="Ann Actor", now=when)
    assert [r.version for r in records] == [1, 2]
    roster = store.load_roster()
    performer = roster.get("P-1")
    assert performer is not None
    assert performer.display_name == "Ann Actor"
    assert [t.template_id for t in performer.templates] == [r.template_id for r in records]
    assert np.allclose(performer.templates[0].vector, sample(1).encoding)
    data = json.loads(store.path.read_text())
    assert data["model"] == MODEL_NAME
    stored = data["performers"][0]["templates"][0]
    assert stored["source_sha256"] == SHA
    assert stored["created_at"].startswith("2026-01-02T03:04:05")
    assert set(stored) == {"template_id", "version", "vector", "source_sha256", "created_at"}


def test_enrolling_again_appends_with_increasing_versions(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path)
    store.enrol("P-1", [sample(1)], display_name="Ann")
    store.enrol("P-2", [sample(5)])
    added = store.enrol("P-1", [sample(2), sample(3)])
    assert [r.version for r in added] == [2, 3]
    roster = store.load_roster()
    first = roster.get("P-1")
    assert first is not None
    assert [t.version for t in first.templates] == [1, 2, 3]
    assert first.display_name == "Ann"  # kept when no new name is given
    second = roster.get("P-2")
    assert second is not None and second.display_name == "P-2"  # defaults to the id
    store.enrol("P-1", [sample(4)], display_name="Ann B. Actor")
    renamed = store.load_roster().get("P-1")
    assert renamed is not None and renamed.display_name == "Ann B. Actor"


def test_store_file_is_private_and_no_temp_files_are_left(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path / "s")
    store.enrol("P-1", [sample(1)])
    store.enrol("P-1", [sample(2)])
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    leftovers = [
        p.name for p in (tmp_path / "s").iterdir() if p.name not in {STORE_FILE_NAME, "templates.json.lock"}
    ]
    assert leftovers == []


def test_failed_write_leaves_previous_store_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TemplateStore(tmp_path)
    store.enrol("P-1", [sample(1)])
    before = store.path.read_bytes()

    def refuse_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", refuse_replace)
    with pytest.raises(TemplateStoreError, match="cannot write the template store"):
        store.enrol("P-1", [sample(2)])
    monkeypatch.undo()
    assert store.path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".tmp"] == []


def test_missing_store_explains_how_to_enrol(tmp_path: Path) -> None:
    with pytest.raises(TemplateStoreError) as caught:
        TemplateStore(tmp_path / "nowhere").load_roster()
    assert "nobody enrolled yet" in caught.value.what
    assert caught.value.hint is not None and "scangate enrol" in caught.value.hint


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "scangate-template-store", "format_version": 1}', "invalid"),
        ("[]", "invalid"),
        (
            json.dumps(
                {
                    "format": "scangate-template-store",
                    "format_version": 1,
                    "model": "other-model",
                    "performers": [],
                }
            ),
            "encoder 'other-model'",
        ),
    ],
)
def test_corrupt_store_is_a_clear_error_and_left_untouched(
    tmp_path: Path, content: str, expected: str
) -> None:
    store = TemplateStore(tmp_path)
    store.path.write_text(content)
    with pytest.raises(TemplateStoreError, match=expected) as caught:
        store.load_roster()
    assert caught.value.where == str(store.path)
    with pytest.raises(TemplateStoreError):
        store.enrol("P-1", [sample(1)])
    assert store.path.read_text() == content


def test_short_vector_in_store_is_refused(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path)
    store.enrol("P-1", [sample(1)])
    data = json.loads(store.path.read_text())
    data["performers"][0]["templates"][0]["vector"] = [0.1] * 12
    store.path.write_text(json.dumps(data))
    with pytest.raises(TemplateStoreError, match="vector"):
        store.load_roster()


def test_bad_performer_id_and_empty_enrolment_are_refused(tmp_path: Path) -> None:
    store = TemplateStore(tmp_path)
    with pytest.raises(TemplateStoreError, match="cannot enrol"):
        store.enrol("../etc/passwd", [sample(1)])
    with pytest.raises(TemplateStoreError, match="nothing to enrol"):
        store.enrol("P-1", [])
    assert not store.exists()
