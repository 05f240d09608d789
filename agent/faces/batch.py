"""Identifying many files at once (``scangate identify``), on every core, in input order.

dlib holds Python's GIL while it computes, so threads would not help: inputs go to a
pool of worker processes, each with its own :class:`~agent.faces.identifier.Identifier`
(models loaded once per worker, the roster sent once when the worker starts). Results
come back in input order as soon as each is ready, with a bounded number of inputs in
flight, so memory does not grow with the number of inputs. One process (``jobs=1``)
runs the very same per-input function, in this process.

Every input ends in one :class:`InputOutcome`: the JSON line of ``scangate identify``
and whether the input was processed, unreadable, or failed unexpectedly (a bug).
"""

from __future__ import annotations

import enum
import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.errors import InputError, ScanGateError
from agent.faces.identifier import Identifier
from agent.faces.roster import Roster
from agent.faces.settings import IdentificationSettings

log = logging.getLogger(__name__)

INPUTS_PER_WORKER = 4
"""A worker is worth starting only for this many inputs: loading its models costs about
as much as identifying a few photos."""


class Outcome(enum.StrEnum):
    """How one input went."""

    PROCESSED = "processed"
    UNREADABLE = "unreadable"
    FAILED = "failed"
    """An unexpected exception: a bug in ScanGate (exit status 70)."""


@dataclass(frozen=True)
class InputOutcome:
    """The ``identify`` line of one input and how it went."""

    line: dict[str, Any]
    outcome: Outcome


class IdentifyWorkerError(ScanGateError):
    """A worker process died while identifying (e.g. the system ran out of memory)."""

    exit_code = 70


def default_jobs(inputs: int) -> int:
    """Worker processes for ``inputs`` files: one per usable CPU, none beyond one per few inputs."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, inputs // INPUTS_PER_WORKER))


def identify_input(identifier: Identifier, path: Path, *, sample_fps: float) -> InputOutcome:
    """Identify one image or video file; never raises (a failure is an ``error`` line)."""
    try:
        line = _identify_one(identifier, path, sample_fps=sample_fps)
        outcome = Outcome.PROCESSED
    except InputError as exc:
        line = error_line(path, exc.brief(str(path)), exc.hint)
        outcome = Outcome.UNREADABLE
    except Exception as exc:  # one odd input must not hide the results of the others
        line = error_line(path, f"unexpected failure ({type(exc).__name__}: {exc})")
        outcome = Outcome.FAILED
    line.setdefault("hint", None)  # every line has the same members
    return InputOutcome(line, outcome)


def identify_many(
    settings: IdentificationSettings,
    roster: Roster,
    paths: Sequence[Path],
    *,
    jobs: int,
    sample_fps: float,
) -> Iterator[InputOutcome]:
    """Identify every file of ``paths`` with ``jobs`` processes; outcomes in input order.

    Raises:
        IdentifyWorkerError: a worker process died (the outcomes before it were yielded).
    """
    if jobs <= 1 or len(paths) <= 1:
        identifier = Identifier(settings, roster)
        for path in paths:
            yield identify_input(identifier, path, sample_fps=sample_fps)
        return
    jobs = min(jobs, len(paths))
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=_pool_context(),
        initializer=_init_worker,
        initargs=(settings, roster),
    ) as pool:
        try:
            pool.submit(_ping).result()
        except BrokenProcessPool:
            log.warning("identification worker processes cannot start; identifying in this process")
            yield from identify_many(settings, roster, paths, jobs=1, sample_fps=sample_fps)
            return
        in_flight: deque[Future[InputOutcome]] = deque()
        try:
            for path in paths:
                in_flight.append(pool.submit(_identify_in_worker, path, sample_fps))
                if len(in_flight) > 2 * jobs:  # bounded read-ahead
                    yield in_flight.popleft().result()
            while in_flight:
                yield in_flight.popleft().result()
        except BrokenProcessPool:
            raise IdentifyWorkerError(
                "an identification worker process died",
                hint="retry with --jobs 1 to see which input causes it",
            ) from None
        finally:
            for future in in_flight:
                future.cancel()


# -- worker processes ---------------------------------------------------------------------------------

_worker_identifier: Identifier | None = None


def _pool_context() -> multiprocessing.context.BaseContext:
    # forkserver/spawn rather than fork: the parent may hold threads (dlib, OpenCV, a GUI)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _init_worker(settings: IdentificationSettings, roster: Roster) -> None:
    global _worker_identifier  # noqa: PLW0603 - per-process worker state
    _worker_identifier = Identifier(settings, roster)


def _ping() -> bool:
    return _worker_identifier is not None


def _identify_in_worker(path: Path, sample_fps: float) -> InputOutcome:
    if _worker_identifier is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("identification worker not initialised")
    return identify_input(_worker_identifier, path, sample_fps=sample_fps)


# -- one input ----------------------------------------------------------------------------------------


def _identify_one(identifier: Identifier, path: Path, *, sample_fps: float) -> dict[str, Any]:
    from agent.faces.imaging import load_image  # noqa: PLC0415
    from agent.faces.video import identify_video, is_video_path  # noqa: PLC0415

    if is_video_path(path):
        result = identify_video(
            identifier,
            path,
            votes_required=identifier.settings.votes_required,
            sample_fps=sample_fps,
        )
        details = result.analysis.as_dict() if result.analysis else _empty_details()
        return {
            "input": str(path),
            "kind": "video",
            **details,
            "decision": result.decision.value,
            "reason": result.reason,
            **(
                {}
                if result.decision.value == "match"
                else {
                    "performer_id": None,
                    "display_name": None,
                    "template_id": None,
                    "template_version": None,
                }
            ),
            "frames_analysed": result.frames_analysed,
            "frame_decisions": result.decisions,
            "confirmed_at_s": result.confirmed_at_s,
        }
    analysis = identifier.analyse(load_image(path))
    return {"input": str(path), "kind": "image", **analysis.as_dict()}


def _empty_details() -> dict[str, Any]:
    return {"performer_id": None, "display_name": None, "distance": None, "margin": None}


def error_line(path: Path, message: str, hint: str | None = None) -> dict[str, Any]:
    """The ``identify`` line of an input that could not be identified."""
    return {"input": str(path), "decision": "error", **_empty_details(), "reason": message, "hint": hint}
