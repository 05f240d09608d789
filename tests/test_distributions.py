"""Distributions by role: the core commands run without the extras, and ``[dev]`` installs them all.

The core commands are run in a child process in which every module of the extras (Qt, dlib,
OpenCV, numpy, FastAPI, ...) fails to import, as on a machine with ``pip install scangate``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli.extras import EXTRA_OF_MODULE
from agent.records.keys import public_key_pem
from agent.records.log import RecordLog
from agent.signing import Signer
from tests.conftest import REPO_ROOT
from tests.records.factories import captured_draft, refused_draft

PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
BLOCKER = """
import importlib.abc, os, sys
BLOCKED = set(sys.argv[1].split(","))
NATIVE = os.environ.get("BLOCK_AS_MISSING_LIBRARY")
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            if NATIVE:  # what the dynamic loader says when an extension's library is absent
                raise ImportError(f"{NATIVE}: cannot open shared object file: No such file or directory", name=name)
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Block())
from agent.cli.main import main
status = main(sys.argv[2:])
print("LOADED:", sorted({m.split(".")[0] for m in sys.modules} & BLOCKED))
sys.exit(status)
"""


def _without(
    modules: set[str], *args: str, missing_library: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``scangate ARGS`` where ``modules`` are not installed, or (``missing_library``) are
    installed but cannot load that system library."""
    env = dict(os.environ)
    env.pop("BLOCK_AS_MISSING_LIBRARY", None)
    if missing_library:
        env["BLOCK_AS_MISSING_LIBRARY"] = missing_library
    return subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(sorted(modules)), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _requirement_names(requirements: list[str]) -> set[str]:
    return {
        req.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for req in requirements
    }


def _closure(extra: str) -> set[str]:
    """Every requirement ``scangate[extra]`` pulls in, following self-references."""
    names: set[str] = set()
    for requirement in PYPROJECT["optional-dependencies"][extra]:
        if requirement.startswith("scangate["):
            for inner in requirement.split("[")[1].rstrip("]").split(","):
                names |= _closure(inner.strip())
        else:
            names |= _requirement_names([requirement])
    return names


def test_dev_installs_every_extra_and_the_core_carries_none() -> None:
    extras = set(PYPROJECT["optional-dependencies"]) - {"dev"}
    everything = set().union(*(_closure(extra) for extra in extras))
    assert everything <= _closure("dev")
    core = _requirement_names(PYPROJECT["dependencies"])
    heavy = {"pyqt6", "dlib-bin", "opencv-python-headless", "numpy", "fastapi", "sqlalchemy", "scikit-image"}
    assert core & heavy == set()
    assert heavy <= everything


def test_core_commands_run_without_any_extra(tmp_path: Path) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    log = tmp_path / "sessions.jsonl"
    with RecordLog.open(log, signer, "rig-7") as records:
        records.append(captured_draft(0))
        records.append(refused_draft(1))
    key = tmp_path / "rig-public.pem"
    key.write_text(public_key_pem(signer.public_key), encoding="ascii")
    image = tmp_path / "scan.png"
    image.write_bytes(
        bytes.fromhex("89504e470d0a1a0a")
    )  # not a scan with credentials: a problem, not a crash
    blocked = set(EXTRA_OF_MODULE)

    for args, expected in [
        (["verify", str(log), "--key", str(key)], 0),
        (["receipt", str(log), "--key", str(key), "--png", str(tmp_path / "qr.png")], 0),
        (["check-config"], 0),
        (["provenance", str(image)], 1),
    ]:
        result = _without(blocked, *args)
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == expected, f"{args}: {result.stdout}{result.stderr}"
        assert "LOADED: []" in result.stdout
    assert (tmp_path / "qr.png").stat().st_size > 0


def test_a_command_whose_extra_is_missing_names_the_extra(tmp_path: Path) -> None:
    result = _without({"PyQt6"}, "review", str(tmp_path / "none.jsonl"))
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert "needs PyQt6, which is not installed here (ScanGate's 'rig' extra)" in result.stderr
    assert "pip install 'scangate[rig]'" in result.stderr

    result = _without({"sqlalchemy"}, "registry", "init")
    assert result.returncode == 2, result.stderr
    assert "pip install 'scangate[registry]'" in result.stderr

    result = _without({"cv2"}, "demo", "--headless", "--out", str(tmp_path / "demo"))
    assert result.returncode == 2, result.stderr
    assert "pip install 'scangate[demo]'" in result.stderr


def test_a_missing_system_library_is_named_not_blamed_on_scangate(tmp_path: Path) -> None:
    """A native module that cannot load a library: the advice is that library, not an update."""
    for args in (("demo", "--headless", "--out", str(tmp_path / "demo")), ("registry", "init")):
        result = _without({"cv2", "sqlalchemy"}, *args, missing_library="libGL.so.1")
        assert "Traceback" not in result.stderr, result.stderr
        assert result.returncode == 2, f"{args}: {result.stderr}"
        assert "cannot load the system library libGL.so.1, which is not installed here" in result.stderr
        assert "apt-file search libGL.so.1" in result.stderr
        for wrong in ("update ScanGate", "reinstall", "bug"):
            assert wrong not in result.stderr, result.stderr
