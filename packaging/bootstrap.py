#!/usr/bin/env python3
"""Set up ScanGate in a local virtual environment, then run it or its tests.

Usage (from the repository root, with only Python >= 3.11 and pip installed):

    python3 packaging/bootstrap.py demo [ARGS...]   # install, then `scangate demo ARGS`
    python3 packaging/bootstrap.py test [PYTEST ARGS...]  # install, lint, type-check, test
    python3 packaging/bootstrap.py scangate ARGS...  # install, then any scangate command
    python3 packaging/bootstrap.py system-deps [--install-system-deps]  # check Qt's system libraries

Before a command that opens windows (``demo`` without ``--headless``, ``run``, ``review``)
on Linux, the system libraries Qt's X11 (xcb) platform plugin needs are checked; when any
is missing the exact ``apt-get install ...`` line is printed and nothing is started (Qt
would abort with a misleading hint). Given ``--install-system-deps`` (anywhere in the
arguments) as root on a machine with apt-get, they are installed instead.

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
import re
import shutil
import subprocess
import sys
import time
import venv
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("SCANGATE_VENV", ROOT / ".venv"))
NO_DEPS_PACKAGES = ("face_recognition==1.3.0", "mediapipe==0.10.21")
"""Installed with ``pip --no-deps`` after pyproject.toml (why: see the module docstring)."""


INSTALL_SYSTEM_DEPS_FLAG = "--install-system-deps"
QT_SYSTEM_LIBRARIES: dict[str, str] = {
    # soname -> the Debian/Ubuntu package that provides it. The xcb set is what PyQt6's
    # plugins/platforms/libqxcb.so links against (ldd); Qt aborts naming only
    # libxcb-cursor0 when any of them is missing.
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libGLdispatch.so.0": "libglvnd0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
"""System libraries the windows need, by soname, with the Debian package providing each."""
FONTS_PACKAGE = "fonts-dejavu-core"
"""Installed when fontconfig knows no font at all (Qt then draws no text)."""
_LDD_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def _venv_bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def _run(*args: str | Path, env: dict[str, str] | None = None) -> None:
    printable = " ".join(str(a) for a in args)
    print(f"+ {printable}", flush=True)
    subprocess.run([str(a) for a in args], check=True, cwd=ROOT, env=env)


INSTALLED_DETECTOR_NOTE = Path("share", "scangate", "models", "frontal_face_detector.json")
"""Written with the serialised face detector (agent/faces/frontal_detector.py), under the venv."""

INSTALLED_ENCODER_NOTE = Path("share", "scangate", "models", "face_resnet_v1.json")
"""Written with the face encoder's converted weights (agent/faces/resnet_weights.py), under the venv."""


MODEL_CONVERTERS = (
    Path("agent", "faces", "frontal_detector.py"),
    Path("agent", "faces", "installed_models.py"),
    Path("agent", "faces", "resnet_dat.py"),
    Path("agent", "faces", "resnet_weights.py"),
)
"""The code that makes the installed model files: a change to it makes them again."""


def _install_fingerprint() -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    for requirement in NO_DEPS_PACKAGES:
        digest.update(requirement.encode())
    for converter in MODEL_CONVERTERS:
        digest.update((ROOT / converter).read_bytes())
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
    if not (stamp.exists() and stamp.read_text().strip() == fingerprint):
        _run(python, "-m", "pip", "install", "--upgrade", "--quiet", "pip")
        _run(python, "-m", "pip", "install", "--quiet", "-e", ".[dev]")
        _run(python, "-m", "pip", "install", "--quiet", "--no-deps", *NO_DEPS_PACKAGES)
        # dlib, face_recognition_models or the converters may have changed: make the files again.
        (VENV / INSTALLED_DETECTOR_NOTE).unlink(missing_ok=True)
        (VENV / INSTALLED_ENCODER_NOTE).unlink(missing_ok=True)
        stamp.write_text(fingerprint)
    if not (VENV / INSTALLED_DETECTOR_NOTE).exists():
        # dlib's face detector, serialised once here instead of rebuilt by every process that
        # detects faces (agent/faces/frontal_detector.py); made from the installed dlib.
        _run(python, "-m", "agent.faces.frontal_detector")
    if not (VENV / INSTALLED_ENCODER_NOTE).exists():
        # The face encoder's weights as numpy arrays, converted from the installed model file, so
        # that numpy's BLAS runs the ResNet instead of dlib-bin's slower code (agent/faces/resnet_weights.py).
        _run(python, "-m", "agent.faces.resnet_weights")


def run_tests(pytest_args: list[str]) -> int:
    """Lint, type-check, check import rules, then run the test suite (slow tests excluded, all cores)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    steps: list[list[str | Path]] = [
        [_venv_bin("ruff"), "check", "agent", "gui", "registry", "tests", "packaging"],
        [_venv_bin("ruff"), "format", "--check", "agent", "gui", "registry", "tests", "packaging"],
        [_venv_bin("mypy")],
        [_venv_bin("lint-imports")],
    ]
    for step in steps:
        started = time.monotonic()
        try:
            _run(*step, env=env)
        except subprocess.CalledProcessError as exc:
            return exc.returncode or 1
        print(f"  ({Path(step[0]).name} took {time.monotonic() - started:.0f} s)", flush=True)
    # Every core: a worker per core plus one (tests/conftest.py), each test file on one worker
    # (its module fixtures load once);
    # the slowest tests are listed so that a CI run that grows shows where.
    args = pytest_args or ["-m", "not slow", "-n", "auto", "--dist", "loadfile", "--durations=25"]
    return subprocess.run(
        [str(_venv_bin("python")), "-m", "pytest", *args], check=False, cwd=ROOT, env=env
    ).returncode


def missing_sonames_from_ldd(ldd_output: str) -> set[str]:
    """The libraries ``ldd`` reported as ``not found``."""
    return set(_LDD_NOT_FOUND.findall(ldd_output))


def _qt_xcb_plugin() -> Path | None:
    """PyQt6's X11 platform plugin in the venv, if PyQt6 is installed there."""
    pattern = "lib/python3*/site-packages/PyQt6/Qt6/plugins/platforms/libqxcb.so"
    return next(iter(sorted(VENV.glob(pattern))), None)


def _known_sonames() -> set[str] | None:
    """Sonames in the dynamic linker's cache (``ldconfig -p``), or None when it cannot be read."""
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if ldconfig is None:
        return None
    result = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return None
    return {line.split()[0] for line in result.stdout.splitlines()[1:] if line.strip()}


def _fonts_available() -> bool:
    fc_list = shutil.which("fc-list")
    if fc_list is not None:
        result = subprocess.run([fc_list], capture_output=True, text=True, check=False)
        return result.returncode == 0 and bool(result.stdout.strip())
    return any(Path(folder).rglob("*.[ot]tf") for folder in ("/usr/share/fonts", "/usr/local/share/fonts"))


def missing_qt_libraries(plugin: Path | None = None) -> tuple[set[str], bool]:
    """The system libraries Qt's X11 platform plugin needs but this machine lacks, and whether fonts lack.

    Asks ``ldd`` about the installed plugin (the real list), and the linker cache about
    every library in :data:`QT_SYSTEM_LIBRARIES` (also before PyQt6 is installed).
    """
    missing: set[str] = set()
    plugin = plugin or _qt_xcb_plugin()
    if plugin is not None and shutil.which("ldd"):
        result = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, check=False)
        missing |= missing_sonames_from_ldd(result.stdout)
    known = _known_sonames()
    if known is not None:
        missing |= {soname for soname in QT_SYSTEM_LIBRARIES if soname not in known}
    return missing, not _fonts_available()


def packages_for(sonames: Iterable[str], *, fonts_missing: bool = False) -> tuple[list[str], list[str]]:
    """Debian packages providing ``sonames`` (sorted, unique), and the sonames no package is known for."""
    packages = {QT_SYSTEM_LIBRARIES[name] for name in sonames if name in QT_SYSTEM_LIBRARIES}
    if fonts_missing:
        packages.add(FONTS_PACKAGE)
    unknown = sorted(name for name in sonames if name not in QT_SYSTEM_LIBRARIES)
    return sorted(packages), unknown


def apt_install_line(packages: Iterable[str]) -> str:
    """The command a user runs to install ``packages`` (``sudo`` unless already root)."""
    prefix = "" if _is_root() else "sudo "
    return f"{prefix}apt-get install --no-install-recommends {' '.join(packages)}"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def check_system_libraries(*, install: bool) -> bool:
    """Make sure the windows can open: True when every library is there (after installing, if asked).

    Prints what is missing and the exact ``apt-get install`` line otherwise.
    """
    if not sys.platform.startswith("linux"):
        return True
    sonames, fonts_missing = missing_qt_libraries()
    if not sonames and not fonts_missing:
        return True
    packages, unknown = packages_for(sonames, fonts_missing=fonts_missing)
    has_apt = shutil.which("apt-get") is not None
    if install and packages and has_apt and _is_root():
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        try:
            _run("apt-get", "update", "-q", env=env)
            _run("apt-get", "install", "-y", "-q", "--no-install-recommends", *packages, env=env)
        except subprocess.CalledProcessError as exc:
            print(
                f"Installing the system libraries failed (apt-get exit status {exc.returncode}).",
                file=sys.stderr,
            )
            return False
        sonames, fonts_missing = missing_qt_libraries()
        packages, unknown = packages_for(sonames, fonts_missing=fonts_missing)
        if not sonames and not fonts_missing:
            return True
    what = ", ".join(sorted(sonames) + (["any font"] if fonts_missing else []))
    print(
        f"ScanGate's windows (Qt's X11 platform plugin) need system libraries this machine lacks: {what}.",
        file=sys.stderr,
    )
    if packages and has_apt:
        print(f"Install them with:\n  {apt_install_line(packages)}", file=sys.stderr)
        if not _is_root():
            print(f"(or run this command again as root with {INSTALL_SYSTEM_DEPS_FLAG}).", file=sys.stderr)
        elif not install:
            print(f"(or run this command again with {INSTALL_SYSTEM_DEPS_FLAG}).", file=sys.stderr)
    elif packages:
        print(
            f"On Debian or Ubuntu the packages are: {' '.join(packages)}; install the"
            " equivalents with this system's package manager.",
            file=sys.stderr,
        )
    if unknown:
        print(
            f"No package is known here for {', '.join(unknown)}: find it with"
            " `apt-file search` (or your package manager), install it, and run this again.",
            file=sys.stderr,
        )
    print("Headless commands (`demo --headless`, `verify`, ...) work without them.", file=sys.stderr)
    return False


def opens_windows(action: str, args: list[str]) -> bool:
    """Whether ``bootstrap.py ACTION ARGS`` starts Qt windows on an X11 display."""
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return False  # no X11 display: scangate says so itself, or plays the headless demo
    if os.environ.get("QT_QPA_PLATFORM", "xcb").split(":")[0] != "xcb":
        return False  # offscreen, wayland, ...: not the xcb plugin
    if action == "demo":
        return "--headless" not in args
    return (
        action == "scangate"
        and bool(args)
        and args[0] in {"demo", "run", "review"}
        and "--headless" not in args
    )


def main(argv: list[str]) -> int:
    """Dispatch ``demo``, ``test``, ``scangate`` or ``system-deps`` after making sure the venv is ready."""
    install_system_deps = INSTALL_SYSTEM_DEPS_FLAG in argv
    argv = [arg for arg in argv if arg != INSTALL_SYSTEM_DEPS_FLAG]
    if not argv or argv[0] not in {"demo", "test", "scangate", "system-deps"}:
        print(__doc__, file=sys.stderr)
        return 2
    if argv[0] == "system-deps":
        return 0 if check_system_libraries(install=install_system_deps) else 1
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
    if opens_windows(action, rest) and not check_system_libraries(install=install_system_deps):
        return 1
    command = [str(_venv_bin("scangate"))] + (["demo", *rest] if action == "demo" else rest)
    return subprocess.run(command, check=False, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
