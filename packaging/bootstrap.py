#!/usr/bin/env python3
"""Set up ScanGate in a local virtual environment, then run it or its tests.

Usage (from the repository root, with only Python >= 3.11 and pip installed):

    python3 packaging/bootstrap.py demo [ARGS...]   # install, then `scangate demo ARGS`
    python3 packaging/bootstrap.py test [PYTEST ARGS...]  # install, lint, type-check, test
    python3 packaging/bootstrap.py scangate ARGS...  # install, then any scangate command

The environment lives in ``.venv`` (override with $SCANGATE_VENV). Installing is
skipped when pyproject.toml has not changed since the last successful install.

Why this script and not a bare ``pip install``: two packages must be installed
with ``--no-deps`` (:data:`NO_DEPS_PACKAGES`), after the ordinary install of
pyproject.toml, because their declared dependencies are wrong for us:

- face_recognition 1.3.0 declares a dependency on the source-only ``dlib``
  distribution (a long compile needing cmake); we take dlib from the ``dlib-bin``
  wheels, which pyproject.toml lists together with face_recognition's other needs.
- mediapipe 0.10.21 is the last release that ships the 468-point face landmark
  model file (``mediapipe/modules/face_landmark/face_landmark.tflite``, Apache-2.0)
  in its wheel. Its metadata pins ``numpy<2`` and ``protobuf<5`` and requires
  ``opencv-contrib-python`` (a second OpenCV next to opencv-python-headless), which
  we must not install. ScanGate never imports mediapipe: it only reads that model
  file (located with importlib.metadata) and runs it with ``ai-edge-litert``, an
  ordinary dependency in pyproject.toml. See docs/liveness-landmarks-study.md.
  ``pip check`` therefore reports mediapipe's unmet requirements; that is expected.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("SCANGATE_VENV", ROOT / ".venv"))
NO_DEPS_PACKAGES = ("face_recognition==1.3.0", "mediapipe==0.10.21")
"""Installed with ``pip --no-deps`` after pyproject.toml (why: see the module docstring)."""


def _venv_bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"+ {printable}", flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


def _install_fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for requirement in NO_DEPS_PACKAGES:
        digest.update(requirement.encode())
    return digest.hexdigest()


def ensure_environment() -> None:
    """Create the virtual environment and install ScanGate with its test tools."""
    if sys.version_info < (3, 11):  # noqa: UP036 - this script may be run by an older python3
        sys.exit(f"ScanGate needs Python >= 3.11; this is {sys.version.split()[0]}.")
    python = _venv_bin("python")
    if not python.exists():
        print(f"Creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".scangate-installed"
    fingerprint = _install_fingerprint()
    if stamp.exists() and stamp.read_text().strip() == fingerprint:
        return
    _run(python, "-m", "pip", "install", "--upgrade", "--quiet", "pip")
    _run(python, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
    _run(python, "-m", "pip", "install", "--quiet", "--no-deps", *NO_DEPS_PACKAGES)
    stamp.write_text(fingerprint)


def run_tests(pytest_args: list[str]) -> int:
    """Lint, type-check, check import rules, then run the test suite (slow tests excluded)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    steps: list[list[str | Path]] = [
        [_venv_bin("ruff"), "check", "agent", "gui", "registry", "tests", "packaging"],
        [_venv_bin("ruff"), "format", "--check", "agent", "gui", "registry", "tests", "packaging"],
        [_venv_bin("mypy")],
        [_venv_bin("lint-imports")],
    ]
    for step in steps:
        try:
            _run(*step, env=env)
        except subprocess.CalledProcessError as exc:
            return exc.returncode or 1
    args = pytest_args or ["-m", "not slow"]
    return subprocess.run(
        [str(_venv_bin("python")), "-m", "pytest", *args], check=False, cwd=ROOT, env=env
    ).returncode


def main(argv: list[str]) -> int:
    """Dispatch ``demo``, ``test`` or ``scangate`` after making sure the venv is ready."""
    if not argv or argv[0] not in {"demo", "test", "scangate"}:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        ensure_environment()
    except subprocess.CalledProcessError as exc:
        failed = " ".join(str(a) for a in exc.cmd)
        print(
            f"ScanGate set-up failed (exit status {exc.returncode}) while running:\n  {failed}\n"
            "Check the network connection or package index named above, then run the same"
            " command again; finished steps are not repeated.",
            file=sys.stderr,
        )
        return 1
    action, rest = argv[0], argv[1:]
    if action == "test":
        return run_tests(rest)
    command = [str(_venv_bin("scangate"))] + (["demo", *rest] if action == "demo" else rest)
    return subprocess.run(command, check=False, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
