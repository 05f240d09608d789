"""The chain rule of key rotation during verification: a retired key signs nothing after its retirement.

A key-rotation record at sequence S, validly signed by the key it retires,
retires that key *after* S (records carry only rig time, which the rig sets, so
position in the hash chain is the only order a verifier can trust). Fed the
per-line results in file order, :class:`RetirementChecker` reports every
authentic record with a sequence above S signed by the retired key that comes
after the rotation record in the file, and — for records placed before it (a
reordered file) — the highest such record of each key; that file is already
reported as reordered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from agent.records.linecheck import LineResult

RETIRED_KEY = "retired_key"


@dataclass(frozen=True)
class Retirement:
    """Where a key was retired: the rotation record's sequence and line, and its successor."""

    sequence: int
    line: int
    new_key_id: str


Report = Callable[[str, str, int | None, int | None], None]
"""(code, message, line, sequence) of a problem."""


class RetirementChecker:
    """Streaming check of signatures by retired keys (constant memory per key)."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.retired: dict[str, Retirement] = {}
        self._highest: dict[str, tuple[int, int]] = {}
        """Highest (sequence, line) signed by each key whose retirement was not seen yet."""

    def add(self, result: LineResult) -> Retirement | None:
        """Check one authentic, placed record; returns the retirement it states, if it is a rotation record."""
        if not result.authentic or result.sequence is None or result.key_id is None:
            return None
        key_id, sequence = result.key_id, result.sequence
        retirement = self.retired.get(key_id)
        if retirement is not None and sequence > retirement.sequence:
            self._problem(key_id, retirement, sequence, result.line)
        elif retirement is None:
            highest = self._highest.get(key_id)
            if highest is None or sequence > highest[0]:
                self._highest[key_id] = (sequence, result.line)
        if result.rotation is None:
            return None
        retired_key_id, new_key_id = result.rotation
        stated = Retirement(sequence, result.line, new_key_id)
        earlier = self.retired.get(retired_key_id)
        if earlier is not None and earlier.sequence <= sequence:
            return stated  # retired already; a second rotation of the same key cannot extend its life
        self.retired[retired_key_id] = stated
        seen = self._highest.pop(retired_key_id, None)
        if seen is not None and seen[0] > sequence:
            self._problem(retired_key_id, stated, *seen)
        return stated

    def _problem(self, key_id: str, retirement: Retirement, sequence: int, line: int) -> None:
        self._report(
            RETIRED_KEY,
            f"record {sequence} (line {line}) is signed by key {key_id}, which record {retirement.sequence}"
            f" (line {retirement.line}) retired in favour of {retirement.new_key_id}: a retired key signs no"
            " record after its rotation record, so this record was made by someone still holding the old key",
            line,
            sequence,
        )
