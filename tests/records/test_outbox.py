"""The durable outbox against a real HTTP server on loopback that goes down and comes back."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from agent.records.errors import OutboxError
from agent.records.outbox import Outbox
from agent.records.recorder import SessionRecorder
from agent.records.settings import RecordSettings, RecordUploadSettings
from agent.records.uploader import HttpUploader, UploadResult, UploadStatus, classify_response
from tests.records.conftest import RIG_ID
from tests.records.factories import draft_for
from tests.records.registry_stub import RegistryStub

WAIT_LIMIT_S = 60.0


@pytest.fixture
def stub() -> Iterator[RegistryStub]:
    server = RegistryStub()
    yield server
    server.down()


@pytest.fixture
def settings(tmp_path: Path) -> RecordSettings:
    return RecordSettings(
        log_path=tmp_path / "records" / "session-log.jsonl",
        key_path=tmp_path / "keys" / "rig-ed25519.pem",
        outbox_path=tmp_path / "records" / "outbox.sqlite3",
        receipts_dir=tmp_path / "receipts",
        upload=RecordUploadSettings(enabled=True, initial_backoff_s=0.05, max_backoff_s=0.4),
    )


def _wait_until(condition: Callable[[], bool], what: str) -> None:
    """Bounded wait for background delivery (fails with a message, never hangs)."""
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def _outbox(settings: RecordSettings, clock: Callable[[], float] = time.time) -> Outbox:
    return Outbox(
        settings.outbox_path,
        initial_backoff_s=settings.upload.initial_backoff_s,
        max_backoff_s=settings.upload.max_backoff_s,
        clock=clock,
        jitter=lambda: 0.5,
    )


def test_registry_down_while_100_records_are_written_then_up_all_arrive_once_in_order(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    uploader = HttpUploader(stub.url, stub.behaviour.token, timeout_s=2.0)
    recorder = SessionRecorder.open(settings, RIG_ID, uploader=uploader)
    written = [recorder.append(draft_for(index)) for index in range(60)]
    _wait_until(lambda: recorder.outbox.entries("pending", 1)[0].attempts >= 2, "failed attempts while down")
    recorder.close()  # the agent restarts while the registry is still down: nothing is lost

    recorder = SessionRecorder.open(settings, RIG_ID, uploader=HttpUploader(stub.url, stub.behaviour.token))
    written += [recorder.append(draft_for(index)) for index in range(60, 100)]
    assert recorder.outbox.counts().pending == 100
    assert stub.posts == 0

    stub.up()
    _wait_until(lambda: recorder.outbox.counts().delivered == 100, "all 100 delivered")
    recorder.close()
    assert stub.sequences() == list(range(1, 101)), "each record exactly once, in order"
    assert stub.stored == written
    assert len(set(stub.hashes)) == 100


def test_lost_answer_is_retried_and_the_record_is_stored_once(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    stub.behaviour.lose_answer_for = {2}
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    for index in range(4):
        recorder.append(draft_for(index))
    outbox, uploader = recorder.outbox, HttpUploader(stub.url, stub.behaviour.token)
    first = outbox.deliver_due(uploader)
    assert (first.delivered, first.retry_at is not None) == (1, True)
    assert first.last_error is not None and "HTTP 500" in first.last_error
    time.sleep(0.1)  # past the (0.05 s) backoff
    second = outbox.deliver_due(uploader)
    assert (second.delivered, second.duplicates, second.retry_at) == (2, 1, None)
    recorder.close()
    assert stub.sequences() == [1, 2, 3, 4]


def test_permanent_rejection_is_kept_with_its_reason_and_can_be_requeued(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    stub.behaviour.reject = {2}
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    for index in range(4):
        recorder.append(draft_for(index))
    uploader = HttpUploader(stub.url, stub.behaviour.token)
    round_ = recorder.outbox.deliver_due(uploader)
    assert (round_.delivered, round_.rejected) == (3, 1)
    [rejected] = recorder.outbox.entries("rejected")
    assert rejected.sequence == 2 and rejected.http_status == 422
    assert rejected.last_error is not None and "does not fit the schema" in rejected.last_error
    assert stub.sequences() == [1, 3, 4]

    stub.behaviour.reject = set()  # the cause was fixed on the registry
    assert recorder.outbox.requeue_rejected() == 1
    assert recorder.outbox.deliver_due(uploader).delivered == 1
    assert recorder.outbox.counts().delivered == 4
    recorder.close()


def test_conflict_is_never_counted_as_delivered(stub: RegistryStub, settings: RecordSettings) -> None:
    stub.behaviour.conflict = {1}
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    round_ = recorder.outbox.deliver_due(HttpUploader(stub.url, stub.behaviour.token))
    assert (round_.delivered, round_.duplicates, round_.rejected) == (0, 0, 1)
    [entry] = recorder.outbox.entries("rejected")
    assert entry.http_status == 409 and entry.last_error is not None and "conflict" in entry.last_error
    recorder.close()


def test_wrong_token_waits_instead_of_rejecting(stub: RegistryStub, settings: RecordSettings) -> None:
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    round_ = recorder.outbox.deliver_due(HttpUploader(stub.url, "revoked-token"))
    assert round_.retry_at is not None and round_.last_error is not None and "401" in round_.last_error
    assert recorder.outbox.counts().rejected == 0
    time.sleep(0.1)
    assert recorder.outbox.deliver_due(HttpUploader(stub.url, stub.behaviour.token)).delivered == 1
    recorder.close()


def test_slow_registry_times_out_and_is_retried(stub: RegistryStub, settings: RecordSettings) -> None:
    stub.behaviour.delay_s = 1.0
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    round_ = recorder.outbox.deliver_due(HttpUploader(stub.url, stub.behaviour.token, timeout_s=0.2))
    assert round_.retry_at is not None and round_.last_error is not None and "no answer" in round_.last_error
    recorder.close()


def test_backoff_doubles_up_to_the_cap_and_survives_a_restart(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    now = [1000.0]
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    recorder.close()
    uploader = HttpUploader(stub.url, stub.behaviour.token, timeout_s=1.0)  # stub is down: refused
    waits = []
    for _ in range(5):
        with _outbox(settings, clock=lambda: now[0]) as outbox:  # a fresh process each time
            round_ = outbox.deliver_due(uploader)
            assert round_.retry_at is not None
            waits.append(round(round_.retry_at - now[0], 4))
            early = outbox.deliver_due(uploader)  # not yet due: no attempt is made
            assert early.retry_at == round_.retry_at
            now[0] = round_.retry_at
    assert waits == [0.0375, 0.075, 0.15, 0.3, 0.3]  # 0.05 * 2**n * 0.75 (jitter 0.5), capped at 0.4 * 0.75
    with _outbox(settings) as outbox:
        assert outbox.entries("pending")[0].attempts == 5


def test_records_appended_but_not_queued_before_a_crash_are_queued_at_start(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    for index in range(1, 4):
        recorder.log.append(draft_for(index))  # appended, then "crashed" before queueing
    recorder.close()
    with _outbox(settings) as outbox:
        assert outbox.highest_sequence() == 1
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)  # open catches up from the log
    assert recorder.outbox.counts().pending == 4
    assert recorder.outbox.catch_up(settings.log_path) == 0
    recorder.outbox.deliver_due(HttpUploader(stub.url, stub.behaviour.token))
    recorder.close()
    assert stub.sequences() == [1, 2, 3, 4]


def test_a_record_missed_in_the_middle_is_queued_at_start(
    stub: RegistryStub, settings: RecordSettings
) -> None:
    """Queueing record 2 failed, but 3 and 4 were queued: the next start still queues 2."""
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    recorder.log.append(draft_for(1))  # appended; queueing it failed (disk full, database busy)
    recorder.append(draft_for(2))
    recorder.append(draft_for(3))
    assert [entry.sequence for entry in recorder.outbox.entries()] == [1, 3, 4]
    recorder.close()
    stub.up()
    recorder = SessionRecorder.open(settings, RIG_ID)
    assert [entry.sequence for entry in recorder.outbox.entries()] == [1, 2, 3, 4]
    assert recorder.outbox.catch_up(settings.log_path) == 0
    recorder.outbox.deliver_due(HttpUploader(stub.url, stub.behaviour.token))
    recorder.close()
    assert stub.sequences() == [1, 2, 3, 4]


def test_catch_up_skips_a_line_that_cannot_be_a_signed_record(settings: RecordSettings) -> None:
    settings.log_path.parent.mkdir(parents=True)
    settings.log_path.write_bytes(b'{"sequence": 1, "distance": NaN}\n{"sequence": 2}\n')
    with _outbox(settings) as outbox:
        assert outbox.catch_up(settings.log_path) == 1
        assert [entry.sequence for entry in outbox.entries()] == [2]


def test_a_damaged_outbox_database_is_a_clear_error(settings: RecordSettings) -> None:
    with _outbox(settings) as outbox:
        with sqlite3.connect(settings.outbox_path) as other:  # damaged behind the agent's back
            other.execute("DROP TABLE entries")
        with pytest.raises(OutboxError, match="cannot read the upload outbox"):
            outbox.counts()
        with pytest.raises(OutboxError, match="cannot read the upload outbox"):
            outbox.entries("rejected")


class _BrokenUploader:
    def upload(self, record: object) -> UploadResult:
        raise RuntimeError("bug in an uploader plug-in")


def test_an_uploader_bug_keeps_the_record_queued(settings: RecordSettings) -> None:
    recorder = SessionRecorder.open(settings, RIG_ID)
    recorder.append(draft_for(0))
    round_ = recorder.outbox.deliver_due(_BrokenUploader())
    assert (
        round_.retry_at is not None and round_.last_error is not None and "RuntimeError" in round_.last_error
    )
    assert recorder.outbox.counts().pending == 1
    recorder.close()


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"intake": "stored"}', UploadStatus.STORED),
        (201, b"{}", UploadStatus.STORED),
        (200, b'{"intake": "duplicate"}', UploadStatus.DUPLICATE),
        (409, b'{"duplicate": true}', UploadStatus.DUPLICATE),
        (409, b'{"error": "conflict"}', UploadStatus.REJECTED),
        (400, b'{"error": "bad"}', UploadStatus.REJECTED),
        (422, b"{}", UploadStatus.REJECTED),
        (401, b"{}", UploadStatus.RETRY),
        (429, b"{}", UploadStatus.RETRY),
        (500, b"{}", UploadStatus.RETRY),
        (503, b"down for maintenance", UploadStatus.RETRY),
    ],
)
def test_answer_classification(status: int, body: bytes, expected: UploadStatus) -> None:
    response = requests.Response()
    response.status_code = status
    response._content = body
    assert classify_response(response, "h" * 64).status is expected
