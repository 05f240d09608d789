"""Every command the README shows in a ``sh`` block runs as written after set-up.

The blocks are read from README.md and run by ``bash`` in a fresh folder that holds only
``.venv`` (the environment running these tests, as set-up leaves it). Two rewrites only:
``/tmp/sg`` becomes a private temporary folder (so runs never collide), and the set-up
commands themselves (``packaging/bootstrap.py``: these tests run under them) are not run.
A command that opens windows runs without a screen and must get as far as saying so, which
shows its arguments parsed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

SET_UP_COMMANDS = {
    "python3 packaging/bootstrap.py demo",
    "python3 packaging/bootstrap.py test",
}
"""Commands not run here: they create the environment these tests already run in."""
WINDOW_COMMANDS = re.compile(r"^\.venv/bin/scangate (review|run)\b|^\.venv/bin/scangate demo(?!.*--headless)")


def readme_commands() -> list[str]:
    """The README's shell commands, one per line, comments stripped, in order."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    commands = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        for line in block.splitlines():
            command = line.split(" #", 1)[0].strip()
            if command and not command.startswith("#"):
                commands.append(command)
    return commands


def test_the_readme_shows_the_set_up_and_the_demo_commands() -> None:
    commands = readme_commands()
    assert set(commands) >= SET_UP_COMMANDS
    assert any("demo --headless" in command for command in commands)
    bare = [command for command in commands if command.startswith("scangate ")]
    assert bare == [], f"'scangate' is not on the PATH after set-up; use .venv/bin/scangate: {bare}"


def test_every_readme_command_runs_as_written_in_a_fresh_folder(tmp_path: Path) -> None:
    folder = tmp_path / "fresh"
    folder.mkdir()
    (folder / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    out = tmp_path / "sg"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM", "SCANGATE_REGISTRY_TOKEN"}
    }
    env["PYTHONPATH"] = str(REPO_ROOT)  # this checkout, even when .venv's editable install is another's
    ran = []
    for command in readme_commands():
        if command in SET_UP_COMMANDS:
            continue
        written = command.replace("/tmp/sg", str(out))
        result = subprocess.run(
            ["bash", "-c", written],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        output = result.stdout + result.stderr
        assert "Traceback" not in output, f"{command}\n{output}"
        if WINDOW_COMMANDS.search(command):
            assert result.returncode != 0 and "there is no screen" in result.stderr, f"{command}\n{output}"
        else:
            assert result.returncode == 0, f"{command} exited {result.returncode}\n{output}"
        ran.append(command.split()[1] if command.startswith(".venv/bin/scangate") else command)
    assert ran[:4] == ["demo", "verify", "receipt", "provenance"], ran


@pytest.mark.parametrize("command", ["scangate demo --headless", ".venv/bin/scangate review LOG"])
def test_the_window_rule_tells_headless_from_window_commands(command: str) -> None:
    assert bool(WINDOW_COMMANDS.search(command)) is command.startswith(".venv")
