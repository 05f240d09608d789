"""The append-only session log: one signed record per line, hash-chained.

Each line is the RFC 8785 canonical JSON of one signed :class:`SessionRecord`
followed by ``\\n``. The writer assigns ``sequence`` (1, 2, ...) and
``previous_hash`` (the object hash of the previous record, 64 zeros for the
first) itself, signs with the rig key, writes the line and fsyncs before
returning. So a record the caller got back is on disk, and a crash can only
leave a *torn last line*.

Locking: a :class:`RecordLog` holds ``<log>.lock`` (filelock) for its whole
lifetime. The chain state lives in the writer, so a second writer (another
agent process, a second rig configured with the same path) is refused at
open with :class:`LogLockedError` instead of interleaving lines.

Crash recovery (never silent): on open, bytes after the last newline (or a
last line that is not JSON) are *moved aside* to ``<log>.torn-<UTC time>``,
fsynced, the log is truncated to its intact prefix, and a signed ``fault``
record with reason ``log_torn_tail_recovered`` is appended that names the file
and the hash and length of the torn bytes. ``scangate verify`` reports that
record as a notice and cross-checks the file; a quarantine file that no record
accounts for is reported as a problem. The quarantine file is first written as
``...pending`` and renamed only after the recovery record is durable, so a
crash during recovery is completed on the next open.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import filelock

from agent import __version__
from agent.durable import O_BINARY, create_exclusive, fsync_dir, read_at, write_all
from agent.private_files import open_private, private_dir
from agent.records.errors import LogCorruptError, LogLockedError, LogUnreadableError, LogWriteError
from agent.records.model import (
    GENESIS_HASH,
    SCHEMA_VERSION,
    LogRecovery,
    RecordDraft,
    check_stored_record,
    utc_timestamp,
    validate_draft,
)
from agent.signing import SignatureError, Signer, canonical_json, object_hash_hex, verify_embedded

log = logging.getLogger(__name__)

LOG_FILE_MODE = 0o600
TORN_MARKER = ".torn-"
PENDING_SUFFIX = ".pending"
RECOVERY_REASON = "log_torn_tail_recovered"
MAX_LINE_BYTES = 1 << 20
"""Longest line the readers accept (a real record is a few kB)."""
READ_BUFFER_BYTES = 1 << 18
"""Read-ahead when streaming a log: Python's default 8 KiB holds two records, so every other line
cost a system call (verify read lines 3.7x faster with this; docs/performance.md, goal 3, sixth pass)."""

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _json(data: bytes) -> Any:
    """``json.loads``, with nesting too deep for the parser reported as ValueError like any other bad JSON."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def lock_path_for(log_path: Path) -> Path:
    """The lock file guarding ``log_path`` against a second writer."""
    return log_path.with_name(log_path.name + ".lock")


def quarantine_files(log_path: Path) -> list[Path]:
    """Torn-tail quarantine files beside ``log_path`` (complete and pending), sorted."""
    if not log_path.parent.is_dir():
        return []
    prefix = log_path.name + TORN_MARKER
    return sorted(p for p in log_path.parent.iterdir() if p.name.startswith(prefix))


@dataclass(frozen=True)
class TornTail:
    """What a writer found and moved aside when it opened a log after a crash."""

    quarantine_path: Path
    torn_bytes: int
    torn_sha256: str
    recovery_sequence: int

    def describe(self) -> str:
        """One line for logs and the technician's screen."""
        return (
            f"the session log ended in a torn line ({self.torn_bytes} bytes, interrupted write); it was"
            f" moved to {self.quarantine_path.name} and recorded as record {self.recovery_sequence}"
        )


class LogLine(NamedTuple):
    """One line read from a log file (a named tuple: ``verify`` reads millions)."""

    number: int
    """1-based line number."""
    offset: int
    """Byte offset of the line's start."""
    data: bytes
    """The line without its newline."""
    complete: bool
    """False for a last line without newline (torn) or a line longer than MAX_LINE_BYTES."""


def read_lines(path: Path) -> Iterator[LogLine]:
    """Stream the lines of a log in constant memory.

    Raises:
        LogUnreadableError: the file cannot be opened or read.
    """
    try:
        handle = open(path, "rb", buffering=READ_BUFFER_BYTES)  # noqa: SIM115 - generator keeps it open while iterating
    except OSError as exc:
        raise LogUnreadableError(f"cannot open log: {exc.strerror}", where=str(path)) from None
    with handle:
        number = 0
        offset = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as exc:
                raise LogUnreadableError(f"cannot read log: {exc.strerror}", where=str(path)) from None
            if not raw:
                return
            number += 1
            if raw.endswith(b"\n"):
                yield LogLine(number, offset, raw[:-1], True)
                offset += len(raw)
                continue
            if len(raw) <= MAX_LINE_BYTES:  # no newline before end of file: a torn tail
                yield LogLine(number, offset, raw, False)
                return
            skipped = len(raw)  # an overlong line: report it and resynchronise at its end
            while not raw.endswith(b"\n"):
                raw = handle.readline(MAX_LINE_BYTES)
                if not raw:
                    break
                skipped += len(raw)
            yield LogLine(number, offset, b"", False)
            offset += skipped


def read_records(path: Path) -> Iterator[dict[str, Any]]:
    """Stream the records of a log: its complete lines that are JSON objects, in file order.

    Torn, overlong and non-JSON lines are skipped, not repaired (``scangate
    verify`` reports them); nothing is checked beyond that.

    Raises:
        LogUnreadableError: the file cannot be opened or read.
    """
    for line in read_lines(path):
        if not line.complete:
            continue
        try:
            record = _json(line.data)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield record


def _last_two_newlines(fd: int, size: int) -> list[int]:
    """Positions of the last (up to) two newline bytes in the file, last first."""
    found: list[int] = []
    position = size
    while position > 0 and len(found) < 2:
        start = max(0, position - 65536)
        chunk = read_at(fd, position - start, start)
        index = len(chunk)
        while len(found) < 2:
            index = chunk.rfind(b"\n", 0, index)
            if index < 0:
                break
            found.append(start + index)
        position = start
    return found


def _find_tail(fd: int, size: int) -> tuple[int, int]:
    """(start of the last complete line, end of the intact prefix) of the first ``size`` bytes.

    The intact prefix ends just after the last newline; anything after it is
    a torn tail. Both are 0 when there is no complete line.
    """
    newlines = _last_two_newlines(fd, size)
    if not newlines:
        return 0, 0
    last_start = newlines[1] + 1 if len(newlines) > 1 else 0
    return last_start, newlines[0] + 1


class RecordLog:
    """Writer of one rig's session log. Use :meth:`open`; close it (or use ``with``)."""

    def __init__(self, path: Path, signer: Signer, rig_id: str, *, clock: Clock = _utc_now) -> None:
        self.path = path
        self.rig_id = rig_id
        self._signer = signer
        self._clock = clock
        self._mutex = threading.Lock()
        self._lock = filelock.FileLock(str(lock_path_for(path)), timeout=0)
        self._fd: int | None = None
        self._size = 0
        self.last_sequence = 0
        self.last_hash = GENESIS_HASH
        self._last_record: dict[str, Any] | None = None
        self.recovered: TornTail | None = None
        """Set when opening found and quarantined a torn tail."""
        self._reopen_needed = False

    @property
    def last_record(self) -> dict[str, Any] | None:
        """The log's last record (as found when opened, or as last written); None for an empty log."""
        return self._last_record

    @classmethod
    def open(cls, path: Path, signer: Signer, rig_id: str, *, clock: Clock = _utc_now) -> RecordLog:
        """Open (creating if needed) the log for appending; recovers a torn tail.

        Raises:
            LogLockedError: another process holds the log.
            LogCorruptError: the last record is unreadable, forged or another rig's.
            LogWriteError: the file cannot be created, read or repaired.
        """
        writer = cls(path, signer, rig_id, clock=clock)
        writer._open()
        return writer

    def _open(self) -> None:
        try:
            private_dir(self.path.parent)
            self._lock.acquire()
        except filelock.Timeout:
            raise LogLockedError(
                "another process is writing this session log",
                where=str(self.path),
                hint="stop the other ScanGate agent using this log, or give each rig its own log_path",
            ) from None
        except OSError as exc:
            raise LogWriteError(
                f"cannot create the log's folder or lock: {exc.strerror}", where=str(self.path)
            ) from None
        try:
            existed = self.path.exists()
            self._fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
            if not existed:
                fsync_dir(self.path.parent)
            self._recover_and_load_tail()
        except OSError as exc:
            self.close()
            raise LogWriteError(
                f"cannot open the session log: {exc.strerror}", where=str(self.path)
            ) from None
        except BaseException:
            self.close()
            raise

    # -- recovery -----------------------------------------------------------------------------------

    def _recover_and_load_tail(self) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        last_start, intact_end = _find_tail(self._fd, size)
        torn_start = intact_end
        if torn_start == size and size > 0 and not self._parses(last_start, intact_end):
            # the last line is complete but not JSON: treat it as the torn line
            torn_start = last_start
            last_start, _ = _find_tail(self._fd, last_start)
        pending = [p for p in quarantine_files(self.path) if p.name.endswith(PENDING_SUFFIX)]
        if len(pending) > 1:
            raise LogCorruptError(
                f"more than one unfinished torn-tail recovery: {', '.join(p.name for p in pending)}",
                where=str(self.path),
                hint="keep these files as evidence, run 'scangate verify' on the log and contact support",
            )
        torn = read_at(self._fd, size - torn_start, torn_start) if torn_start < size else b""
        pending_file = pending[0] if pending else None
        if pending_file is not None and torn and pending_file.read_bytes() != torn:
            raise LogCorruptError(
                f"an unfinished torn-tail recovery ({pending_file.name}) does not match the log's torn tail",
                where=str(self.path),
                hint="keep both as evidence and run 'scangate verify' on the log",
            )
        self._size = torn_start
        self._load_last_record(last_start, torn_start)
        if torn and pending_file is None:
            pending_file = self._write_pending_quarantine(torn)
        if torn:
            os.ftruncate(self._fd, torn_start)
            os.fsync(self._fd)
        if pending_file is not None:
            self._finish_recovery(pending_file)

    def _parses(self, start: int, end: int) -> bool:
        assert self._fd is not None
        try:
            _json(read_at(self._fd, end - start, start))
        except ValueError:
            return False
        return True

    def _write_pending_quarantine(self, torn: bytes) -> Path:
        stamp = self._clock().astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
        for attempt in range(100):
            suffix = "" if attempt == 0 else f"-{attempt}"
            candidate = self.path.with_name(f"{self.path.name}{TORN_MARKER}{stamp}{suffix}{PENDING_SUFFIX}")
            with contextlib.suppress(FileExistsError):
                create_exclusive(candidate, torn, LOG_FILE_MODE)
                return candidate
        raise LogWriteError("cannot name a quarantine file for the torn tail", where=str(self.path))

    def _finish_recovery(self, pending_file: Path) -> None:
        final = pending_file.with_name(pending_file.name[: -len(PENDING_SUFFIX)])
        torn = pending_file.read_bytes()
        digest = hashlib.sha256(torn).hexdigest()
        if self._last_record_recovers(final.name):
            sequence = self.last_sequence
        else:
            now = utc_timestamp(self._clock())
            draft = RecordDraft(
                outcome="fault",
                reason_codes=[RECOVERY_REASON],
                outcome_detail=(
                    "The agent stopped while writing a record (crash or power loss). The incomplete"
                    " bytes were moved out of the log, unchanged, into the quarantine file named here."
                ),
                log_recovery=LogRecovery(
                    quarantine_file=final.name, torn_bytes=len(torn), torn_sha256=digest, detected_at=now
                ),
                started_at=now,
                ended_at=now,
            )
            sequence = int(self._append_locked(draft)["sequence"])
        os.replace(pending_file, final)
        fsync_dir(self.path.parent)
        self.recovered = TornTail(final, len(torn), digest, sequence)
        log.warning("%s: %s", self.path, self.recovered.describe())

    def _last_record_recovers(self, quarantine_name: str) -> bool:
        if self._last_record is None:
            return False
        recovery = self._last_record.get("log_recovery")
        return isinstance(recovery, dict) and recovery.get("quarantine_file") == quarantine_name

    def _load_last_record(self, start: int, end: int) -> None:
        assert self._fd is not None
        if end <= start:
            return
        where = f"{self.path}:last record"
        try:
            record = _json(read_at(self._fd, end - start, start))
            sequence = record["sequence"] if isinstance(record, dict) else None
            if not isinstance(record, dict) or not isinstance(sequence, int) or sequence < 1:
                raise ValueError("no valid sequence number")
        except (ValueError, KeyError, TypeError) as exc:
            raise LogCorruptError(
                f"the last record is unreadable ({exc}); appending would chain to garbage",
                where=where,
                hint="run 'scangate verify' on the log; keep it as evidence and start a new log_path",
            ) from None
        if record.get("rig_id") != self.rig_id:
            raise LogCorruptError(
                f"the log belongs to rig {record.get('rig_id')!r}, not {self.rig_id!r}",
                where=where,
                hint="give each rig its own log_path",
            )
        signature = record.get("signature")
        key_id = signature.get("key_id") if isinstance(signature, dict) else None
        if key_id == self._signer.key_id:
            try:
                verify_embedded(record, {self._signer.key_id: self._signer.public_key})
            except SignatureError as exc:
                raise LogCorruptError(
                    f"the last record's signature does not verify ({exc.what}); it was modified",
                    where=where,
                    hint="run 'scangate verify' on the log; keep it as evidence and start a new log_path",
                ) from None
        else:
            log.warning(
                "%s: the last record was signed by key %s, not this rig's key %s (key rotated?)",
                self.path,
                key_id,
                self._signer.key_id,
            )
        self._last_record = record
        self.last_sequence = sequence
        self.last_hash = object_hash_hex(record)

    # -- appending ----------------------------------------------------------------------------------

    def append(self, draft: RecordDraft | Mapping[str, Any]) -> dict[str, Any]:
        """Sign ``draft`` as the next record and write it durably.

        Returns the signed record exactly as written (a JSON-compatible dict).

        Raises:
            RecordValidationError: the draft does not fit the schema.
            LogWriteError: the record could not be written (nothing was appended).
        """
        checked = validate_draft(draft)
        with self._mutex:
            return self._append_locked(checked)

    def _append_locked(self, draft: RecordDraft) -> dict[str, Any]:
        if self._fd is None and self._reopen_needed:
            self._reopen()
        if self._fd is None:
            raise LogWriteError("the session log is closed", where=str(self.path))
        if self._last_record is not None and self._last_record.get("record_id") == draft.record_id:
            # Already written (e.g. by a run that died before it could forget the session):
            # a record is never appended twice.
            return self._last_record
        body = draft.model_dump(mode="json")
        body.update(
            schema_version=SCHEMA_VERSION,
            rig_id=self.rig_id,
            sequence=self.last_sequence + 1,
            previous_hash=self.last_hash,
            written_at=utc_timestamp(self._clock()),
            agent_version=__version__,
        )
        signed = self._signer.sign_into(body)
        check_stored_record(signed, where=f"{self.path}: record {body['sequence']}")
        encoded = canonical_json(signed)
        offset = self._size
        try:
            write_all(self._fd, encoded + b"\n")
            os.fsync(self._fd)
        except OSError as exc:
            self._undo_partial_write(offset)
            raise LogWriteError(
                f"cannot write record {body['sequence']}: {exc.strerror}; nothing was appended",
                where=str(self.path),
                hint="free disk space or fix the storage; capture stays locked until records can be written",
            ) from None
        self._size = offset + len(encoded) + 1
        self.last_sequence = signed["sequence"]
        self.last_hash = hashlib.sha256(encoded).hexdigest()
        self._last_record = signed
        return signed

    def _undo_partial_write(self, offset: int) -> None:
        """Cut off the bytes of a failed append so the next one starts on a clean line.

        Only bytes of the failing call are removed, and the caller is told the
        record was not written; if even this fails the writer closes itself so
        the torn tail is quarantined and reported on the next open.
        """
        assert self._fd is not None
        try:
            if os.fstat(self._fd).st_size != offset:
                os.ftruncate(self._fd, offset)
                os.fsync(self._fd)
        except OSError as exc:
            # e.g. the file was made immutable or read-only: keep the lock, close the file and
            # open it again (recovering any torn tail) at the next append, once it is writable.
            log.error("%s: cannot undo a partial append (%s); will reopen the log", self.path, exc)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            self._reopen_needed = True

    def _reopen(self) -> None:
        """Open the file again after a failed append could not be undone (the lock is still held)."""
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | O_BINARY)
        except OSError as exc:
            raise LogWriteError(
                f"the session log is still not writable: {exc.strerror}",
                where=str(self.path),
                hint="make the log writable again (permissions, immutable flag, disk); the record is kept and retried",
            ) from None
        try:
            self._recover_and_load_tail()
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
            raise
        self._reopen_needed = False
        log.warning("%s: reopened the session log", self.path)

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the file and release the lock (idempotent)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None
        if self._lock.is_locked:
            self._lock.release()

    def __enter__(self) -> RecordLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def read_last_record(path: Path) -> dict[str, Any] | None:
    """The last complete record of a log (None if empty or missing), without reading it all.

    A torn tail is skipped, not repaired. Raises LogUnreadableError if the file
    exists but cannot be read or its last complete line is not a JSON object.
    """
    try:
        fd = os.open(path, os.O_RDONLY | O_BINARY)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LogUnreadableError(f"cannot open log: {exc.strerror}", where=str(path)) from None
    try:
        size = os.fstat(fd).st_size
        start, end = _find_tail(fd, size)
        if end <= start:
            return None
        record = _json(read_at(fd, end - start, start))
    except (OSError, ValueError) as exc:
        raise LogUnreadableError(f"cannot read the log's last record: {exc}", where=str(path)) from None
    finally:
        os.close(fd)
    if not isinstance(record, dict):
        raise LogUnreadableError("the log's last line is not a record", where=str(path))
    return record
