"""Debian packages of the bundles: ``scangate-rig`` and ``scangate-registry`` (``build.py deb``).

Each package carries its PyInstaller bundle in ``/usr/lib/<package>/`` (binaries tidied for
Debian by :mod:`deb_tidy`), ``/usr/bin/scangate`` as an alternative (both packages can be
installed together: :mod:`deb_scripts`), the lintian overrides of what a bundle genuinely is,
declares the system libraries the bundle does not carry (for the rig: Qt's xcb set, libGL,
fonts — the list :mod:`bootstrap` checks), and its systemd unit:

- ``scangate-rig``: a desktop entry and icon, and the *user* service ``scangate-kiosk``
  (console and performer screen with the operator's session).
- ``scangate-registry``: the system service ``scangate-registry`` under its own user, settings
  in ``/etc/scangate/registry.env`` (a conffile); ``scangate registry init`` is a one-time step
  before the first start (docs/install.md), so installing does not start it.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import bootstrap
from deb_scripts import lintian_overrides, maintainer_scripts
from deb_tidy import ToolMissingError, tidy_bundle

ROOT = bootstrap.ROOT
LINUX = ROOT / "packaging" / "linux"
WAYLAND_LIBRARIES = ("libwayland-cursor0", "libwayland-egl1")
"""Beyond bootstrap's X11 list: Qt's Wayland platform plugin (Qt 6's choice in a Wayland session)
and the bundled GTK 3 of its GTK theme plugin link them (found by ldd in check_debs.py)."""
MAINTAINER = "ScanGate engineers <scangate@example.invalid>"
COPYRIGHT = """Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: scangate
Source: https://example.invalid/scangate

Files: *
Copyright: 2025-2026 ScanGate engineers
License: Apache-2.0
 On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.
 The bundle under /usr/lib also carries third-party libraries under their own licences
 (Qt under LGPL-3.0, dlib models, MediaPipe's landmark model under Apache-2.0, ...):
 see docs/licences.md in the source.
"""


def _version() -> str:
    import tomllib  # noqa: PLC0415

    return str(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def _architecture(dpkg: str) -> str:
    return subprocess.run(
        [dpkg, "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _install(source: Path, target: Path, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(mode)


def _write(target: Path, text: str, mode: int = 0o644) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    target.chmod(mode)


def _doc(tree: Path, package: str, version: str) -> None:
    doc = tree / "usr" / "share" / "doc" / package
    _write(doc / "copyright", COPYRIGHT)
    changelog = (
        f"{package} ({version}) unstable; urgency=medium\n\n  * Built by packaging/build.py.\n\n"
        f" -- {MAINTAINER}  Sun, 06 Dec 2026 00:00:00 +0000\n"
    )
    (doc / "changelog.gz").write_bytes(gzip.compress(changelog.encode(), mtime=0))  # a native package
    (doc / "changelog.gz").chmod(0o644)
    _install(ROOT / "docs" / "install.md", doc / "install.md")


def _control(
    package: str, version: str, arch: str, depends: list[str], description: str, size_kb: int
) -> str:
    return (
        f"Package: {package}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: {MAINTAINER}\n"
        f"Installed-Size: {size_kb}\nDepends: {', '.join(depends)}\nSection: video\nPriority: optional\n"
        f"Homepage: https://example.invalid/scangate\nDescription: {description}\n"
    )


def _build(tree: Path, out: Path, dpkg: str) -> None:
    for folder in [tree, *tree.rglob("*")]:
        if folder.is_dir() and not folder.is_symlink():
            folder.chmod(0o755)
    subprocess.run([dpkg, "--build", "--root-owner-group", "-Zgzip", str(tree), str(out)], check=True)


def _package(role: str, dist: Path, dpkg: str, version: str, arch: str) -> Path:
    package = f"scangate-{role}"
    bundle = dist / package
    with tempfile.TemporaryDirectory() as temporary:
        tree = Path(temporary) / package
        shutil.copytree(bundle, tree / "usr" / "lib" / package, symlinks=True)
        tidied = tidy_bundle(tree / "usr" / "lib" / package)
        print(f"{package}: {', '.join(f'{what} {count}' for what, count in tidied.items())}", flush=True)
        _doc(tree, package, version)
        _write(tree / "usr/share/lintian/overrides" / package, lintian_overrides(package))
        (tree / "DEBIAN").mkdir()
        for name, script in maintainer_scripts(package).items():
            _write(tree / "DEBIAN" / name, script, 0o755)
        if role == "rig":
            _install(LINUX / "scangate.desktop", tree / "usr/share/applications/scangate.desktop")
            _install(LINUX / "scangate.svg", tree / "usr/share/icons/hicolor/scalable/apps/scangate.svg")
            _install(LINUX / "scangate-kiosk.service", tree / "usr/lib/systemd/user/scangate-kiosk.service")
            depends = [
                "libc6 (>= 2.31)",
                *sorted(set(bootstrap.QT_SYSTEM_LIBRARIES.values()) | set(WAYLAND_LIBRARIES)),
                bootstrap.FONTS_PACKAGE,
            ]
            description = (
                "scan consent enforcement on the scanning rig\n"
                " ScanGate identifies the performer, checks their consent with the\n"
                " production's registry, has them re-confirm it on a touchscreen and only\n"
                " then unlocks capture. This package holds the technician console, the\n"
                " performer screen, the command line and the face models."
            )
        else:
            _install(
                LINUX / "scangate-registry.service", tree / "usr/lib/systemd/system/scangate-registry.service"
            )
            _install(LINUX / "registry.env", tree / "etc/scangate/registry.env")  # no secret in it
            _write(tree / "DEBIAN" / "conffiles", "/etc/scangate/registry.env\n")
            depends = ["libc6 (>= 2.31)", "adduser"]
            description = (
                "ScanGate reference consent registry service\n"
                " The production's consent registry that ScanGate rigs ask before unlocking a\n"
                " scan: signed consent records, rosters, revocations and collected session\n"
                " records, served over HTTPS by a systemd service under its own user."
            )
        size_kb = sum(p.lstat().st_size for p in tree.rglob("*") if not p.is_dir()) // 1024
        _write(tree / "DEBIAN" / "control", _control(package, version, arch, depends, description, size_kb))
        out = dist / f"{package}_{version}_{arch}.deb"
        _build(tree, out, dpkg)
    return out


def build_debs(dist: Path, dpkg: str | None) -> int:
    """Build a .deb for each bundle present in ``dist``; 0 when at least one was built."""
    if dpkg is None:
        print(
            "dpkg-deb is needed to build .deb packages (Debian/Ubuntu: apt-get install dpkg).",
            file=sys.stderr,
        )
        return 1
    roles = [role for role in ("rig", "registry") if (dist / f"scangate-{role}" / "scangate").exists()]
    if not roles:
        print(
            f"No bundle in {dist}: run `python3 packaging/build.py rig` (or registry) first.", file=sys.stderr
        )
        return 1
    version, arch = _version(), _architecture(shutil.which("dpkg") or "dpkg")
    os.umask(0o022)
    for role in roles:
        started = time.monotonic()
        try:
            built = _package(role, dist, dpkg, version, arch)
        except ToolMissingError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(
            f"Built {built} in {time.monotonic() - started:.0f} s: {built.stat().st_size / 1e6:.0f} MB",
            flush=True,
        )
    return 0
