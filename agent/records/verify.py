"""Verify a session log: every signature, the sequence, the hash chain, a checkpoint.

:func:`verify_log` streams the file (constant memory), runs the per-line
checks (:mod:`agent.records.linecheck`) in worker processes when the log is
large, feeds the results in order to :class:`agent.records.chain.ChainChecker`
and returns a :class:`Verdict` naming each problem with its line and sequence
number. Problem codes are stable (docs/records.md lists them).
"""

from __future__ import annotations

import hashlib
import logging
import multiprocessing
import os
import threading
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.chain import ChainChecker, ChainIssue
from agent.records.errors import LogUnreadableError, RecordError
from agent.records.keys import trusted_keys
from agent.records.linecheck import LineResult, LineStatus, check_batch
from agent.records.liveness_evidence import NOT_RECORDED, OFF, SYNTHETIC, LivenessFlag
from agent.records.log import PENDING_SUFFIX, quarantine_files, read_lines
from agent.records.retention import PAST_DESTROY_BY, today_utc
from agent.records.retirement import RetirementChecker
from agent.signing import raw_public_bytes
from agent.wire.base import format_utc
from agent.wire.session_records import Checkpoint

log = logging.getLogger(__name__)

BATCH_LINES = 256
"""Lines sent to a worker process at a time."""
SERIAL_BATCH_LINES = 64
"""Lines checked at a time in the calling process: all read, then all signatures (:func:`check_batch`)."""
StartMethod = Literal["fork", "forkserver"]
"""How worker processes start: ``fork`` is fastest but only safe in a process without other threads
(the command line); ``forkserver`` is safe anywhere (the review window runs verification in a thread)."""
PARALLEL_MIN_BYTES: dict[StartMethod, int] = {"fork": 1024 * 1024, "forkserver": 16 * 1024 * 1024}
"""Logs smaller than this (about 280 and 4,600 records of 3.6 kB) are checked in the calling process."""
MAX_PROBLEMS_KEPT = 1000


class ProblemCode(StrEnum):
    """Stable names of everything verification can find wrong."""

    MODIFIED_RECORD = "modified_record"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    MISSING_RECORD = "missing_record"
    REORDERED_RECORDS = "reordered_records"
    DUPLICATED_RECORD = "duplicated_record"
    CONFLICTING_RECORD = "conflicting_record"
    BROKEN_CHAIN = "broken_chain"
    TRUNCATED_TAIL = "truncated_tail"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    TORN_LINE = "torn_line"
    MALFORMED_RECORD = "malformed_record"
    RIG_MISMATCH = "rig_mismatch"
    QUARANTINE_MISMATCH = "quarantine_mismatch"
    RETIRED_KEY = "retired_key"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the log, where it is, in plain language."""

    code: ProblemCode
    message: str
    line: int | None = None
    sequence: int | None = None


@dataclass(frozen=True)
class Notice:
    """Something a reviewer should know that does not make the log untrustworthy."""

    code: str
    message: str
    line: int | None = None
    sequence: int | None = None


@dataclass
class Verdict:
    """The outcome of verifying one log."""

    log: str
    lines: int = 0
    records: int = 0
    authentic_records: int = 0
    first_sequence: int | None = None
    last_sequence: int | None = None
    last_hash: str | None = None
    rig_ids: list[str] = field(default_factory=list)
    key_ids: dict[str, int] = field(default_factory=dict)
    trusted_key_ids: list[str] = field(default_factory=list)
    checkpoint: dict[str, Any] | None = None
    problems: list[Problem] = field(default_factory=list)
    problem_counts: dict[str, int] = field(default_factory=dict)
    problems_not_listed: int = 0
    notices: list[Notice] = field(default_factory=list)
    flagged_sessions: int = 0
    """Authentic records listing a capture the gate refused, quarantined or saw outside an unlock."""
    synthetic_liveness_sessions: int = 0
    """Authentic records whose liveness was the demo's synthetic stand-in (never evidence)."""
    liveness_off_sessions: int = 0
    """Authentic records made with liveness switched off in the rig's configuration."""
    liveness_not_recorded_sessions: int = 0
    """Authentic face-identified records with no liveness member (written before liveness was checked)."""
    past_destroy_by_sessions: int = 0
    """Authentic records listing clean captures whose consent's destroy_by date is over at ``as_of``."""
    as_of: str = ""
    """The date (YYYY-MM-DD, UTC calendar) destroy_by dates were judged against."""

    @property
    def liveness_flag_counts(self) -> dict[str, int]:
        """Authentic records whose face identification is not evidence of a live person, by notice code."""
        counts = {
            SYNTHETIC.code: self.synthetic_liveness_sessions,
            OFF.code: self.liveness_off_sessions,
            NOT_RECORDED.code: self.liveness_not_recorded_sessions,
        }
        return {code: count for code, count in counts.items() if count}

    @property
    def intact(self) -> bool:
        """True when verification found no problem at all."""
        return not self.problem_counts

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``scangate verify --json``)."""
        data = asdict(self)
        data["intact"] = self.intact
        data["problems"] = [{**asdict(p), "code": str(p.code)} for p in self.problems]
        return data


class _Collector:
    def __init__(self, verdict: Verdict) -> None:
        self.verdict = verdict
        self._counts: Counter[str] = Counter()

    def problem(self, code: ProblemCode, message: str, line: int | None, sequence: int | None) -> None:
        self._counts[code] += 1
        if len(self.verdict.problems) < MAX_PROBLEMS_KEPT:
            self.verdict.problems.append(Problem(code, message, line, sequence))
        else:
            self.verdict.problems_not_listed += 1

    def chain_issue(self, issue: ChainIssue) -> None:
        self.problem(ProblemCode(issue.code), issue.message, issue.line, issue.sequence)

    def finish(self) -> None:
        self.verdict.problem_counts = dict(sorted(self._counts.items()))


_OK = LineStatus.OK


def _label(result: LineResult) -> str:
    return f"record {result.sequence} (line {result.line})" if result.sequence else f"line {result.line}"


def _line_problems(result: LineResult, collector: _Collector) -> None:
    """Turn a per-line result into problems (the chain checks add the rest)."""
    if result.status is _OK and not result.schema_problem and not result.not_canonical:
        return  # nearly every line: no label to format
    label = _label(result)
    line, sequence = result.line, result.sequence
    if result.status is LineStatus.TORN:
        collector.problem(ProblemCode.TORN_LINE, f"line {line} is torn: {result.detail}", line, None)
    elif result.status is LineStatus.MALFORMED:
        collector.problem(
            ProblemCode.MALFORMED_RECORD,
            f"{label} is not a usable session record: {result.detail}",
            line,
            sequence,
        )
    elif result.status is LineStatus.BAD_SIGNATURE:
        collector.problem(
            ProblemCode.BAD_SIGNATURE, f"{label} has no valid signature: {result.detail}", line, sequence
        )
    elif result.status is LineStatus.UNKNOWN_KEY:
        collector.problem(
            ProblemCode.UNKNOWN_KEY,
            f"{label} is signed by key {result.key_id}, which is not among the trusted keys",
            line,
            sequence,
        )
    elif result.status is LineStatus.MODIFIED:
        collector.problem(
            ProblemCode.MODIFIED_RECORD,
            f"{label} was changed after it was signed: its content does not match its signature by {result.key_id}",
            line,
            sequence,
        )
    if result.status is LineStatus.OK and result.schema_problem:
        collector.problem(
            ProblemCode.MALFORMED_RECORD,
            f"{label} is validly signed but does not follow the record schema: {result.schema_problem}",
            line,
            sequence,
        )
    if result.not_canonical and result.status in (LineStatus.OK, LineStatus.MODIFIED):
        collector.problem(
            ProblemCode.MALFORMED_RECORD,
            f"{label} is not stored in canonical form (RFC 8785): the line was edited or re-serialised",
            line,
            sequence,
        )


# -- per-line checks, serially or in worker processes ---------------------------------------------------

_worker_keys: dict[str, Ed25519PublicKey] = {}
_worker_check_schema = True


def _init_worker(raw_keys: list[bytes], check_schema: bool) -> None:
    global _worker_keys, _worker_check_schema  # noqa: PLW0603 - per-process worker state
    _worker_keys = trusted_keys([Ed25519PublicKey.from_public_bytes(raw) for raw in raw_keys])
    _worker_check_schema = check_schema


def _check_batch_in_worker(batch: list[tuple[int, bytes, bool]]) -> list[LineResult]:
    return check_batch(batch, _worker_keys, _worker_check_schema)


def _batches(path: Path, size: int = BATCH_LINES) -> Iterator[list[tuple[int, bytes, bool]]]:
    batch: list[tuple[int, bytes, bool]] = []
    for line in read_lines(path):
        batch.append((line.number, line.data, line.complete))
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity mask (``taskset``, a container's cpuset), else all."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):  # no affinity masks on this platform
        return os.cpu_count() or 1


def default_jobs(path: Path, start_method: StartMethod = "forkserver") -> int:
    """Processes worth checking lines in: one per usable CPU, unless the log is too small to repay them.

    Forked workers start in tens of milliseconds; a fork server first starts a
    Python that imports the verifier (about a second on a busy 2-core machine),
    which a log pays back only from some thousands of records.
    """
    try:
        size = path.stat().st_size
    except OSError:
        return 1
    cpus = usable_cpus()
    return cpus if size >= PARALLEL_MIN_BYTES[start_method] and cpus > 1 else 1


def _pool_context(start_method: StartMethod) -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    if start_method == "fork" and "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])  # workers fork from a server that has the verifier loaded
        return context
    return multiprocessing.get_context("spawn")


def _results(
    path: Path, keys: dict[str, Ed25519PublicKey], jobs: int, check_schema: bool, start_method: StartMethod
) -> Iterator[LineResult]:
    if jobs <= 1:
        for batch in _batches(path, SERIAL_BATCH_LINES):
            results = check_batch(batch, keys, check_schema)
            del batch  # one batch of lines in memory, not two while the next is read
            yield from results
        return
    raw_keys = [raw_public_bytes(key) for key in keys.values()]
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=_pool_context(start_method),
        initializer=_init_worker,
        initargs=(raw_keys, check_schema),
    ) as pool:
        try:
            pool.submit(_check_batch_in_worker, []).result()
        except BrokenProcessPool:
            # workers cannot start here (e.g. a host whose __main__ cannot be re-imported)
            log.warning("verification worker processes cannot start; checking in this process")
            yield from _results(path, keys, 1, check_schema, start_method)
            return
        in_flight: deque[Future[list[LineResult]]] = deque()
        try:
            for batch in _batches(path):
                in_flight.append(pool.submit(_check_batch_in_worker, batch))
                if len(in_flight) > 2 * jobs:  # bounded read-ahead keeps memory constant
                    yield from in_flight.popleft().result()
            while in_flight:
                yield from in_flight.popleft().result()
        except BrokenProcessPool:
            raise RecordError(
                "a verification worker process died", where=str(path), hint="retry with --jobs 1"
            ) from None
        finally:
            for future in in_flight:
                future.cancel()


# -- the whole verification ----------------------------------------------------------------------------


def verify_log(
    path: Path,
    keys: dict[str, Ed25519PublicKey],
    *,
    checkpoint: Checkpoint | None = None,
    jobs: int | None = None,
    check_schema: bool = True,
    as_of: date | None = None,
    start_method: StartMethod = "forkserver",
) -> Verdict:
    """Verify the log at ``path`` against trusted ``keys`` (by key id).

    Args:
        checkpoint: a registry checkpoint whose signature the caller has verified.
        jobs: processes checking lines (None: :func:`default_jobs`, one per usable CPU for big logs).
        check_schema: also validate each record against the session-record schema.
        as_of: the date consents' destroy_by dates are judged against (default: today, UTC).
        start_method: how worker processes start (:data:`StartMethod`; ``fork`` only from a
            process without other threads).

    Raises:
        LogUnreadableError: the file cannot be opened or read.
    """
    if not path.is_file():
        raise LogUnreadableError("no such log file", where=str(path))
    as_of = as_of or today_utc()
    verdict = Verdict(log=str(path), trusted_key_ids=sorted(keys), as_of=as_of.isoformat())
    collector = _Collector(verdict)
    chain = ChainChecker(collector.chain_issue)
    retirements = RetirementChecker(
        lambda code, message, line, sequence: collector.problem(ProblemCode(code), message, line, sequence)
    )
    if checkpoint is not None:
        chain.remember(checkpoint.sequence)
    rig_ids: Counter[str] = Counter()
    key_ids: Counter[str] = Counter()
    recoveries: dict[str, tuple[str, int, int, int | None]] = {}
    first_rig: str | None = None
    jobs = jobs if jobs is not None else default_jobs(path, start_method)
    for result in _results(path, keys, jobs, check_schema, start_method):
        verdict.lines += 1
        _line_problems(result, collector)
        if not result.placed:
            continue
        verdict.records += 1
        verdict.authentic_records += result.authentic
        if result.key_id:
            key_ids[result.key_id] += 1
        if result.rig_id:
            rig_ids[result.rig_id] += 1
            first_rig = first_rig or result.rig_id
            if result.rig_id != first_rig:
                collector.problem(
                    ProblemCode.RIG_MISMATCH,
                    f"{_label(result)} was written by rig {result.rig_id!r}, but this log belongs to {first_rig!r}",
                    result.line,
                    result.sequence,
                )
        if result.flagged_captures and result.authentic:
            verdict.flagged_sessions += 1
            verdict.notices.append(
                Notice(
                    "capture_flagged",
                    f"{_label(result)}: {result.flagged_captures} capture(s) refused or quarantined by the gate",
                    result.line,
                    result.sequence,
                )
            )
        if result.liveness_flag is not None and result.authentic:
            _liveness_notice(verdict, _LIVENESS_FLAGS[result.liveness_flag], result)
        if result.retained is not None and result.retained.past(as_of) and result.authentic:
            verdict.past_destroy_by_sessions += 1
            verdict.notices.append(
                Notice(
                    PAST_DESTROY_BY,
                    f"{_label(result)}: {result.retained.message()}",
                    result.line,
                    result.sequence,
                )
            )
        if result.recovery is not None and result.authentic:
            name, digest, length = result.recovery
            recoveries[name] = (digest, length, result.line, result.sequence)
        rotation = retirements.add(result)
        if rotation is not None and result.rotation is not None:
            verdict.notices.append(
                Notice(
                    "key_rotated",
                    f"{_label(result)}: the rig's key {result.rotation[0]} was retired and replaced by"
                    f" {rotation.new_key_id}; records after it must be signed by the new key",
                    result.line,
                    result.sequence,
                )
            )
        if verdict.first_sequence is None:
            verdict.first_sequence = result.sequence
        chain.add(result)
    chain.finish()
    verdict.last_sequence = chain.max_sequence or None
    verdict.last_hash = chain.last_hash
    verdict.rig_ids = sorted(rig_ids)
    verdict.key_ids = dict(sorted(key_ids.items()))
    if checkpoint is not None:
        _check_checkpoint(checkpoint, chain, first_rig, collector)
    _check_quarantine(path, recoveries, collector)
    collector.finish()
    return verdict


_LIVENESS_FLAGS: dict[str, LivenessFlag] = {flag.code: flag for flag in (SYNTHETIC, OFF, NOT_RECORDED)}


def _liveness_notice(verdict: Verdict, flag: LivenessFlag, result: LineResult) -> None:
    if flag is SYNTHETIC:
        verdict.synthetic_liveness_sessions += 1
    elif flag is OFF:
        verdict.liveness_off_sessions += 1
    else:
        verdict.liveness_not_recorded_sessions += 1
    verdict.notices.append(
        Notice(flag.code, f"{_label(result)}: {flag.message}", result.line, result.sequence)
    )


def _check_checkpoint(
    checkpoint: Checkpoint, chain: ChainChecker, rig_id: str | None, collector: _Collector
) -> None:
    verdict = collector.verdict
    issued_at = format_utc(checkpoint.issued_at)
    verdict.checkpoint = {
        "rig_id": checkpoint.rig_id,
        "first_sequence": checkpoint.first_sequence,
        "sequence": checkpoint.sequence,
        "record_hash": checkpoint.record_hash,
        "issued_at": issued_at,
        "registry_key_id": checkpoint.signature.key_id,
    }
    about = f"the registry's checkpoint of {issued_at} (record {checkpoint.sequence})"
    if rig_id is not None and checkpoint.rig_id != rig_id:
        collector.problem(
            ProblemCode.CHECKPOINT_MISMATCH,
            f"{about} is for rig {checkpoint.rig_id!r}, but this log belongs to {rig_id!r}",
            None,
            None,
        )
        return
    if chain.max_sequence < checkpoint.sequence:
        first_missing = chain.max_sequence + 1
        collector.problem(
            ProblemCode.TRUNCATED_TAIL,
            f"the log ends at record {chain.max_sequence}, but {about} shows the rig had written"
            f" {checkpoint.sequence}: records {first_missing}–{checkpoint.sequence} were removed from the end",
            None,
            first_missing,
        )
        return
    found = chain.hash_at.get(checkpoint.sequence)
    if found is not None and found != checkpoint.record_hash:
        collector.problem(
            ProblemCode.CHECKPOINT_MISMATCH,
            f"record {checkpoint.sequence} in the log is not the one the registry received ({about}):"
            " the log was rewritten after upload",
            None,
            checkpoint.sequence,
        )
    elif found is None:
        collector.problem(
            ProblemCode.CHECKPOINT_MISMATCH,
            f"{about} names record {checkpoint.sequence}, which is not in the log",
            None,
            checkpoint.sequence,
        )


def _sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_quarantine(
    path: Path, recoveries: dict[str, tuple[str, int, int, int | None]], collector: _Collector
) -> None:
    """Cross-check torn-tail quarantine files beside the log against recovery records."""
    try:
        present = {file.name: file for file in quarantine_files(path)}
    except OSError as exc:
        raise LogUnreadableError(
            f"cannot list the log's folder for torn-tail quarantine files: {exc.strerror or exc}",
            where=str(path.parent),
        ) from None
    for name, (digest, length, line, sequence) in recoveries.items():
        file = present.pop(name, None)
        where = f"record {sequence} (line {line})"
        if file is None:
            collector.verdict.notices.append(
                Notice(
                    "torn_tail_recovered",
                    f"{where}: the agent recovered from a crash and moved {length} torn bytes to {name};"
                    " that file is not beside the log (moved elsewhere or deleted)",
                    line,
                    sequence,
                )
            )
            continue
        try:
            actual, size = _sha256_file(file)
        except OSError as exc:
            collector.problem(
                ProblemCode.QUARANTINE_MISMATCH,
                f"{where} says {length} torn bytes were moved to {name}, but that file cannot be read"
                f" ({exc.strerror or exc}), so nothing shows they were kept unchanged",
                line,
                sequence,
            )
            continue
        if actual != digest or size != length:
            collector.problem(
                ProblemCode.QUARANTINE_MISMATCH,
                f"{where} says {length} torn bytes with SHA-256 {digest[:16]}… were moved to {name}, but that"
                f" file now holds {size} bytes with SHA-256 {actual[:16]}…",
                line,
                sequence,
            )
        else:
            collector.verdict.notices.append(
                Notice(
                    "torn_tail_recovered",
                    f"{where}: the agent recovered from a crash; the {length} torn bytes of the interrupted"
                    f" write are in {name} (hash matches)",
                    line,
                    sequence,
                )
            )
    for name in sorted(present):
        if name.endswith(PENDING_SUFFIX):
            message = (
                f"{name} holds a torn tail whose recovery was interrupted; the agent finishes it when it"
                " next opens the log"
            )
        else:
            message = (
                f"{name} holds a torn tail moved out of the log, but no record in the log accounts for it"
            )
        collector.problem(ProblemCode.TORN_LINE, message, None, None)
