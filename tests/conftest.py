"""Shared pytest fixtures.

The face photo set lives outside the repository (../shared/faces, or the folder
named by $SCANGATE_FACES_DIR); tests that need it skip with a clear reason when
it is absent. Its images must never be copied into the repository.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO_ROOT = Path(__file__).resolve().parent.parent
FACES_ENV_VAR = "SCANGATE_FACES_DIR"


def faces_dir_or_none() -> Path | None:
    """The shared face set, if present: $SCANGATE_FACES_DIR or ../shared/faces."""
    configured = os.environ.get(FACES_ENV_VAR)
    candidate = Path(configured) if configured else REPO_ROOT.parent / "shared" / "faces"
    return candidate if (candidate / "identities").is_dir() else None


@pytest.fixture(scope="session")
def faces_dir() -> Path:
    """Path of the shared face set; skips the test when it is absent."""
    found = faces_dir_or_none()
    if found is None:
        pytest.skip(
            f"face photo set not found (looked at ${FACES_ENV_VAR} and ../shared/faces);"
            " these tests need real face photos, which are never stored in the repository"
        )
    return found


@pytest.fixture(scope="session")
def stand_in_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the demo's rendered stand-in clip, shared by the whole run (it is the same clip)."""
    return tmp_path_factory.mktemp("stand-in-cache")


@pytest.fixture(autouse=True)
def _shared_stand_in_clip(stand_in_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rehearsals render the stand-in clip once per run, not once per demo folder (2.5-4 s each)."""
    monkeypatch.setenv("SCANGATE_STAND_IN_CACHE_DIR", str(stand_in_cache))


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep tests away from the real user's config/data dirs (keys, logs, templates)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.delenv("SCANGATE_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _no_os_keyring(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Keep tests out of the real user's OS keyring: keyring's 'fail' backend unless a test sets one.

    ``[records] key_store = "auto"`` then keeps keys in files, as on a machine without a keyring.
    Subprocesses inherit the choice through $PYTHON_KEYRING_BACKEND. Tests of the keyring store
    set their own backend (an in-memory one, or a real Secret Service).
    """
    import keyring

    from tests.records.keyring_backends import fail_backend

    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    keyring.set_keyring(fail_backend())
    backend = keyring.get_keyring()
    yield backend
    keyring.set_keyring(fail_backend())


@pytest.fixture
def pyproject_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    """Subcommands as pyproject.toml declares them, even when the installed metadata is older.

    ``scangate`` finds subcommands through installed entry points; a checkout whose pyproject
    added one since the last install (``packaging/bootstrap.py`` reinstalls on change) would
    not see it. Tests of a new command use this fixture to run it through the real entry point.
    """
    import tomllib
    from importlib.metadata import EntryPoint

    import agent.cli.main as cli_main

    declared = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["entry-points"][
        cli_main.COMMAND_GROUP
    ]
    points = {name: EntryPoint(name, value, cli_main.COMMAND_GROUP) for name, value in declared.items()}
    monkeypatch.setattr(cli_main, "_command_entry_points", lambda: points)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real file system of 256 KiB (tmpfs), for what happens when the disk fills up mid-write.

    Mounting needs root (CI runs as root); elsewhere the test is skipped, saying so.
    """
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("a real full disk needs a tmpfs mount, which needs root")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "--lazy", str(folder)], check=False)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: a worker per core this process may use, and one more.

    With one worker per core the cores are idle about 7 % of the run (measured on the 2-core CI
    machine): many tests wait by design (leases, timeouts, servers and rehearsals starting in
    subprocesses). A third worker fills those waits. ``$PYTEST_XDIST_AUTO_NUM_WORKERS`` and
    ``-n NUMBER`` still choose the count exactly.
    """
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # pytest-xdist reads it
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) + 1


SLOW_TEST_TIMEOUT_S = 3600
"""pytest-timeout's limit for ``slow`` tests (a bundle build or a Debian install takes many
minutes on 2 busy cores); every other test has the 900 s of ``[tool.pytest.ini_options]``."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give ``slow`` tests the longer time limit, unless they set their own."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT_S))
