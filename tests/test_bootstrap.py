"""packaging/bootstrap.py: Qt's system libraries are checked before a window opens."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture
def bootstrap() -> Iterator[ModuleType]:
    """The bootstrap script as a module (it lives outside the packages, as a plain script)."""
    spec = importlib.util.spec_from_file_location(
        "scangate_bootstrap", REPO_ROOT / "packaging" / "bootstrap.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module


def _installed_xcb_plugin() -> Path:
    import PyQt6

    plugin = Path(PyQt6.__file__).parent / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
    if not plugin.exists() or shutil.which("ldd") is None:
        pytest.skip("needs PyQt6's X11 plugin (Linux) and ldd")
    return plugin


def test_every_x11_library_the_real_plugin_links_has_a_package(bootstrap: ModuleType) -> None:
    """A PyQt6 upgrade that needs one more xcb library fails here, not on a technician's screen."""
    output = subprocess.run(
        ["ldd", str(_installed_xcb_plugin())], capture_output=True, text=True, check=True
    ).stdout
    linked = set(
        re.findall(r"^\s*(lib(?:xcb|X11|xkbcommon|GL|EGL|fontconfig)\S*)\s+=>", output, re.MULTILINE)
    )
    assert "libxcb-icccm.so.4" in linked and "libxcb-keysyms.so.1" in linked
    assert linked - set(bootstrap.QT_SYSTEM_LIBRARIES) == set()


def test_ldd_not_found_lines_are_read(bootstrap: ModuleType) -> None:
    output = (
        "\tlibxcb-cursor.so.0 => /lib/x86_64-linux-gnu/libxcb-cursor.so.0 (0x00007f)\n"
        "\tlibxcb-icccm.so.4 => not found\n"
        "\tlibxcb-keysyms.so.1 => not found\n"
    )
    assert bootstrap.missing_sonames_from_ldd(output) == {"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}
    assert bootstrap.packages_for({"libxcb-keysyms.so.1", "libxcb-icccm.so.4", "libfoo.so.9"}) == (
        ["libxcb-icccm4", "libxcb-keysyms1"],
        ["libfoo.so.9"],
    )
    assert bootstrap.packages_for(set(), fonts_missing=True) == (["fonts-dejavu-core"], [])


def _missing(bootstrap: ModuleType, monkeypatch: pytest.MonkeyPatch, *answers: tuple[set[str], bool]) -> None:
    replies = iter(answers)
    monkeypatch.setattr(bootstrap, "missing_qt_libraries", lambda plugin=None: next(replies))
    monkeypatch.setattr(bootstrap.sys, "platform", "linux")
    monkeypatch.setattr(bootstrap.shutil, "which", lambda name: f"/usr/bin/{name}")


def test_missing_libraries_print_the_exact_apt_get_line_and_nothing_starts(
    bootstrap: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _missing(bootstrap, monkeypatch, ({"libxcb-icccm.so.4", "libxcb-keysyms.so.1"}, False))
    monkeypatch.setattr(bootstrap, "_is_root", lambda: False)
    monkeypatch.setattr(bootstrap, "ensure_environment", lambda: None)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    started: list[object] = []
    monkeypatch.setattr(bootstrap.subprocess, "run", lambda *a, **k: started.append(a))

    assert bootstrap.main(["demo", "--install-system-deps"]) == 1

    err = capsys.readouterr().err
    assert "sudo apt-get install --no-install-recommends libxcb-icccm4 libxcb-keysyms1\n" in err
    assert "as root with --install-system-deps" in err
    assert started == []  # neither apt-get (not root) nor the demo ran


def test_as_root_with_the_flag_the_libraries_are_installed(
    bootstrap: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    _missing(bootstrap, monkeypatch, ({"libxcb-icccm.so.4"}, True), (set(), False))
    monkeypatch.setattr(bootstrap, "_is_root", lambda: True)
    commands: list[tuple[str, ...]] = []
    monkeypatch.setattr(bootstrap, "_run", lambda *args, env=None: commands.append(tuple(map(str, args))))

    assert bootstrap.check_system_libraries(install=True) is True
    assert commands == [
        ("apt-get", "update", "-q"),
        ("apt-get", "install", "-y", "-q", "--no-install-recommends", "fonts-dejavu-core", "libxcb-icccm4"),
    ]


def test_without_the_flag_root_is_told_and_nothing_is_installed(
    bootstrap: ModuleType, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _missing(bootstrap, monkeypatch, ({"libxcb-keysyms.so.1"}, False))
    monkeypatch.setattr(bootstrap, "_is_root", lambda: True)
    monkeypatch.setattr(
        bootstrap, "_run", lambda *a, **k: pytest.fail("installed without --install-system-deps")
    )

    assert bootstrap.check_system_libraries(install=False) is False
    err = capsys.readouterr().err
    assert "\n  apt-get install --no-install-recommends libxcb-keysyms1\n" in err


@pytest.mark.parametrize(
    ("action", "args", "display", "expected"),
    [
        ("demo", [], ":0", True),
        ("demo", ["--headless", "--scenario", "confirm"], ":0", False),
        ("demo", [], None, False),
        ("scangate", ["review", "log.jsonl"], ":0", True),
        ("scangate", ["verify", "log.jsonl"], ":0", False),
    ],
)
def test_only_commands_that_open_windows_on_x11_are_checked(
    bootstrap: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    args: list[str],
    display: str | None,
    expected: bool,
) -> None:
    monkeypatch.setattr(bootstrap.sys, "platform", "linux")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    if display is None:
        monkeypatch.delenv("DISPLAY", raising=False)
    else:
        monkeypatch.setenv("DISPLAY", display)
    assert bootstrap.opens_windows(action, args) is expected


def test_system_deps_command_runs_without_a_venv(tmp_path: Path) -> None:
    """`bootstrap.py system-deps` answers from the system alone (no install) and exits 0 or 1."""
    result = subprocess.run(
        [sys.executable, str(REPO_ROOT / "packaging" / "bootstrap.py"), "system-deps"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SCANGATE_VENV": str(tmp_path / "venv")},
    )
    assert result.returncode in {0, 1}, result.stderr
    assert not (tmp_path / "venv").exists()
    if result.returncode == 1:
        assert "apt-get install" in result.stderr or "package manager" in result.stderr
