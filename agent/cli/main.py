"""Entry point of the ``scangate`` command.

Subcommands are discovered through the ``scangate.commands`` entry-point group
(declared in pyproject.toml) and imported only when invoked. That keeps this
module free of any import of ``gui`` or ``registry`` (the agent core never
depends on them) and keeps ``scangate verify`` from loading Qt or FastAPI.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from importlib.metadata import EntryPoint, entry_points

import click

from agent import __version__
from agent.cli.extras import import_failure_error
from agent.errors import ScanGateError

COMMAND_GROUP = "scangate.commands"
DEBUG_ENV_VAR = "SCANGATE_DEBUG"


COMMAND_SUMMARIES: dict[str, str] = {
    "check-config": "Check a ScanGate config file (or the one ScanGate would use) and report problems.",
    "demo": "The whole flow on a machine without a camera: embedded registry, stand-in camera, both screens.",
    "enrol": "Enrol a performer from one or more photos (one face each) into the template store.",
    "identify": "Identify the performer in each image or video file against the enrolled roster.",
    "keys": "The rig's Ed25519 signing key: create it once (init), show its public half, rotate it.",
    "liveness": "Judge each video file or image folder as if it were the camera during a liveness challenge.",
    "outbox": "Show the upload outbox: pending, delivered and rejected records (with reasons).",
    "provenance": "Validate the C2PA Content Credentials of captured FILEs and show what uses are permitted.",
    "receipt": "Print a performer's receipt for a session record (and optionally a QR code PNG).",
    "registry": "Run and administer the reference consent registry (see docs/registry.md).",
    "review": "Review session logs: filter, inspect, verify, export CSV and a PDF report.",
    "run": "Open the technician console and the performer screen on this rig.",
    "verify": "Verify a session log: every signature, the sequence, the hash chain and a checkpoint.",
}
"""The one-line help of each entry-point command, as ``scangate --help`` lists it.

Listing a command's help from the command itself means importing its module, and importing
them all took 1.5 s (SQLAlchemy through the registry's admin commands, every settings model
through the config): ``--help`` shows these instead. tests/test_cli_core.py checks that each
equals its command's own short help, so they cannot drift apart. A command missing here is
loaded to list it, as before."""


def _command_entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}


class PluginGroup(click.Group):
    """A click group whose subcommands are loaded lazily from entry points."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_command_entry_points()))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """List the commands with their one-line help, importing none that has a summary."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows: list[tuple[str, str]] = []
        for name in names:
            summary = COMMAND_SUMMARIES.get(name) if name not in self.commands else None
            if summary is not None:
                rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        builtin = super().get_command(ctx, cmd_name)
        if builtin is not None:
            return builtin
        entry = _command_entry_points().get(cmd_name)
        if entry is None:
            return None
        try:
            command = entry.load()
        except ImportError as exc:
            return _unavailable_command(cmd_name, entry, exc)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"entry point {entry.value!r} is not a click command")
        return command


def _unavailable_command(name: str, entry: EntryPoint, exc: ImportError) -> click.Command:
    """A stand-in for a subcommand whose module cannot be imported (broken install).

    ``scangate --help`` still lists every other command; running this one
    explains what is missing instead of crashing.
    """

    def refuse() -> None:
        missing = import_failure_error(exc)
        if missing is not None:
            raise missing
        raise ScanGateError(
            f"the '{name}' command cannot be loaded ({entry.value}): {exc}",
            hint="reinstall ScanGate (python3 packaging/bootstrap.py scangate --help)",
        )

    return click.Command(
        name,
        callback=refuse,
        help=f"(unavailable: {exc})",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(cls=PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scangate")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """ScanGate: on-set scan consent enforcement.

    Identifies the performer in front of the scanning rig, checks their consent
    with the production's registry, and unlocks capture only on a valid,
    confirmed consent. Every session ends in a signed, tamper-evident record.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; expected failures print one clear message and exit non-zero.

    Returns the process exit status (also used by tests that call ``main`` directly).
    """
    try:
        # Without standalone mode click *returns* the code of ctx.exit(n) instead of exiting.
        returned = cli.main(args=argv, prog_name="scangate", standalone_mode=False)
    except ScanGateError as exc:
        click.echo(f"scangate: error: {exc.message()}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("scangate: aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("scangate: interrupted", err=True)
        return 130
    except Exception as exc:  # an unexpected failure is a bug: say so plainly
        missing = import_failure_error(exc) if isinstance(exc, ImportError) else None
        if missing is not None:  # an optional part (extra) or a system library not installed: say which
            click.echo(f"scangate: error: {missing.message()}", err=True)
            return missing.exit_code
        if os.environ.get(DEBUG_ENV_VAR):
            traceback.print_exc()
        click.echo(
            f"scangate: internal error: {type(exc).__name__}: {exc}\n"
            f"  This is a bug in ScanGate. Re-run with {DEBUG_ENV_VAR}=1 for details and report it.",
            err=True,
        )
        return 70
    return returned if isinstance(returned, int) else 0


def entry() -> None:
    """Console-script wrapper: exit with :func:`main`'s status."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
