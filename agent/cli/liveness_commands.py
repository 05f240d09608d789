"""``scangate liveness``: judge recordings as the rig would judge the camera during a challenge.

The face engine and the landmark model are imported inside the command, so that
``scangate --help`` stays fast and free of OpenCV, dlib and LiteRT.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from agent.cli.face_commands import IdentifyInternalError
from agent.config import load_config
from agent.errors import InputError

DEFAULT_STEPS = "turn-left,turn-right"


@click.command("liveness")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per input, one per line.")
@click.option(
    "--challenge",
    "steps_text",
    default=DEFAULT_STEPS,
    show_default=True,
    help="The steps the recording should show, in order: comma-separated from turn-left, turn-right, blink.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Config file to take the identification settings and [liveness] time limit from.",
)
@click.option(
    "--fps",
    type=click.FloatRange(min=1.0, max=240.0),
    default=30.0,
    show_default=True,
    help="For image folders: the frame rate they were taken at (videos use their own).",
)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path))
def liveness(
    as_json: bool, steps_text: str, config_path: Path | None, fps: float, inputs: tuple[Path, ...]
) -> None:
    """Judge each video file or image folder as if it were the camera during a liveness challenge.

    Results: live (every step done, by one face, in depth), attack (a turn made the way a flat
    picture turns, or another performer took over), incomplete (steps not done in time),
    no_face, error (unreadable input). The subject is enrolled from the recording's first
    good frame. Exit status 0 when every input was judged, whatever the results; 2 when an
    input could not be read (its line says why). Used to calibrate a rig's camera: see
    docs/liveness.md.
    """
    from agent.liveness.challenge import Thresholds  # noqa: PLC0415  (loads OpenCV)
    from agent.liveness.offline import LivenessResult, OfflineChallenge, parse_steps  # noqa: PLC0415

    try:
        steps = parse_steps(steps_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--challenge") from None
    config, _ = load_config(config_path)
    thresholds: Thresholds = config.liveness.thresholds()
    judge = OfflineChallenge(config.identification, thresholds)  # a missing model: LandmarkModelError
    unreadable = failed = 0
    for path in inputs:
        try:
            verdict = judge.judge_path(path, steps, fps=fps)
        except Exception as exc:  # one odd input must not hide the results of the others
            failed += 1
            line: dict[str, object] = {
                "input": str(path),
                "result": "error",
                "steps": [],
                "reason": f"unexpected failure ({type(exc).__name__}: {exc})",
                "hint": None,
            }
        else:
            unreadable += verdict.result is LivenessResult.ERROR
            line = verdict.as_dict()
        click.echo(json.dumps(line, ensure_ascii=False) if as_json else _human_line(line))
    if failed:
        raise IdentifyInternalError(
            f"{failed} of {len(inputs)} input(s) failed unexpectedly (a bug in ScanGate)",
            hint="see the lines marked 'error'; re-run with SCANGATE_DEBUG=1 and report it",
        )
    if unreadable:
        raise InputError(
            f"{unreadable} of {len(inputs)} input(s) could not be read", hint="see the lines marked 'error'"
        )


def _human_line(line: dict[str, object]) -> str:
    text = f"{line['input']}: {line['result']}: {line['reason']}"
    if line.get("hint"):
        text += f"\n  hint: {line['hint']}"
    steps = line.get("steps")
    if isinstance(steps, list):
        for step in steps:
            evidence = ", ".join(f"{k} {v:g}" for k, v in step["evidence"].items())
            mark = "done" if step["passed"] else "not done"
            text += f"\n  {step['step']}: {mark} ({step['reason']}{'; ' + evidence if evidence else ''})"
    return text
