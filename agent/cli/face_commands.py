"""``scangate enrol`` and ``scangate identify``: the face template store from the command line.

The face engine (dlib, OpenCV) is imported inside the command functions so that
``scangate --help`` and unrelated commands stay fast.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from agent.config import load_config
from agent.errors import InputError, ScanGateError

if TYPE_CHECKING:
    from collections.abc import Callable

    from agent.config import ScanGateConfig
    from agent.faces.enrolment import PerformerPhotos


class IdentifyInternalError(ScanGateError):
    """An input failed in a way ScanGate did not expect (a bug); its line says which."""

    exit_code = 70


_STORE_HELP = "Template store folder (default: [templates] store_dir of the config)."
_CONFIG_HELP = "Config file to take the identification settings from (default: the usual places)."


def _store_dir(store: Path | None, config: ScanGateConfig) -> Path:
    return store if store is not None else config.templates.store_dir


def _passphrase(config: ScanGateConfig) -> Callable[[], str]:
    """The store's passphrase: from ``[templates] passphrase_env``, else asked on the terminal."""
    from agent.faces.sealing import passphrase_source  # noqa: PLC0415

    return passphrase_source(config.templates.passphrase_env, prompt=True)


@click.command("enrol")
@click.option("--store", type=click.Path(path_type=Path, file_okay=False), help=_STORE_HELP)
@click.option("--performer", "performer_id", help="Stable performer id, e.g. 'P-0042'.")
@click.option("--name", "display_name", help="Display name shown on screens (default: keep / the id).")
@click.option(
    "--folders",
    is_flag=True,
    help=(
        "Each argument is a folder of one performer's photos, named by the performer id: enrol"
        " them all in one call (all or nothing). Not with --performer or --name."
    ),
)
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=_CONFIG_HELP)
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
def enrol(
    store: Path | None,
    performer_id: str | None,
    display_name: str | None,
    folders: bool,
    config_path: Path | None,
    images: tuple[Path, ...],
) -> None:
    """Enrol a performer from one or more photos (one face each) into the template store.

    Every photo must show exactly one sharp, large enough face; if any photo fails,
    nothing is enrolled. Enrolling an existing performer again adds templates with
    the next version numbers. Only encodings are stored, never the photos. With
    --folders, each argument is one performer's folder (its name is the performer
    id) and every performer is enrolled in one store write, or none is.
    """
    if not folders and performer_id is None:
        raise click.UsageError("Missing option '--performer' (or --folders, with one folder per performer).")
    if folders and (performer_id is not None or display_name is not None):
        raise click.UsageError("give --performer (with photos) or --folders (with folders), not both")
    from agent.faces.analysis import FaceAnalyser  # noqa: PLC0415  (loads dlib)
    from agent.faces.enrolment import PerformerPhotos, enrol_performers  # noqa: PLC0415
    from agent.faces.store import TemplateStore  # noqa: PLC0415

    if folders:
        performers = [_folder_photos(folder) for folder in images]
    else:
        assert performer_id is not None  # checked above: exactly one of the two
        performers = [PerformerPhotos(performer_id, images, display_name)]
    config, _ = load_config(config_path)
    template_store = TemplateStore(_store_dir(store, config), passphrase=_passphrase(config))
    analyser = FaceAnalyser(config.identification)
    enrolled = enrol_performers(analyser, template_store, performers)
    for performer, items in zip(performers, enrolled, strict=True):
        for item in items:
            click.echo(
                f"{item.path}: template v{item.template.version} ({item.template.template_id}),"
                f" face {item.face_height} px"
            )
        click.echo(f"enrolled {performer.performer_id}: {len(items)} template(s) in {template_store.path}")


def _folder_photos(folder: Path) -> PerformerPhotos:
    """The photos of one performer's folder (``--folders``); its name is the performer id."""
    from agent.faces.enrolment import PerformerPhotos  # noqa: PLC0415
    from agent.faces.evaluation import IMAGE_SUFFIXES  # noqa: PLC0415

    if not folder.is_dir():
        raise InputError(
            "not a folder (with --folders, each argument is one performer's folder)", where=str(folder)
        )
    photos = tuple(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES))
    return PerformerPhotos(folder.resolve().name, photos)


@click.command("identify")
@click.option("--store", type=click.Path(path_type=Path, file_okay=False), help=_STORE_HELP)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), help=_CONFIG_HELP)
@click.option(
    "--sample-fps",
    type=click.FloatRange(min=0.1, max=120.0),
    default=5.0,
    show_default=True,
    help="For video inputs: how many frames per second of video are analysed.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    help=(
        "Worker processes (default: one per usable CPU, at most one per input). Lines come out"
        " in input order either way."
    ),
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
def identify(
    store: Path | None,
    as_json: bool,
    config_path: Path | None,
    sample_fps: float,
    jobs: int | None,
    inputs: tuple[Path, ...],
) -> None:
    """Identify the performer in each image or video file against the enrolled roster.

    Decisions: match, unknown, no_face, multiple_faces, low_quality (error for a bad
    input). Videos are sampled and a match needs identification.votes_required
    consecutive agreeing frames. Inputs are identified in parallel worker processes
    (--jobs); the lines come out in input order. Exit status 0 when every input was
    processed, whatever the decisions; 2 when an input could not be read (its line
    says why).
    """
    from agent.faces.batch import Outcome, default_jobs, identify_many  # noqa: PLC0415  (loads dlib)
    from agent.faces.store import TemplateStore  # noqa: PLC0415

    config, _ = load_config(config_path)
    template_store = TemplateStore(_store_dir(store, config), passphrase=_passphrase(config))
    outcomes = identify_many(
        config.identification,
        template_store.load_roster,  # unsealed while the workers already observe the first inputs
        list(inputs),
        jobs=jobs if jobs is not None else default_jobs(len(inputs)),
        sample_fps=sample_fps,
        start_method="fork",  # the command line runs no other thread: workers share the loaded models
    )
    unreadable = 0
    failed = 0
    for item in outcomes:
        unreadable += item.outcome is Outcome.UNREADABLE
        failed += item.outcome is Outcome.FAILED
        click.echo(json.dumps(item.line, ensure_ascii=False) if as_json else _human_line(item.line))
    if failed:
        raise IdentifyInternalError(
            f"{failed} of {len(inputs)} input(s) failed unexpectedly (a bug in ScanGate)",
            hint="see the lines marked 'error'; re-run with SCANGATE_DEBUG=1 and report it",
        )
    if unreadable:
        raise InputError(
            f"{unreadable} of {len(inputs)} input(s) could not be read",
            hint="see the lines marked 'error'",
        )


def _human_line(line: dict[str, Any]) -> str:
    decision = line["decision"]
    if decision == "match":
        return (
            f"{line['input']}: match {line['performer_id']} ({line['display_name']}),"
            f" distance {line['distance']:.3f}"
            + (f", margin {line['margin']:.3f}" if line["margin"] is not None else "")
        )
    text = f"{line['input']}: {decision}: {line['reason']}"
    return text + (f"\n  hint: {line['hint']}" if line.get("hint") else "")
