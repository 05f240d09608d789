"""The scangate command itself: help, check-config, and error reporting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from agent.cli.main import COMMAND_SUMMARIES, PluginGroup, _command_entry_points, cli, main
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
        "heavy = [m for m in ('PyQt6', 'fastapi', 'dlib', 'cv2', 'sqlalchemy', 'pydantic') if m in sys.modules];"
        "print('HEAVY', heavy); sys.exit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "check-config" in result.stdout
    assert "HEAVY []" in result.stdout


def test_help_summaries_equal_each_commands_own_help() -> None:
    """--help lists COMMAND_SUMMARIES without importing the commands: they must say what the commands say."""
    ctx = click.Context(cli)
    for name in _command_entry_points():
        assert name in COMMAND_SUMMARIES, f"add the one-line help of {name!r} to COMMAND_SUMMARIES"
        command = cli.get_command(ctx, name)
        assert command is not None
        assert COMMAND_SUMMARIES[name] == command.get_short_help_str(limit=10_000), name
    assert set(COMMAND_SUMMARIES) == set(_command_entry_points())


def test_help_lists_the_same_as_loading_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    lazy = capsys.readouterr().out

    class Loading(PluginGroup):
        def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
            click.Group.format_commands(self, ctx, formatter)

    loading = Loading(name=cli.name, callback=cli.callback, params=cli.params, help=cli.help)
    loading.context_settings = cli.context_settings
    assert loading.main(args=["--help"], prog_name="scangate", standalone_mode=False) == 0
    assert capsys.readouterr().out == lazy


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
