"""Identifying many files at once (``scangate identify``), on every core, in input order.

dlib holds Python's GIL while it computes, so threads would not help: inputs go to a
pool of worker processes. Workers only *observe* photos (decode, detect, quality gate,
encode); this process matches each observation against the roster (a fraction of a
millisecond) and writes the lines in input order as soon as each is ready, with a
bounded number of inputs in flight, so memory does not grow with the number of inputs.

Workers therefore need the face models but not the roster, and the roster is loaded
(its passphrase's key derivation takes about half a second) while they already work.
Forked workers (the command line) share the models this process loaded, copy-on-write,
and start in milliseconds; through a fork server (safe in a process with other threads)
each worker loads its own. A video needs the roster frame by frame (voting), so its
worker is sent the roster with it. One process (``jobs=1``) runs the very same
per-input functions, in this process.

Every input ends in one :class:`InputOutcome`: the JSON line of ``scangate identify``
and whether the input was processed, unreadable, or failed unexpectedly (a bug).
"""

from __future__ import annotations

import contextlib
import enum
import logging
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from agent.errors import InputError, ScanGateError
from agent.faces.analysis import FaceAnalyser, FaceObservation
from agent.faces.identifier import Identifier, match_observation
from agent.faces.roster import Roster
from agent.faces.settings import IdentificationSettings

log = logging.getLogger(__name__)

StartMethod = Literal["fork", "forkserver"]
"""How worker processes start: ``fork`` shares this process's loaded models and starts at once,
but is only safe without other threads (the command line); ``forkserver`` is safe anywhere."""


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


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (``taskset``, a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity masks on this platform
        return os.cpu_count() or 1


def default_jobs(inputs: int) -> int:
    """Worker processes for ``inputs`` files: one per usable CPU, at most one per input."""
    return max(1, min(usable_cpus(), inputs))


def identify_input(identifier: Identifier, path: Path, *, sample_fps: float) -> InputOutcome:
    """Identify one image or video file; never raises (a failure is an ``error`` line)."""
    observed = observe_input(identifier.analyser, path, sample_fps=sample_fps, identifier=identifier)
    if isinstance(observed, InputOutcome):
        return observed
    return image_outcome(path, observed, identifier.roster, identifier.settings)


def observe_input(
    analyser: FaceAnalyser, path: Path, *, sample_fps: float, identifier: Identifier | None = None
) -> FaceObservation | InputOutcome:
    """The observation of an image (to be matched), or the finished outcome of a video or a failure.

    A video is identified whole, frame votes and all, with ``identifier``'s roster. Never raises.
    """
    from agent.faces.imaging import load_image  # noqa: PLC0415
    from agent.faces.video import is_video_path  # noqa: PLC0415

    try:
        if is_video_path(path):
            if identifier is None:
                raise RuntimeError("a video needs the roster to be identified")
            return InputOutcome(_video_line(identifier, path, sample_fps=sample_fps), Outcome.PROCESSED)
        return analyser.observe(load_image(path))
    except InputError as exc:
        return InputOutcome(error_line(path, exc.brief(str(path)), exc.hint), Outcome.UNREADABLE)
    except Exception as exc:  # one odd input must not hide the results of the others
        return InputOutcome(
            error_line(path, f"unexpected failure ({type(exc).__name__}: {exc})"), Outcome.FAILED
        )


def image_outcome(
    path: Path, observation: FaceObservation, roster: Roster, settings: IdentificationSettings
) -> InputOutcome:
    """The line of an image whose face was observed: the observation matched against ``roster``."""
    analysis = match_observation(observation, roster, settings)
    return InputOutcome(
        {"input": str(path), "kind": "image", **analysis.as_dict(), "hint": None}, Outcome.PROCESSED
    )


def identify_many(
    settings: IdentificationSettings,
    roster: Roster | Callable[[], Roster],
    paths: Sequence[Path],
    *,
    jobs: int,
    sample_fps: float,
    start_method: StartMethod = "forkserver",
) -> Iterator[InputOutcome]:
    """Identify every file of ``paths`` with ``jobs`` processes; outcomes in input order.

    ``roster`` may be a loader: with worker processes it is called once they are busy
    (if it raises, e.g. a wrong passphrase, nothing is yielded).

    Raises:
        IdentifyWorkerError: a worker process died (the outcomes before it were yielded).
    """
    load_roster = roster if callable(roster) else (lambda: roster)
    if jobs <= 1 or len(paths) <= 1:
        identifier = Identifier(settings, load_roster())
        for path in paths:
            yield identify_input(identifier, path, sample_fps=sample_fps)
        return
    jobs = min(jobs, len(paths))
    with _worker_pool(settings, jobs, fork=_can_fork(start_method)) as pool:
        if pool is None:
            log.warning("identification worker processes cannot start; identifying in this process")
            yield from identify_many(settings, load_roster, paths, jobs=1, sample_fps=sample_fps)
            return
        yield from _in_order(pool, jobs, settings, load_roster, paths, sample_fps)


def _in_order(
    pool: ProcessPoolExecutor,
    jobs: int,
    settings: IdentificationSettings,
    load_roster: Callable[[], Roster],
    paths: Sequence[Path],
    sample_fps: float,
) -> Iterator[InputOutcome]:
    """Submit inputs ahead (bounded), load the roster meanwhile, yield the lines in input order."""
    from agent.faces.video import is_video_path  # noqa: PLC0415

    roster: Roster | None = None
    in_flight: deque[tuple[Path, Future[FaceObservation | InputOutcome]]] = deque()
    pending = iter(paths)
    try:
        while True:
            while len(in_flight) <= 2 * jobs:  # bounded read-ahead
                path = next(pending, None)
                if path is None:
                    break
                if is_video_path(path):
                    roster = roster or load_roster()
                    in_flight.append((path, pool.submit(_identify_video_in_worker, path, sample_fps, roster)))
                else:
                    in_flight.append((path, pool.submit(_observe_in_worker, path)))
            if not in_flight:
                return
            roster = roster or load_roster()  # the workers have work meanwhile
            path, task = in_flight.popleft()
            observed = task.result()
            if isinstance(observed, InputOutcome):
                yield observed
            else:
                yield image_outcome(path, observed, roster, settings)
    except BrokenProcessPool:
        raise IdentifyWorkerError(
            "an identification worker process died",
            hint="retry with --jobs 1 to see which input causes it",
        ) from None
    finally:
        for _, task in in_flight:
            task.cancel()


# -- worker processes ---------------------------------------------------------------------------------

_worker_analyser: FaceAnalyser | None = None


def _can_fork(start_method: StartMethod) -> bool:
    return (
        start_method == "fork"
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
    )


@contextlib.contextmanager
def _worker_pool(
    settings: IdentificationSettings, jobs: int, *, fork: bool
) -> Iterator[ProcessPoolExecutor | None]:
    """A pool whose ``jobs`` workers have started and hold the face models (None if they cannot start).

    Forked workers inherit the models loaded here once; fork-server workers load their own.
    """
    global _worker_analyser  # noqa: PLW0603 - what forked workers inherit
    if fork:
        _limit_opencv_threads()
        _worker_analyser = FaceAnalyser(settings)
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"))
    else:
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = ProcessPoolExecutor(jobs, mp_context=context, initializer=_init_worker, initargs=(settings,))
    try:
        try:
            for started in [pool.submit(_ping) for _ in range(jobs)]:
                started.result()
        except BrokenProcessPool:
            yield None
            return
        yield pool
    finally:
        pool.shutdown(cancel_futures=True)
        _worker_analyser = None


def _limit_opencv_threads() -> None:
    # Each worker is one process for one core: OpenCV's own thread pool would only
    # oversubscribe the cores (and is not to be used in a forked child).
    import cv2  # noqa: PLC0415

    cv2.setNumThreads(1)


def _init_worker(settings: IdentificationSettings) -> None:
    global _worker_analyser  # noqa: PLW0603 - per-process worker state
    _limit_opencv_threads()
    _worker_analyser = FaceAnalyser(settings)


def _ping() -> bool:
    return _worker_analyser is not None


def _analyser() -> FaceAnalyser:
    if _worker_analyser is None:  # pragma: no cover - set before any task runs
        raise RuntimeError("identification worker not initialised")
    return _worker_analyser


def _observe_in_worker(path: Path) -> FaceObservation | InputOutcome:
    return observe_input(_analyser(), path, sample_fps=0.0)


def _identify_video_in_worker(path: Path, sample_fps: float, roster: Roster) -> InputOutcome:
    analyser = _analyser()
    identifier = Identifier(analyser.settings, roster, engine=analyser.engine)
    return identify_input(identifier, path, sample_fps=sample_fps)


# -- one input ----------------------------------------------------------------------------------------


def _video_line(identifier: Identifier, path: Path, *, sample_fps: float) -> dict[str, Any]:
    from agent.faces.video import identify_video  # noqa: PLC0415

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
        "hint": None,
    }


def _empty_details() -> dict[str, Any]:
    return {"performer_id": None, "display_name": None, "distance": None, "margin": None}


def error_line(path: Path, message: str, hint: str | None = None) -> dict[str, Any]:
    """The ``identify`` line of an input that could not be identified."""
    return {"input": str(path), "decision": "error", **_empty_details(), "reason": message, "hint": hint}
