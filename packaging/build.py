#!/usr/bin/env python3
"""Build ScanGate's installable artefacts from this checkout.

Usage (from the repository root, with only Python >= 3.11 and pip installed):

    python3 packaging/build.py rig       # PyInstaller one-folder bundle: dist/scangate-rig/scangate
    python3 packaging/build.py registry  # the registry service's bundle (no Qt, dlib, OpenCV): dist/scangate-registry/
    python3 packaging/build.py deb       # Debian packages of the bundles built: dist/scangate-rig_*.deb, ...
    python3 packaging/build.py prepare   # only set up .venv and PyInstaller (CI, before building beside the tests)

The build runs in the same environment as ``packaging/bootstrap.py`` (``.venv``, or
$SCANGATE_VENV), which it sets up first, plus PyInstaller. Nothing is downloaded when the
bundle runs: the face models, the landmark model and Qt's plugins are inside it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bootstrap  # the sibling script, found through the path set just above

ROOT = bootstrap.ROOT
DIST = ROOT / "dist"
PYINSTALLER_REQUIREMENT = "pyinstaller>=6.10,<7"
SPEC = ROOT / "packaging" / "pyinstaller" / "scangate.spec"


def _folder_size(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def prepare() -> Path:
    """Set up the environment (packaging/bootstrap.py) and PyInstaller in it; returns its python.

    Nothing is installed afterwards by :func:`build_bundle` then, so a build may run beside
    commands using the same environment (CI builds the bundle while the tests run).
    """
    bootstrap.ensure_environment()
    python = bootstrap._venv_bin("python")
    if subprocess.run([str(python), "-c", "import PyInstaller"], check=False, capture_output=True).returncode:
        bootstrap._run(python, "-m", "pip", "install", "--quiet", PYINSTALLER_REQUIREMENT)
    return python


def build_bundle(role: str) -> Path:
    """Build dist/scangate-<role>/ (``rig`` or ``registry``) with PyInstaller; returns the folder."""
    python = prepare()
    started = time.monotonic()
    bootstrap._run(
        python, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
        "--distpath", DIST, "--workpath", ROOT / "build" / f"pyinstaller-{role}", SPEC,
        env=dict(os.environ, SCANGATE_BUNDLE=role),
    )  # fmt: skip
    bundle = DIST / f"scangate-{role}"
    print(
        f"Built {bundle} in {time.monotonic() - started:.0f} s:"
        f" {_folder_size(bundle) / 1e6:.0f} MB; run {bundle / 'scangate'}",
        flush=True,
    )
    return bundle


def main(argv: list[str]) -> int:
    """Dispatch ``rig``, ``registry``, ``deb`` or ``prepare``."""
    if argv[:1] in (["rig"], ["registry"], ["prepare"]):
        try:
            if argv[0] == "prepare":
                prepare()
            else:
                build_bundle(argv[0])
        except subprocess.CalledProcessError as exc:
            print(
                f"The build failed (exit status {exc.returncode}); the output above says where.",
                file=sys.stderr,
            )
            return 1
        return 0
    if argv[:1] == ["deb"]:
        from debs import build_debs  # noqa: PLC0415 - only for this action

        return build_debs(DIST, shutil.which("dpkg-deb"))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
