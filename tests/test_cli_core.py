"""The scangate command itself: help, check-config, and error reporting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from agent.cli.main import main
from tests.conftest import REPO_ROOT


def test_check_config_ok_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(REPO_ROOT / "config" / "example-rig.toml")]) == 0
    assert "OK:" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text('[camera.source]\nkind = "images"\n')
    assert main(["check-config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err
    assert "camera.source.path" in err
    assert "Traceback" not in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["no-such-command"]) == 2
    assert "No such command" in capsys.readouterr().err


def test_help_lists_commands_without_loading_heavy_modules() -> None:
    code = (
        "import sys; from agent.cli.main import main; rc = main(['--help']);"
        "heavy = [m for m in ('PyQt6', 'fastapi', 'dlib', 'cv2') if m in sys.modules];"
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "check-config" in result.stdout
    assert "HEAVY []" in result.stdout


def test_exit_code_of_a_command_is_returned(tmp_path: Path) -> None:
    """A command that ends with ctx.exit(n) must make main() return n, not 0."""
    import click

    from agent.cli import main as main_module

    @main_module.cli.command("exit-three")
    @click.pass_context
    def exit_three(ctx: click.Context) -> None:
        ctx.exit(3)

    try:
        assert main(["exit-three"]) == 3
    finally:
        main_module.cli.commands.pop("exit-three")
