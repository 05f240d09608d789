"""The biometric-data scanner finds templates in every form we know, and not sealed ones.

The scanner is what shows "nothing biometric on disk" after the demo and the
rehearsals, so it must itself be shown to find what it looks for.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from agent.faces.store import EnrolmentSample, TemplateStore
from tests.biometric_scan import biometric_findings


def _encoding(seed: int = 7) -> list[float]:
    return [float(v) for v in np.random.default_rng(seed).normal(0.0, 0.09, 128)]


def test_templates_as_json_raw_floats_and_database_rows_are_found(tmp_path: Path) -> None:
    (tmp_path / "templates.json").write_text(json.dumps({"P-1": [_encoding()]}), encoding="utf-8")
    (tmp_path / "encoding.f32").write_bytes(np.asarray(_encoding(8), dtype=np.float32).tobytes())
    (tmp_path / "encoding.f64").write_bytes(b"\x01\x02\x03" + np.asarray(_encoding(9)).tobytes())
    database = tmp_path / "store.sqlite3"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE t (id TEXT, encoding BLOB)")
        connection.execute("INSERT INTO t VALUES (?, ?)", ("a", np.asarray(_encoding(10)).tobytes()))
    (tmp_path / "frame.jpg").write_bytes(b"\xff\xd8\xff")
    found = {path.name for path in (f.path for f in biometric_findings(tmp_path))}
    assert found == {"templates.json", "encoding.f32", "encoding.f64", "store.sqlite3", "frame.jpg"}


def test_captures_stand_in_media_sealed_stores_and_ordinary_numbers_are_not_findings(tmp_path: Path) -> None:
    captures = tmp_path / "captures"
    captures.mkdir()
    (captures / "still-0001.png").write_bytes(b"\x89PNG")
    clip = tmp_path / "stand-in.avi"
    clip.write_bytes(b"RIFF")
    store = TemplateStore(tmp_path / "store", passphrase=lambda: "correct horse battery staple")
    store.enrol("P-1", [EnrolmentSample(np.asarray(_encoding()), "0" * 64)])
    (tmp_path / "log.jsonl").write_text(json.dumps({"distance": 0.31, "sequence": [1, 2, 3]}) + "\n")
    (tmp_path / "noise.bin").write_bytes(np.random.default_rng(1).bytes(64 * 1024))
    assert biometric_findings(tmp_path, capture_dirs=[captures], stand_in_media=[clip]) == []
