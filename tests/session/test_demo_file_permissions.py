"""After real rehearsal sessions, everything in the demo's folder that holds personal data or keys is owner-only.

The demo is what people try first, so it must be as private as a rig: the
registry database (consents, templates, signing key), the rig key, the session
log, the outbox, the open-session journal, captures and the offline copy are
files 0600 in folders 0700. Runs with the usual umask 022, set explicitly.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.demo import run_headless
from registry.demo.environment import DEMO_MARKER

pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")

# Files that hold neither personal data nor secrets: the rig's *public* key, the demo's
# note, its config (no token: that is in registry.token) and the stand-in clip (a
# public-domain NASA portrait, not a participant).
PUBLIC = {"rig-public.pem", DEMO_MARKER, "scangate.toml", "stand-in/performer.avi"}


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def too_open(root: Path) -> list[str]:
    """Every folder not 0700 and every non-public file not 0600 under ``root`` (and root itself)."""
    found = [] if stat.S_IMODE(root.stat().st_mode) == 0o700 else [f". {stat.S_IMODE(root.stat().st_mode):o}"]
    for path in sorted(root.rglob("*")):
        name = path.relative_to(root).as_posix()
        mode = stat.S_IMODE(path.lstat().st_mode)
        if path.is_dir():
            if mode != 0o700:
                found.append(f"{name}/ {mode:o}")
        elif name not in PUBLIC and not name.endswith(".lock") and mode != 0o600:
            found.append(f"{name} {mode:o}")
    return found


@pytest.mark.parametrize("scenario", ["confirm", "crash-after-capture", "fallback", "capture-out-of-scope"])
def test_demo_data_is_owner_only_after_a_session(scenario: str, tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    lines: list[str] = []
    assert run_headless(scenario, out_dir, echo=lines.append) == 0, "\n".join(lines)
    files = {p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*") if p.is_file()}
    assert {"sessions.jsonl", "outbox.sqlite3", "registry.sqlite3", "keys/rig-ed25519.pem"} <= files
    assert too_open(out_dir) == []


def test_lock_files_are_empty(tmp_path: Path) -> None:
    """Lock files are exempt above only because they hold nothing."""
    out_dir = tmp_path / "demo"
    assert run_headless("confirm", out_dir, echo=lambda _: None) == 0
    locks = list(out_dir.rglob("*.lock"))
    assert locks and all(lock.stat().st_size == 0 for lock in locks)
