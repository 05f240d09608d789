"""``scangate run``, ``scangate review`` and ``scangate demo``: the commands that open windows.

This is a composition root: it may import ``agent``, ``registry`` and ``gui``
together. Qt, the rig and the demo registry are imported inside the command
functions only, so ``scangate --help`` stays fast and ``scangate demo
--headless`` never loads Qt.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
import platformdirs

from agent.cli.extras import import_failure_error
from agent.errors import ScanGateError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from agent.config import ScanGateConfig
    from agent.faces.subprocess_identifier import SubprocessIdentifier
    from agent.rig import Rig

_CONFIG_OPTION = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file (default: $SCANGATE_CONFIG or the user config directory).",
)


class HeadlessDemoUnavailableError(ScanGateError):
    """The headless demo runner is not installed."""


class NoScreenError(ScanGateError):
    """A window was asked for on a machine without a screen."""


DEFAULT_DEMO_DIR = Path(platformdirs.user_data_dir("scangate", appauthor=False)) / "demo"


@click.command("run")
@_CONFIG_OPTION
@click.option("--technician", default="", help="Pre-fill the technician's name on the console.")
def run(config_path: Path | None, technician: str) -> None:
    """Open the technician console and the performer screen on this rig.

    The console shows the live preview, the lock state, health and the session
    events; the performer screen goes full-screen on a second screen when there
    is one.
    """
    require_screen("run")
    from agent.config import load_config  # noqa: PLC0415
    from agent.startup import RigStartup  # noqa: PLC0415
    from gui.app import run_screens  # noqa: PLC0415
    from gui.console import ConsoleContext  # noqa: PLC0415

    config, _ = load_config(config_path)

    def make_rig() -> Rig:
        from agent.rig import Rig  # noqa: PLC0415 - after the console is painted

        return Rig.from_config(config)

    context = ConsoleContext(
        rig_id=config.rig.rig_id,
        rig_name=config.rig.name,
        production=config.rig.production_id,
        technician=technician,
        liveness=config.liveness.method,
    )
    run_screens(RigStartup(make_rig), context, config.screens.performer_output, technician=technician)


@click.command("review")
@click.argument("logs", metavar="[LOG]...", nargs=-1, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--key",
    "key_files",
    multiple=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Trusted rig public key (PEM, 'keys show --json' output or base64url). Repeatable."
    " Default: for logs written by 'scangate demo', the demo's key beside them; else this rig's own key.",
)
@_CONFIG_OPTION
def review(logs: tuple[Path, ...], key_files: tuple[Path, ...], config_path: Path | None) -> None:
    """Review session logs: filter, inspect, verify, export CSV and a PDF report.

    Without LOG, opens this rig's own log (from the configuration).
    """
    require_screen("review")
    from agent.config import load_config  # noqa: PLC0415
    from gui.app import ensure_app, install_exception_hook  # noqa: PLC0415
    from gui.review.window import ReviewWindow  # noqa: PLC0415

    config, _ = load_config(config_path)
    keys, source = review_keys(logs, key_files, config)
    if not keys:
        source = "none yet (add the rig's public key with Trusted keys…)"
    app = ensure_app()
    window = ReviewWindow(keys=keys, key_source=source)
    install_exception_hook(window)
    window.resize(1440, 900)
    window.show()
    window.open_logs(list(logs) or [config.records.log_path])
    app.exec()


def demo_key_files(logs: Sequence[Path]) -> list[Path]:
    """The demo's public keys for logs that ``scangate demo`` wrote, or [] unless every log is a demo's.

    Only a folder the demo made (its marker file) counts: a key file that merely sits beside
    a log is never trusted on its own say-so.
    """
    from registry.demo.environment import DEMO_MARKER  # noqa: PLC0415

    folders = {log.resolve().parent for log in logs}
    if not folders or not all(
        (f / DEMO_MARKER).is_file() and (f / "rig-public.pem").is_file() for f in folders
    ):
        return []
    return [folder / "rig-public.pem" for folder in sorted(folders)]


def review_keys(
    logs: Sequence[Path], key_files: Sequence[Path], config: ScanGateConfig
) -> tuple[dict[str, Ed25519PublicKey], str]:
    """The keys the review window trusts, and where they came from in plain words.

    ``--key`` files when given; for demo logs, the demo's rig key; else this rig's own key.
    """
    from agent.records.key_store import open_key_store  # noqa: PLC0415
    from agent.records.keys import load_trusted_keys  # noqa: PLC0415

    if not key_files and (demo_keys := demo_key_files(logs)):
        keys, _ = load_trusted_keys(demo_keys, None)
        return keys, "the demo's rig key (" + ", ".join(str(path) for path in demo_keys) + ")"
    own = None if key_files else open_key_store(config.records, config.rig.rig_id)
    return load_trusted_keys(key_files, own, config.records.key_path)


@click.command("demo")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=DEFAULT_DEMO_DIR,
    show_default=True,
    help="Folder for the demo's registry, keys, stand-in camera clip, captures and session log.",
)
@click.option("--headless", is_flag=True, help="Play a rehearsal scenario without windows (no Qt).")
@click.option("--scenario", default="confirm", show_default=True, help="Scenario for --headless.")
@click.option(
    "--technician", default="Demo Technician", show_default=True, help="Technician name on the console."
)
def demo(out_dir: Path, headless: bool, scenario: str, technician: str) -> None:
    """The whole flow on a machine without a camera: embedded registry, stand-in camera, both screens.

    Seeds a local consent registry with a stand-in performer (the public-domain
    NASA astronaut portrait shipped with scikit-image), plays a video of the
    portrait as the camera, and opens the technician console and the performer
    screen. With --headless, plays one rehearsal scenario end to end instead.
    """
    if headless:
        _run_headless(scenario, out_dir)
        return
    if not screen_available():
        click.echo(
            "No screen found (no DISPLAY or WAYLAND_DISPLAY): playing the 'confirm' rehearsal"
            " without windows instead. Run `scangate demo` in a desktop session to see the screens."
        )
        _run_headless("confirm", out_dir)
        return
    from registry.demo.launch import LIVENESS, PRODUCTION_ID, RIG_ID, RIG_NAME, DemoLaunch  # noqa: PLC0415

    launch = DemoLaunch(out_dir)  # starts the stand-in's template in another process at once
    from gui.app import run_screens  # noqa: PLC0415
    from gui.console import ConsoleContext  # noqa: PLC0415

    click.echo(f"Starting the demo in {out_dir} (embedded registry, stand-in camera)…")
    context = ConsoleContext(
        rig_id=RIG_ID, rig_name=RIG_NAME, production=PRODUCTION_ID, technician=technician, liveness=LIVENESS
    )
    try:
        run_screens(launch.startup(), context, None, technician=technician)
    finally:
        launch.close()
        if launch.environment is not None:
            click.echo(f"Session log: {launch.environment.config.records.log_path}")


def screen_available() -> bool:
    """Whether Qt can open windows here (Linux needs an X11 or Wayland display; Qt aborts without one)."""
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def require_screen(command: str) -> None:
    """Refuse clearly, instead of letting Qt abort, when there is no screen to open windows on."""
    if not screen_available():
        raise NoScreenError(
            f"'scangate {command}' opens windows, but there is no screen (DISPLAY/WAYLAND_DISPLAY unset)",
            hint="run it in a desktop session, or under Xvfb (xvfb-run scangate ...)",
        )


def _run_headless(scenario: str, out_dir: Path) -> None:
    identifier: SubprocessIdentifier | None = None
    try:
        from registry.demo.launch import start_demo_identifier  # noqa: PLC0415 - light

        # Loads the face models in its own process while this one imports the registry (~2 s).
        identifier = start_demo_identifier()
        from registry.demo import SCENARIOS, run_headless  # noqa: PLC0415
    except ImportError as exc:
        if identifier is not None:
            identifier.close()
        missing = import_failure_error(exc, "demo")
        if missing is not None:  # installed without the 'demo' extra, or a system library missing
            raise missing from None
        raise HeadlessDemoUnavailableError(
            f"the headless demo runner cannot be loaded ({type(exc).__name__}: {exc})",
            hint="reinstall ScanGate (python3 packaging/bootstrap.py, or the rig package)",
        ) from None
    assert identifier is not None
    if scenario not in SCENARIOS:
        identifier.close()
        raise click.BadParameter(
            f"unknown scenario {scenario!r}; choose one of: {', '.join(SCENARIOS)}", param_hint="--scenario"
        )
    status = run_headless(scenario, out_dir, identifier=identifier)
    if status:
        raise click.exceptions.Exit(status)
