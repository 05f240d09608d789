"""Order-dependent checks of a log: sequence numbers and the hash chain.

Fed the per-line results in file order, :class:`ChainChecker` names what is
wrong with the *order* of records, each problem once:

- a gap in the sequence that never fills: ``missing_record``;
- a gap filled later in the file: ``reordered_records``;
- the same record twice: ``duplicated_record``;
- two different, validly signed records with one sequence number:
  ``conflicting_record`` (history rewritten by someone holding the rig key);
- a record whose ``previous_hash`` is not the hash of the record before it,
  when neither is already reported as modified: ``broken_chain``.

Memory stays small on long logs: full entries (hash, line, authenticity) of the
last ``window`` records (4,096, ~1 MB) are kept for the messages, gaps are kept as
ranges, and the record hash of *every* sequence number is kept as 32 raw bytes
(:class:`_HashBook`; 3.2 MB per 100,000 records, measured), so a second record at a
used sequence number is told apart from a repeat, and a moved record's hash link is
checked, however far away its counterpart is (the message then names no line).
"""

from __future__ import annotations

import bisect
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.records.linecheck import LineResult
from agent.records.model import GENESIS_HASH

DEFAULT_WINDOW = 4096
"""Records whose line numbers are kept for messages (~1 MB); the hash book answers for older ones."""


@dataclass(frozen=True)
class ChainIssue:
    """One order problem, before it is turned into a user-facing problem."""

    code: str
    message: str
    line: int | None
    sequence: int | None


@dataclass(slots=True)
class _Seen:
    record_hash: str
    line: int
    authentic: bool


class _Gaps:
    """Sequence numbers not seen (yet), as sorted disjoint inclusive ranges."""

    def __init__(self) -> None:
        self._starts: list[int] = []
        self._ranges: list[tuple[int, int, int]] = []  # (first, last, line where the gap was noticed)

    def add(self, first: int, last: int, line: int) -> None:
        index = bisect.bisect_left(self._starts, first)
        self._starts.insert(index, first)
        self._ranges.insert(index, (first, last, line))

    def take(self, sequence: int) -> bool:
        """Remove ``sequence`` from the gaps; True if it was missing."""
        index = bisect.bisect_right(self._starts, sequence) - 1
        if index < 0:
            return False
        first, last, line = self._ranges[index]
        if sequence > last:
            return False
        del self._starts[index]
        del self._ranges[index]
        if sequence < last:
            self.add(sequence + 1, last, line)
        if first < sequence:
            self.add(first, sequence - 1, line)
        return True

    def __iter__(self) -> Iterator[tuple[int, int, int]]:
        return iter(self._ranges)


class _HashBook:
    """The record hash of every sequence number seen, 32 bytes each.

    Logs are written 1, 2, 3, ...: the hashes of a run of sequence numbers are
    packed into one bytearray (32 bytes per record, no per-entry objects). A
    short jump forward is padded with empty slots, which a reordered record may
    fill later; a far jump (a forged or damaged sequence number) starts a new run.
    """

    _EMPTY = bytes(32)
    MAX_PADDING = 4096
    """Largest gap padded inside a run (128 KiB of empty slots)."""

    def __init__(self) -> None:
        self._bases: list[int] = []
        self._runs: list[bytearray] = []
        self._first_not_authentic: set[int] = set()

    def _run_at(self, sequence: int) -> int:
        """Index of the run with the highest base at or below ``sequence``; -1 if none."""
        return bisect.bisect_right(self._bases, sequence) - 1

    def get(self, sequence: int) -> tuple[bytes, bool] | None:
        """(hash, authentic) of the first record seen at ``sequence``, or None."""
        index = self._run_at(sequence)
        if index < 0:
            return None
        offset = (sequence - self._bases[index]) * 32
        digest = bytes(self._runs[index][offset : offset + 32])
        if len(digest) < 32 or digest == self._EMPTY:
            return None
        return digest, sequence not in self._first_not_authentic

    def put(self, sequence: int, digest: bytes, authentic: bool) -> None:
        """Keep the hash of the first record seen at ``sequence``."""
        if not authentic:
            self._first_not_authentic.add(sequence)
        index = self._run_at(sequence)
        if index >= 0:
            run = self._runs[index]
            offset = (sequence - self._bases[index]) * 32
            if offset < len(run):
                run[offset : offset + 32] = digest
                return
            padding = (offset - len(run)) // 32
            if padding <= self.MAX_PADDING:  # the next run's base is above sequence, so no overlap
                run += self._EMPTY * padding + digest
                return
        self._bases.insert(index + 1, sequence)
        self._runs.insert(index + 1, bytearray(digest))


class ChainChecker:
    """Streaming sequence and hash-chain checks over placed records."""

    def __init__(self, report: Callable[[ChainIssue], None], *, window: int = DEFAULT_WINDOW) -> None:
        self._report = report
        self._window = window
        self._seen: OrderedDict[int, _Seen] = OrderedDict()
        self._gaps = _Gaps()
        self._hashes = _HashBook()
        self._waiting_for_parent: dict[int, tuple[str, int, int, bool]] = {}
        self.max_sequence = 0
        self.max_sequence_line = 0
        self.hash_at: dict[int, str] = {}
        """Hashes recorded for the sequences registered with :meth:`remember`."""
        self._remember: set[int] = set()
        self.last_hash: str | None = None

    def remember(self, sequence: int) -> None:
        """Keep the hash of ``sequence`` whatever the window (e.g. a checkpoint's)."""
        self._remember.add(sequence)

    def add(self, result: LineResult) -> None:
        """Process one placed record (``result.placed`` must be true)."""
        assert result.sequence is not None and result.record_hash is not None
        assert result.previous_hash is not None
        sequence, line = result.sequence, result.line
        earlier = self._seen.get(sequence)
        if earlier is not None:
            self._repeat(result, earlier)
            return
        if sequence <= self.max_sequence:
            if self._gaps.take(sequence):
                self._issue(
                    "reordered_records",
                    f"record {sequence} comes after record {self.max_sequence} (line"
                    f" {self.max_sequence_line}): records are out of order",
                    result,
                )
            else:
                self._repeat_beyond_window(result)
                return
        else:
            if sequence > self.max_sequence + 1:
                self._gaps.add(self.max_sequence + 1, sequence - 1, line)
            self.max_sequence = sequence
            self.max_sequence_line = line
            self.last_hash = result.record_hash
        self._store(result)
        self._check_parent_link(result)
        self._check_child_link(result)

    def _repeat(self, result: LineResult, earlier: _Seen) -> None:
        if earlier.record_hash == result.record_hash:
            self._issue(
                "duplicated_record",
                f"record {result.sequence} appears twice: line {result.line} repeats line {earlier.line}",
                result,
            )
        elif earlier.authentic and result.authentic:
            self._issue(
                "conflicting_record",
                f"two different records carry sequence {result.sequence} (lines {earlier.line} and"
                f" {result.line}), both validly signed: the log was rewritten by someone holding the key",
                result,
            )
        # else: the copy that fails its signature is already reported by the line checks

    def _repeat_beyond_window(self, result: LineResult) -> None:
        assert result.sequence is not None and result.record_hash is not None
        first = self._hashes.get(result.sequence)
        if first is None:  # not reachable: every sequence up to the highest is seen or a gap
            return
        digest, first_authentic = first
        if digest == bytes.fromhex(result.record_hash):
            self._issue(
                "duplicated_record",
                f"record {result.sequence} appears again at line {result.line}, long after its first"
                f" occurrence (more than {self._window} records earlier)",
                result,
            )
        elif first_authentic and result.authentic:
            self._issue(
                "conflicting_record",
                f"two different records carry sequence {result.sequence} (line {result.line} and one more"
                f" than {self._window} records earlier), both validly signed: the log was rewritten by"
                " someone holding the key",
                result,
            )
        # else: the copy that fails its signature is already reported by the line checks

    def _store(self, result: LineResult) -> None:
        assert result.sequence is not None and result.record_hash is not None
        self._hashes.put(result.sequence, bytes.fromhex(result.record_hash), result.authentic)
        self._seen[result.sequence] = _Seen(result.record_hash, result.line, result.authentic)
        if len(self._seen) > self._window:
            self._seen.popitem(last=False)
        if result.sequence in self._remember:
            self.hash_at[result.sequence] = result.record_hash

    def _check_parent_link(self, result: LineResult) -> None:
        assert result.sequence is not None and result.previous_hash is not None
        if result.sequence == 1:
            if result.previous_hash != GENESIS_HASH and result.authentic:
                self._issue(
                    "broken_chain",
                    "record 1 does not start a chain: its previous_hash is not 64 zeros (records before"
                    " it were removed, or it was copied from another log)",
                    result,
                )
            return
        parent = self._seen.get(result.sequence - 1)
        if parent is None:
            parent = self._parent_beyond_window(result.sequence - 1)
        if parent is None:
            self._waiting_for_parent[result.sequence - 1] = (
                result.previous_hash,
                result.line,
                result.sequence,
                result.authentic,
            )
            return
        self._compare_link(result.sequence - 1, parent, result.previous_hash, result.line, result.authentic)

    def _parent_beyond_window(self, sequence: int) -> _Seen | None:
        """The first record seen at ``sequence`` if it left the window (its line is no longer known)."""
        first = self._hashes.get(sequence)
        if first is None:
            return None  # a gap: the parent has not come yet
        digest, authentic = first
        return _Seen(digest.hex(), 0, authentic)

    def _check_child_link(self, result: LineResult) -> None:
        assert result.sequence is not None
        waiting = self._waiting_for_parent.pop(result.sequence, None)
        if waiting is None:
            return
        previous_hash, child_line, _child_sequence, child_authentic = waiting
        parent = self._seen[result.sequence]
        self._compare_link(result.sequence, parent, previous_hash, child_line, child_authentic)

    def _compare_link(
        self, parent_sequence: int, parent: _Seen, previous_hash: str, child_line: int, child_authentic: bool
    ) -> None:
        if parent.record_hash == previous_hash or not (parent.authentic and child_authentic):
            return  # intact, or one side is already reported as not authentic
        where = f"line {parent.line}" if parent.line else f"more than {self._window} records earlier"
        self._report(
            ChainIssue(
                "broken_chain",
                f"record {parent_sequence + 1} (line {child_line}) does not follow record"
                f" {parent_sequence} ({where}): its previous_hash {previous_hash[:16]}… is not that"
                f" record's hash {parent.record_hash[:16]}…; both are validly signed, so records were"
                " replaced by someone holding the key",
                child_line,
                parent_sequence + 1,
            )
        )

    def _issue(self, code: str, message: str, result: LineResult) -> None:
        self._report(ChainIssue(code, message, result.line, result.sequence))

    def finish(self) -> None:
        """Report the gaps that never filled as missing records."""
        for first, last, line in self._gaps:
            span = f"record {first} is" if first == last else f"records {first}–{last} are"
            self._report(
                ChainIssue(
                    "missing_record",
                    f"{span} missing (noticed at line {line}, where the sequence jumps to {last + 1})",
                    line,
                    first,
                )
            )
