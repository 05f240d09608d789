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

from agent.faces.sealing import DEFAULT_PASSPHRASE_ENV
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian/Ubuntu)")


def _load(name: str) -> ModuleType:
    sys.path.insert(0, str(REPO_ROOT / "packaging"))
    try:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "packaging" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up there
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
    for package in (
        *("libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0", "libxkbcommon-x11-0", "libgl1"),
        *("libwayland-cursor0", "libwayland-egl1"),  # Qt's Wayland plugin, found missing by ldd (check_debs)
    ):
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
    assert "./usr/share/lintian/overrides/scangate-rig" in contents
    assert "./usr/bin/" not in contents, "an alternative: the registry package provides scangate too"
    assert "root/root" in contents and "rwxr-xr-x root/root" in contents


def test_both_packages_provide_the_command_as_an_alternative_so_one_machine_can_hold_both(
    debs: dict[str, Path], tmp_path: Path
) -> None:
    for role, priority in (("rig", 50), ("registry", 20)):
        control = tmp_path / role
        subprocess.run(["dpkg-deb", "--control", str(debs[role]), str(control)], check=True)
        install = (
            f"update-alternatives --install /usr/bin/scangate scangate /usr/lib/scangate-{role}/scangate"
        )
        assert f"{install} {priority}" in (control / "postinst").read_text()
        remove = "update-alternatives --remove scangate /usr/lib/scangate-{role}/scangate"
        assert remove.format(role=role) in (control / "prerm").read_text()


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
    assert "ExecStart=/usr/lib/scangate-registry/scangate registry serve" in unit
    assert "deb-systemd-helper enable scangate-registry.service" in postinst
    assert "systemctl enable" not in postinst, "lintian: maintainer-script-calls-systemctl"


def test_the_registry_unit_reads_as_the_service_command_the_check_starts() -> None:
    systemd_unit = _load("systemd_unit")
    linux = REPO_ROOT / "packaging" / "linux"
    files = {"/etc/scangate/registry.env": (linux / "registry.env").read_text(encoding="utf-8")}
    unit = systemd_unit.service_command(
        (linux / "scangate-registry.service").read_text(encoding="utf-8"), files.__getitem__
    )
    assert unit.argv == [
        "/usr/lib/scangate-registry/scangate", "registry", "serve", "--host", "127.0.0.1", "--port", "8765"
    ]  # fmt: skip
    assert (unit.user, unit.group) == ("scangate-registry", "scangate-registry")
    assert unit.working_directory == "/var/lib/scangate-registry"
    assert unit.environment["HOME"] == "/var/lib/scangate-registry"
    assert unit.environment["SCANGATE_REGISTRY_DB"] == "/var/lib/scangate-registry/registry.sqlite3"


def test_the_unit_reader_follows_systemds_rules_and_refuses_what_it_does_not_know() -> None:
    systemd_unit = _load("systemd_unit")
    unit_text = (
        "[Unit]\nExecStart=/bin/false\n[Service]\nEnvironment=A=1 'B=two words'\n"
        "EnvironmentFile=-/missing\nEnvironmentFile=/env\n"
        "ExecStart=/bin/run $ARGS ${B} --x=${A} 100%%\n"
    )
    files = {"/env": '# comment\nA=from-file\nARGS="--one --two"\n'}

    def read(path: str) -> str:
        if path not in files:
            raise FileNotFoundError(path)
        return files[path]

    unit = systemd_unit.service_command(unit_text, read)
    assert unit.argv == ["/bin/run", "--one", "--two", "two words", "--x=from-file", "100%"]
    assert unit.user is None
    for bad in ("ExecStart=/bin/run %h", "ExecStart=-/bin/run", "EnvironmentFile=/missing\nExecStart=/a"):
        with pytest.raises(systemd_unit.UnitError):
            systemd_unit.service_command(f"[Service]\n{bad}\n", read)


def test_the_registry_env_is_one_the_shell_reads_as_systemd_does(tmp_path: Path) -> None:
    """The one-time init sources registry.env with sh: a value with spaces must be quoted."""
    env_file = REPO_ROOT / "packaging" / "linux" / "registry.env"
    shell = subprocess.run(
        ["sh", "-c", f"set -a && . {env_file} && env"],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout
    parsed = _load("systemd_unit").parse_environment_file(env_file.read_text(encoding="utf-8"))
    for key, value in parsed.items():
        assert f"{key}={value}\n" in shell


def test_install_md_runs_the_one_time_init_the_check_runs() -> None:
    check = _load("check_debs")
    install_md = (REPO_ROOT / "docs" / "install.md").read_text(encoding="utf-8")
    assert f"sudo -u scangate-registry sh -c '{check.REGISTRY_INIT_SCRIPT}'" in install_md
    assert check.PASSPHRASE_ENV == DEFAULT_PASSPHRASE_ENV


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("patchelf", "readelf")),
    reason="needs patchelf and binutils (apt-get install patchelf binutils)",
)
def test_tidying_a_bundle_drops_the_build_machines_search_path_and_exec_bits_of_libraries(
    tmp_path: Path,
) -> None:
    library = next(iter(sorted(Path("/usr/lib").glob("*-linux-gnu/libz.so.1*"))), None)
    if library is None:
        pytest.skip("no libz.so.1 on this machine to copy")
    bundle = tmp_path / "bundle"
    (bundle / "_internal").mkdir(parents=True)
    copy = bundle / "_internal" / "libz.so.1"
    shutil.copyfile(library.resolve(), copy)
    copy.chmod(0o755)
    subprocess.run(
        ["patchelf", "--set-rpath", "/root/.pyenv/versions/3.11.7/lib:$ORIGIN/../lib", str(copy)], check=True
    )

    counts = _load("deb_tidy").tidy_bundle(bundle)

    assert counts["search paths removed"] == 1
    assert (
        subprocess.run(
            ["patchelf", "--print-rpath", str(copy)], capture_output=True, text=True, check=True
        ).stdout.strip()
        == "$ORIGIN/../lib"
    )
    assert copy.stat().st_mode & 0o777 == 0o644
