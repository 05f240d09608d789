"""The start-up sequence: parts come up one by one off the GUI thread and report honestly."""

from __future__ import annotations

import functools
import threading

import pytest

from agent.errors import ScanGateError
from agent.startup import PartState, StartupProgress, StartupSequence, StartupStep


class _Seen:
    def __init__(self) -> None:
        self.progress: list[StartupProgress] = []
        self.done = threading.Event()

    def __call__(self, progress: StartupProgress) -> None:
        self.progress.append(progress)
        if progress.finished:
            self.done.set()


def _states(progress: StartupProgress) -> dict[str, PartState]:
    return {part.key: part.state for part in progress.parts}


def test_parts_start_in_order_and_report_each_state() -> None:
    ran: list[str] = []
    seen = _Seen()
    steps = [StartupStep(key, key.title(), functools.partial(ran.append, key)) for key in ("registry", "rig")]
    sequence = StartupSequence(steps, seen)
    assert _states(sequence.progress()) == {"registry": PartState.WAITING, "rig": PartState.WAITING}
    sequence.start()
    assert seen.done.wait(10)
    assert ran == ["registry", "rig"]
    assert [_states(p) for p in seen.progress] == [
        {"registry": PartState.STARTING, "rig": PartState.WAITING},
        {"registry": PartState.READY, "rig": PartState.WAITING},
        {"registry": PartState.READY, "rig": PartState.STARTING},
        {"registry": PartState.READY, "rig": PartState.READY},
    ]
    assert seen.progress[-1].ready and seen.progress[-1].failure is None
    assert all(not p.ready for p in seen.progress[:-1])


def test_a_failing_part_stops_the_sequence_and_says_what_and_what_to_do() -> None:
    ran: list[str] = []
    seen = _Seen()

    def registry() -> None:
        raise ScanGateError("the registry database is locked", where="/x/registry.sqlite3", hint="close it")

    steps = [
        StartupStep("registry", "Consent registry", registry),
        StartupStep("rig", "Rig", lambda: ran.append("rig")),
    ]
    StartupSequence(steps, seen).start()
    assert seen.done.wait(10)
    last = seen.progress[-1]
    assert ran == []
    assert not last.ready
    assert _states(last) == {"registry": PartState.FAILED, "rig": PartState.WAITING}
    assert last.failure is not None
    assert last.failure.part == "Consent registry"
    assert last.failure.what == "/x/registry.sqlite3: the registry database is locked"
    assert last.failure.hint == "close it"


def test_an_unexpected_error_is_a_failure_too_never_a_silent_ready() -> None:
    seen = _Seen()

    def broken() -> None:
        raise RuntimeError("boom")

    StartupSequence([StartupStep("rig", "Rig", broken)], seen).start()
    assert seen.done.wait(10)
    failure = seen.progress[-1].failure
    assert failure is not None
    assert "RuntimeError: boom" in failure.what
    assert failure.hint


def test_cancel_skips_the_parts_not_begun() -> None:
    gate = threading.Event()
    ran: list[str] = []
    seen = _Seen()

    def registry() -> None:
        gate.wait(10)
        ran.append("registry")

    steps = [
        StartupStep("registry", "Registry", registry),
        StartupStep("rig", "Rig", lambda: ran.append("rig")),
    ]
    sequence = StartupSequence(steps, seen)
    sequence.start()
    sequence.cancel()
    gate.set()
    assert sequence.wait(10)
    assert ran == ["registry"]
    assert not sequence.progress().ready


def test_start_twice_is_refused() -> None:
    sequence = StartupSequence([StartupStep("a", "A", lambda: None)], lambda _p: None)
    sequence.start()
    with pytest.raises(RuntimeError):
        sequence.start()
    assert sequence.wait(10)


def test_a_part_the_rig_can_run_without_is_reported_and_the_rest_still_starts() -> None:
    ran: list[str] = []
    seen = _Seen()

    def models() -> None:
        raise ScanGateError("the face models could not be loaded", hint="reinstall")

    steps = [
        StartupStep("models", "Face models", models, degraded="badge + PIN only"),
        StartupStep("rig", "Rig", functools.partial(ran.append, "rig")),
    ]
    StartupSequence(steps, seen).start()
    assert seen.done.wait(10)
    last = seen.progress[-1]
    assert ran == ["rig"]
    assert last.ready and last.failure is None
    assert _states(last) == {"models": PartState.FAILED, "rig": PartState.READY}
    (degraded,) = last.degraded
    assert degraded.part == "Face models"
    assert degraded.what == "the face models could not be loaded"
    assert degraded.hint == "badge + PIN only"
