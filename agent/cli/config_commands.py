"""``scangate check-config``: validate a config file and show the effective settings."""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.config import load_config


@click.command("check-config")
@click.argument("path", type=click.Path(path_type=Path), required=False)
@click.option("--show", is_flag=True, help="Print the effective settings (defaults filled in) as JSON.")
def check_config(path: Path | None, show: bool) -> None:
    """Check a ScanGate config file (or the one ScanGate would use) and report problems.

    Exit status 0 when the file is valid, 2 with one line per problem otherwise.
    """
    config, source = load_config(path)
    where = str(source) if source else "built-in defaults (no config file found)"
    click.echo(f"OK: {where}")
    if show:
        click.echo(json.dumps(config.model_dump(mode="json"), indent=2))
