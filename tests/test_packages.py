"""The .deb packages (packaging/debs.py) declare what a rig and a registry server need.

Built here from stand-in bundles (a tiny ``scangate`` script in place of the PyInstaller
folder, which takes minutes to build: see tests/test_bundle.py, marked ``slow``), then read
back with ``dpkg-deb --info/--contents`` as an installer would see them.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(REPO_ROOT / "packaging"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "packaging" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(REPO_ROOT / "packaging"))


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    for role in ("rig", "registry"):
        bundle = dist / f"scangate-{role}"
        (bundle / "_internal").mkdir(parents=True)
        (bundle / "scangate").write_text("#!/bin/sh\necho stand-in\n", encoding="ascii")
        (bundle / "scangate").chmod(0o755)
    assert _load("debs").build_debs(dist, shutil.which("dpkg-deb")) == 0
    return {role: next(dist.glob(f"scangate-{role}_*.deb")) for role in ("rig", "registry")}


def _dpkg(*args: str) -> str:
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True).stdout


def test_the_rig_package_declares_the_libraries_qt_needs(debs: dict[str, Path]) -> None:
    depends = _dpkg("--field", str(debs["rig"]), "Depends")
    for package in ("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0", "libgl1"):
        assert package in depends
    assert "fonts-dejavu-core" in depends
    bootstrap = _load("bootstrap")
    assert set(bootstrap.QT_SYSTEM_LIBRARIES.values()) <= {d.strip() for d in depends.split(",")}


def test_the_rig_package_carries_the_bundle_desktop_entry_and_kiosk_service(debs: dict[str, Path]) -> None:
    contents = _dpkg("--contents", str(debs["rig"]))
    for path in (
        "./usr/lib/scangate-rig/scangate",
        "./usr/share/applications/scangate.desktop",
        "./usr/share/icons/hicolor/scalable/apps/scangate.svg",
        "./usr/lib/systemd/user/scangate-kiosk.service",
        "./usr/share/doc/scangate-rig/copyright",
    ):
        assert path in contents
    assert "./usr/bin/scangate -> ../lib/scangate-rig/scangate" in contents
    assert "root/root" in contents and "rwxr-xr-x root/root" in contents


def test_the_registry_package_runs_a_service_under_its_own_user_and_is_not_started_before_init(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    contents = _dpkg("--contents", str(debs["registry"]))
    assert "./usr/lib/systemd/system/scangate-registry.service" in contents
    assert "./etc/scangate/registry.env" in contents
    assert "PyQt6" not in contents
    subprocess.run(["dpkg-deb", "--control", str(debs["registry"]), str(tmp_path / "control")], check=True)
    assert (tmp_path / "control" / "conffiles").read_text() == "/etc/scangate/registry.env\n"
    postinst = (tmp_path / "control" / "postinst").read_text()
    assert "adduser --system --group" in postinst
    assert "if [ -e /var/lib/scangate-registry/registry-template.key ]" in postinst
    unit = (REPO_ROOT / "packaging" / "linux" / "scangate-registry.service").read_text()
    assert "User=scangate-registry" in unit
    assert "ExecStart=/usr/bin/scangate registry serve" in unit
