"""The rig bundle (``python3 packaging/build.py rig``) runs on its own: no .venv, no Python on PATH.

Marked ``slow``: building the bundle takes minutes on 2 cores (packaging/README.md), so it runs
deliberately (``pytest -m slow tests/test_bundle.py``), building ``dist/scangate-rig`` first
when it is absent (or using ``$SCANGATE_BUNDLE_DIR``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV as PASSPHRASE_ENV
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundle() -> Path:
    folder = Path(os.environ.get("SCANGATE_BUNDLE_DIR", REPO_ROOT / "dist" / "scangate-rig"))
    if not (folder / "scangate").exists():
        subprocess.run(
            [sys.executable, str(REPO_ROOT / "packaging" / "build.py"), "rig"], cwd=REPO_ROOT, check=True
        )
    return folder


def _run(bundle: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/usr/bin:/bin",  # no .venv, no python of the checkout
        "HOME": str(cwd / "home"),
        "LANG": "C.UTF-8",
        "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
        PASSPHRASE_ENV: "bundle-test-passphrase",  # the template store's passphrase
    }
    return subprocess.run(
        [str(bundle / "scangate"), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_the_bundle_rehearses_verifies_and_identifies(bundle: Path, tmp_path: Path, faces_dir: Path) -> None:
    out = tmp_path / "sg"
    started = time.monotonic()
    result = _run(bundle, tmp_path, "--version")
    assert result.returncode == 0, result.stderr
    print(f"bundle start-up (--version): {time.monotonic() - started:.2f} s")

    result = _run(bundle, tmp_path, "demo", "--headless", "--scenario", "confirm", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scenario confirm: as expected" in result.stdout

    result = _run(
        bundle, tmp_path, "verify", str(out / "sessions.jsonl"), "--key", str(out / "rig-public.pem")
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "VERDICT: INTACT" in result.stdout

    person = sorted(p for p in (faces_dir / "identities").iterdir() if p.is_dir())[0]
    photos = sorted(p for p in person.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    assert len(photos) >= 3, f"need three photos of {person.name}"
    store = tmp_path / "store"  # two photos enrolled, as the accuracy measurement does; the third probed
    enrolled = [str(photo) for photo in photos[:2]]
    result = _run(bundle, tmp_path, "enrol", "--store", str(store), "--performer", "p1", *enrolled)
    assert result.returncode == 0, result.stdout + result.stderr
    result = _run(bundle, tmp_path, "identify", "--store", str(store), "--json", str(photos[2]))
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout.splitlines()[0])
    assert answer["decision"] == "match" and answer["performer_id"] == "p1", answer
