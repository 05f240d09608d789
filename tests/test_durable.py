"""The crash-safe file writing helpers shared by the log, the rig key and the template store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from agent.durable import replace_file_atomically


def test_replace_file_atomically_replaces_content_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "store.json"
    replace_file_atomically(target, b"first")
    replace_file_atomically(target, b"second")
    assert target.read_bytes() == b"second"
    assert [p.name for p in tmp_path.iterdir()] == ["store.json"]
    if os.name == "posix":
        assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_a_failed_replace_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "store.json"
    replace_file_atomically(target, b"old")
    with pytest.raises(TypeError):
        replace_file_atomically(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["store.json"]
