"""TemplateStore: round trip, versions, atomic writes, sealing at rest, clear errors for a bad file."""

from __future__ import annotations

import base64
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from agent.errors import TemplateStoreError
from agent.faces.engine import ENCODING_SIZE, MODEL_NAME
from agent.faces.sealing import passphrase_source, seal, unseal
from agent.faces.store import PLAIN_STORE_FILE_NAME, STORE_FILE_NAME, EnrolmentSample, TemplateStore

SHA = "ab" * 32
PASSPHRASE = "correct horse battery staple"


def opened(directory: Path, passphrase: str = PASSPHRASE) -> TemplateStore:
    """A template store in ``directory`` sealed under ``passphrase``."""
    return TemplateStore(directory, passphrase=lambda: passphrase)


def plaintext(store: TemplateStore) -> str:
    """The store file's content, unsealed."""
    return unseal(store.path.read_bytes(), PASSPHRASE, where="test").decode("utf-8")


def write_sealed(store: TemplateStore, content: str) -> None:
    store.path.parent.mkdir(parents=True, exist_ok=True)
    store.path.write_bytes(seal(content.encode("utf-8"), PASSPHRASE, where="test"))


def sample(seed: int) -> EnrolmentSample:
    vector = np.random.default_rng(seed).normal(0, 0.1, ENCODING_SIZE)
    return EnrolmentSample(encoding=vector, source_sha256=SHA)


def test_round_trip_keeps_vectors_names_and_metadata(tmp_path: Path) -> None:
    store = opened(tmp_path / "store")
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    records = store.enrol("P-1", [sample(1), sample(2)], display_name="Ann Actor", now=when)
    assert [r.version for r in records] == [1, 2]
    roster = store.load_roster()
    performer = roster.get("P-1")
    assert performer is not None
    assert performer.display_name == "Ann Actor"
    assert [t.template_id for t in performer.templates] == [r.template_id for r in records]
    assert np.allclose(performer.templates[0].vector, sample(1).encoding)
    data = json.loads(plaintext(store))
    assert data["model"] == MODEL_NAME
    stored = data["performers"][0]["templates"][0]
    assert stored["source_sha256"] == SHA
    assert stored["created_at"].startswith("2026-01-02T03:04:05")
    assert set(stored) == {"template_id", "version", "vector", "source_sha256", "created_at"}


def test_enrolling_again_appends_with_increasing_versions(tmp_path: Path) -> None:
    store = opened(tmp_path)
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
    store = opened(tmp_path / "s")
    store.enrol("P-1", [sample(1)])
    store.enrol("P-1", [sample(2)])
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    leftovers = [
        p.name for p in (tmp_path / "s").iterdir() if p.name not in {STORE_FILE_NAME, "templates.json.lock"}
    ]
    assert leftovers == []


def test_failed_write_leaves_previous_store_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = opened(tmp_path)
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
        opened(tmp_path / "nowhere").load_roster()
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
    store = opened(tmp_path)
    write_sealed(store, content)
    before = store.path.read_bytes()
    with pytest.raises(TemplateStoreError, match=expected) as caught:
        store.load_roster()
    assert caught.value.where == str(store.path)
    with pytest.raises(TemplateStoreError):
        store.enrol("P-1", [sample(1)])
    assert store.path.read_bytes() == before


def test_short_vector_in_store_is_refused(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.enrol("P-1", [sample(1)])
    data = json.loads(plaintext(store))
    data["performers"][0]["templates"][0]["vector"] = [0.1] * 12
    write_sealed(store, json.dumps(data))
    with pytest.raises(TemplateStoreError, match="vector"):
        store.load_roster()


def test_bad_performer_id_and_empty_enrolment_are_refused(tmp_path: Path) -> None:
    store = opened(tmp_path)
    with pytest.raises(TemplateStoreError, match="cannot enrol"):
        store.enrol("../etc/passwd", [sample(1)])
    with pytest.raises(TemplateStoreError, match="nothing to enrol"):
        store.enrol("P-1", [])
    assert not store.exists()


def test_templates_at_rest_are_sealed_not_readable(tmp_path: Path) -> None:
    store = opened(tmp_path)
    store.enrol("P-1", [sample(1)], display_name="Ann Actor")
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"Ann Actor" not in on_disk and b"P-1" not in on_disk
    assert f"{sample(1).encoding[0]:.6f}"[:8].encode() not in on_disk
    envelope = json.loads(store.path.read_text())
    assert envelope["cipher"] == "AES-256-GCM" and envelope["kdf"] == "scrypt"
    assert set(envelope) >= {"salt", "nonce", "ciphertext"} and "performers" not in envelope


def test_a_wrong_passphrase_is_a_clear_error_and_writes_nothing(tmp_path: Path) -> None:
    opened(tmp_path).enrol("P-1", [sample(1)])
    before = (tmp_path / STORE_FILE_NAME).read_bytes()
    intruder = opened(tmp_path, "not the right passphrase")
    with pytest.raises(TemplateStoreError, match="passphrase is wrong or the file was altered") as caught:
        intruder.load_roster()
    assert caught.value.hint is not None and "passphrase_env" in caught.value.hint
    with pytest.raises(TemplateStoreError, match="passphrase is wrong"):
        intruder.enrol("P-2", [sample(2)])
    assert (tmp_path / STORE_FILE_NAME).read_bytes() == before


@pytest.mark.parametrize("field", ["ciphertext", "nonce", "salt", "scrypt_r"])
def test_an_altered_store_file_is_refused(tmp_path: Path, field: str) -> None:
    store = opened(tmp_path)
    store.enrol("P-1", [sample(1)])
    envelope = json.loads(store.path.read_text())
    if field == "scrypt_r":
        envelope[field] = envelope[field] + 1
    else:
        raw = bytearray(base64.b64decode(envelope[field]))
        raw[0] ^= 0x01
        envelope[field] = base64.b64encode(bytes(raw)).decode()
    store.path.write_text(json.dumps(envelope))
    with pytest.raises(TemplateStoreError, match="wrong or the file was altered"):
        store.load_roster()


def test_a_store_left_in_the_clear_is_refused_not_read(tmp_path: Path) -> None:
    (tmp_path / PLAIN_STORE_FILE_NAME).write_text('{"format": "scangate-template-store"}')
    with pytest.raises(TemplateStoreError, match="in the clear") as caught:
        opened(tmp_path).load_roster()
    assert caught.value.hint is not None and "enrol the performers again" in caught.value.hint


def test_a_short_passphrase_is_refused_and_no_passphrase_explains_where_to_put_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(TemplateStoreError, match="too short"):
        opened(tmp_path, "short").enrol("P-1", [sample(1)])
    monkeypatch.delenv("SCANGATE_TEST_NO_SUCH_PASSPHRASE", raising=False)
    store = TemplateStore(tmp_path, passphrase=passphrase_source("SCANGATE_TEST_NO_SUCH_PASSPHRASE"))
    with pytest.raises(TemplateStoreError, match="no passphrase was given") as caught:
        store.enrol("P-1", [sample(1)])
    assert caught.value.where == "environment variable SCANGATE_TEST_NO_SUCH_PASSPHRASE"
    assert not store.exists()
