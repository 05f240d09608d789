"""Durable upload outbox: every signed record reaches the registry once, in order.

The outbox is a SQLite database (WAL, ``synchronous=FULL``) beside the log.
Each record is one row keyed by its sequence number (and unique by hash):

- ``enqueue`` after the log append; ``catch_up`` at start-up re-enqueues any
  record the log has and the outbox lacks (a crash between the two, or a
  failed enqueue), so the log stays the source of truth and nothing is lost;
- ``deliver_due`` sends pending rows in sequence order. A row is marked
  delivered only after the registry confirmed it (stored, or "duplicate" for
  a retry whose first answer was lost), so a record is never lost and, the
  registry being idempotent by hash, never stored twice;
- a retryable failure (registry down, 5xx, timeout) stops the round and sets
  the head row's next attempt with exponential backoff and jitter; attempts
  and times are in the database, so backoff survives restarts. Later records
  wait behind it: the registry sees records in order;
- a permanent rejection (4xx) marks the row ``rejected`` with the reason; it
  is kept (never deleted) and later rows go on. ``requeue_rejected`` sends
  them again once the cause is fixed.

Delivered rows keep their sequence, hash and times but drop the record body.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.private_files import prepare_private_sqlite
from agent.records.errors import LogUnreadableError, OutboxError
from agent.records.log import read_last_record, read_records
from agent.records.model import utc_timestamp
from agent.records.uploader import Uploader, UploadResult, UploadStatus, record_from_json
from agent.signing import CanonicalJsonError, canonical_json, object_hash_hex

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    sequence INTEGER PRIMARY KEY,
    record_hash TEXT NOT NULL UNIQUE,
    record_id TEXT,
    body TEXT,
    status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected')),
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    http_status INTEGER,
    enqueued_at TEXT NOT NULL,
    delivered_at TEXT
);
CREATE INDEX IF NOT EXISTS entries_status ON entries (status, sequence);
"""


@dataclass(frozen=True)
class OutboxEntry:
    """One row of the outbox, as shown to operators."""

    sequence: int
    record_hash: str
    record_id: str | None
    status: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    http_status: int | None
    enqueued_at: str
    delivered_at: str | None


@dataclass(frozen=True)
class DeliveryRound:
    """What one :meth:`Outbox.deliver_due` call did."""

    delivered: int = 0
    duplicates: int = 0
    rejected: int = 0
    retry_at: float | None = None
    """Wall-clock time of the next attempt when the round stopped on a retryable failure."""
    last_error: str | None = None


@dataclass(frozen=True)
class OutboxCounts:
    """How many rows are in each state."""

    pending: int
    delivered: int
    rejected: int


class Outbox:
    """The durable queue of records waiting for the registry. Thread-safe."""

    def __init__(
        self,
        path: Path,
        *,
        initial_backoff_s: float = 2.0,
        max_backoff_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.path = path
        self._initial_backoff = initial_backoff_s
        self._max_backoff = max_backoff_s
        self._clock = clock
        self._jitter = jitter
        self._mutex = threading.Lock()
        try:
            prepare_private_sqlite(path)  # before SQLite: its -wal/-shm take the file's mode
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise OutboxError(
                f"cannot open the upload outbox: {exc}",
                where=str(path),
                hint="check [records] outbox_path and that its folder is writable",
            ) from None

    # -- filling ------------------------------------------------------------------------------------

    def enqueue(self, record: Mapping[str, Any]) -> bool:
        """Queue a signed record for upload; False if it is already queued (or delivered).

        Raises:
            OutboxError: the database cannot be written (the record stays in the log;
                :meth:`catch_up` queues it later).
        """
        body = canonical_json(dict(record)).decode("utf-8")
        record_hash = object_hash_hex(record)
        try:
            with self._mutex:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO entries (sequence, record_hash, record_id, body, status, enqueued_at)"
                    " VALUES (?, ?, ?, ?, 'pending', ?)",
                    (int(record["sequence"]), record_hash, record.get("record_id"), body, utc_timestamp()),
                )
        except sqlite3.Error as exc:
            raise OutboxError(
                f"cannot queue record {record.get('sequence')}: {exc}", where=str(self.path)
            ) from None
        if cursor.rowcount == 0:
            self._warn_if_conflicting(int(record["sequence"]), record_hash)
            return False
        return True

    def _warn_if_conflicting(self, sequence: int, record_hash: str) -> None:
        row = self._query_one("SELECT record_hash FROM entries WHERE sequence = ?", (sequence,))
        if row is not None and row[0] != record_hash:
            log.error(
                "%s: sequence %d is already queued with another hash; the log was rewritten?",
                self.path,
                sequence,
            )

    def highest_sequence(self) -> int:
        """Highest sequence number ever queued (0 if none)."""
        row = self._query_one("SELECT MAX(sequence) FROM entries", ())
        return int(row[0]) if row and row[0] is not None else 0

    def catch_up(self, log_path: Path) -> int:
        """Queue every record of the log that the outbox lacks; returns how many.

        That is a missing tail (a crash between append and queueing) and also a
        record missing in the middle (queueing it failed while later ones
        succeeded). Cheap when nothing is missing: reads only the log's last
        line, because rows are never deleted, so sequences 1..N are all queued
        exactly when there are N rows with sequence >= 1 and the highest is N.
        """
        last = read_last_record(log_path)
        newest = last.get("sequence") if last is not None else None
        row = self._query_one("SELECT COUNT(*), MAX(sequence) FROM entries WHERE sequence >= 1", ())
        rows, highest = (row[0], row[1] or 0) if row is not None else (0, 0)
        if not isinstance(newest, int) or (rows == highest and newest <= highest):
            return 0
        queued = self._sequences()
        added = 0
        for record in read_records(log_path):
            sequence = record.get("sequence")
            if not isinstance(sequence, int) or sequence < 1 or sequence in queued:
                continue
            try:
                added += self.enqueue(record)
            except CanonicalJsonError as exc:  # cannot have been signed; verification reports it
                log.warning("%s: record %d of the log is not uploadable: %s", log_path, sequence, exc.what)
            queued.add(sequence)
        if added:
            log.warning(
                "%s: queued %d record(s) the outbox had missed (crash after append?)", self.path, added
            )
        return added

    def _sequences(self) -> set[int]:
        return {row[0] for row in self._query("SELECT sequence FROM entries", ())}

    # -- delivering ---------------------------------------------------------------------------------

    def now(self) -> float:
        """The outbox's clock (wall-clock seconds; injectable for tests)."""
        return float(self._clock())

    def _backoff(self, attempts: int) -> float:
        base = min(self._max_backoff, self._initial_backoff * 2.0 ** max(0, attempts - 1))
        return base * (0.5 + 0.5 * self._jitter())  # "equal jitter": spread, never zero

    def deliver_due(self, uploader: Uploader) -> DeliveryRound:
        """Send due records in order until one must wait; safe to call from one thread at a time."""
        delivered = duplicates = rejected = 0
        while True:
            now = self._clock()
            head = self._query_one(
                "SELECT sequence, body, attempts, next_attempt_at FROM entries"
                " WHERE status = 'pending' ORDER BY sequence LIMIT 1",
                (),
            )
            if head is None:
                return DeliveryRound(delivered, duplicates, rejected)
            sequence, body, attempts, next_attempt_at = head
            # a next attempt further away than the longest backoff means the clock jumped back
            if now < next_attempt_at <= now + self._max_backoff:
                return DeliveryRound(delivered, duplicates, rejected, retry_at=next_attempt_at)
            result = self._attempt(uploader, body)
            if result.delivered:
                self._mark_delivered(sequence)
                delivered += result.status is UploadStatus.STORED
                duplicates += result.status is UploadStatus.DUPLICATE
            elif result.status is UploadStatus.REJECTED:
                self._mark_rejected(sequence, result)
                rejected += 1
                log.error("registry rejected record %d: %s (kept in the outbox)", sequence, result.detail)
            else:
                retry_at = now + self._backoff(attempts + 1)
                self._execute(
                    "UPDATE entries SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?,"
                    " http_status = ? WHERE sequence = ?",
                    (retry_at, result.detail, result.http_status, sequence),
                )
                return DeliveryRound(delivered, duplicates, rejected, retry_at, result.detail)

    def _attempt(self, uploader: Uploader, body: str) -> UploadResult:
        try:
            return uploader.upload(record_from_json(body))
        except Exception as exc:  # an uploader bug must not lose the record: retry later
            log.exception("uploader failed unexpectedly")
            return UploadResult(UploadStatus.RETRY, f"uploader error: {type(exc).__name__}: {exc}")

    def _mark_delivered(self, sequence: int) -> None:
        self._execute(
            "UPDATE entries SET status = 'delivered', body = NULL, delivered_at = ?, last_error = NULL"
            " WHERE sequence = ?",
            (utc_timestamp(), sequence),
        )

    def _mark_rejected(self, sequence: int, result: UploadResult) -> None:
        self._execute(
            "UPDATE entries SET status = 'rejected', attempts = attempts + 1, last_error = ?, http_status = ?"
            " WHERE sequence = ?",
            (result.detail, result.http_status, sequence),
        )

    def requeue_rejected(self) -> int:
        """Put rejected records back in the queue (after fixing the cause); returns how many."""
        return self._execute(
            "UPDATE entries SET status = 'pending', next_attempt_at = 0 WHERE status = 'rejected'", ()
        )

    # -- inspection ---------------------------------------------------------------------------------

    def counts(self) -> OutboxCounts:
        """Rows per state."""
        rows = dict(self._query("SELECT status, COUNT(*) FROM entries GROUP BY status", ()))
        return OutboxCounts(rows.get("pending", 0), rows.get("delivered", 0), rows.get("rejected", 0))

    def entries(self, status: str | None = None, limit: int = 100) -> list[OutboxEntry]:
        """Rows (newest last), optionally only those in ``status``."""
        query = (
            "SELECT sequence, record_hash, record_id, status, attempts, next_attempt_at, last_error,"
            " http_status, enqueued_at, delivered_at FROM entries"
        )
        params: tuple[Any, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (status,)
        query += " ORDER BY sequence LIMIT ?"
        return [OutboxEntry(*row) for row in self._query(query, (*params, limit))]

    # -- plumbing -----------------------------------------------------------------------------------

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            with self._mutex:
                return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot read the upload outbox: {exc}", where=str(self.path)) from None

    def _query_one(self, sql: str, params: tuple[Any, ...]) -> tuple[Any, ...] | None:
        rows = self._query(sql, params)
        return rows[0] if rows else None

    def _execute(self, sql: str, params: tuple[Any, ...]) -> int:
        try:
            with self._mutex:
                return self._db.execute(sql, params).rowcount
        except sqlite3.Error as exc:
            raise OutboxError(f"cannot update the upload outbox: {exc}", where=str(self.path)) from None

    def close(self) -> None:
        """Close the database."""
        with self._mutex:
            self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


class OutboxSender:
    """Background thread that drains an :class:`Outbox` through an :class:`Uploader`."""

    def __init__(self, outbox: Outbox, uploader: Uploader, *, idle_poll_s: float = 30.0) -> None:
        self._outbox = outbox
        self._uploader = uploader
        self._idle_poll = idle_poll_s
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scangate-outbox", daemon=True)
        self.last_round: DeliveryRound | None = None

    def start(self) -> None:
        """Start draining in the background."""
        self._thread.start()

    def notify(self) -> None:
        """A record was queued: try now rather than at the next poll (backoff still applies)."""
        self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current attempt; pending records stay queued for next time."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stopping.is_set():
            wait = self._idle_poll
            try:
                self.last_round = self._outbox.deliver_due(self._uploader)
                if self.last_round.retry_at is not None:
                    wait = max(0.05, min(wait, self.last_round.retry_at - self._outbox.now()))
            except (OutboxError, LogUnreadableError):
                log.exception("outbox round failed; retrying in %.0f s", wait)
            self._wake.wait(wait)
            self._wake.clear()
