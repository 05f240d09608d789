"""The one object the session controller writes records through (its ``RecordSink``).

:class:`SessionRecorder` ties the pieces together: the rig key (created on
first use), the log writer (locked for the recorder's lifetime, torn tail
recovered on open), the durable outbox (caught up from the log on open) and,
when uploading is enabled, the background sender. ``append`` returns only
after the record is fsynced in the log; queueing for upload can fail without
losing anything, because the next start re-queues from the log.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from agent.records.errors import KeyRotationError, OutboxError, RecordError, RecordValidationError
from agent.records.key_store import RigKeyStore, open_key_store
from agent.records.keys import RigKey, load_or_create_key_in
from agent.records.log import RecordLog, TornTail
from agent.records.model import RecordDraft, utc_timestamp
from agent.records.outbox import Outbox, OutboxSender
from agent.records.settings import RecordSettings, RecordUploadSettings
from agent.records.uploader import HttpUploader, Uploader
from agent.registry_client.transport import check_ca_bundle

log = logging.getLogger(__name__)

DRAFT_INVALID_REASON = "record_draft_invalid"


def http_uploader_from_settings(
    settings: RecordUploadSettings, fallback_url: str | None = None
) -> HttpUploader:
    """An :class:`HttpUploader` for the configured registry (token from the environment).

    Raises:
        RecordError: no URL is configured.
        RegistryTLSError: the configured CA bundle cannot be loaded (checked now, not at the first upload).
    """
    url = settings.url or fallback_url
    if not url:
        raise RecordError(
            "uploading records is enabled but no registry URL is configured",
            where="[records.upload] url",
            hint="set [records.upload] url, or disable uploading",
        )
    token = os.environ.get(settings.token_env)
    if not token:
        log.warning("no registry token in $%s: uploads will be refused until it is set", settings.token_env)
    verify: bool | str = True
    if settings.ca_bundle is not None:
        check_ca_bundle(settings.ca_bundle, "records.upload.ca_bundle")
        verify = str(settings.ca_bundle)
    return HttpUploader(url, token, timeout_s=settings.timeout_s, verify=verify)


_SALVAGEABLE = (
    "record_id",
    "corrects_record_id",
    "started_at",
    "ended_at",
    "production",
    "capture_types_requested",
    "performer",
    "identification",
    "consent",
    "confirmation",
    "technician",
    "gate_events",
    "captured_files",
)


def salvage_draft(draft: RecordDraft | Mapping[str, Any], problem: str) -> RecordDraft:
    """A valid ``fault`` draft standing in for an invalid one, keeping each member that validates."""
    source = draft.model_dump(mode="json") if isinstance(draft, RecordDraft) else dict(draft)
    now = utc_timestamp()
    detail = f"The session's record draft did not fit the record schema, so this record stands in for it: {problem}"
    kept: dict[str, Any] = {
        "outcome": "fault",
        "reason_codes": [DRAFT_INVALID_REASON],
        "outcome_detail": detail[:2000],
        "started_at": now,
        "ended_at": now,
    }
    for name in _SALVAGEABLE:
        if name not in source:
            continue
        candidate = {**kept, name: source[name]}
        try:
            RecordDraft.model_validate(candidate)
        except ValidationError:
            continue
        kept = candidate
    return RecordDraft.model_validate(kept)


class SessionRecorder:
    """Signs, stores and queues session records for one rig."""

    def __init__(
        self, key: RigKey, log_writer: RecordLog, outbox: Outbox, sender: OutboxSender | None
    ) -> None:
        self.key = key
        self.log = log_writer
        self.outbox = outbox
        self._sender = sender

    @classmethod
    def open(
        cls,
        settings: RecordSettings,
        rig_id: str,
        *,
        uploader: Uploader | None = None,
        key_store: RigKeyStore | None = None,
    ) -> SessionRecorder:
        """Open the rig key, the log and the outbox; start uploading if ``uploader`` is given.

        Args:
            key_store: where the rig key lives (default: as ``settings`` choose, see
                :func:`agent.records.key_store.open_key_store`).

        Raises:
            RigKeyError (KeyFileError, KeyStoreError, KeyRotationError), LogLockedError,
            LogCorruptError, LogWriteError, OutboxError: capture must stay locked until the
                cause is fixed.
        """
        store = key_store if key_store is not None else open_key_store(settings, rig_id)
        if store.read("next") is not None:
            # the old key may already be retired in the log: signing with it now could break the chain rule
            raise KeyRotationError(
                "a rig key rotation was started and has not finished, so no record can be signed",
                where=store.describe("next"),
                hint="finish it with: scangate keys rotate (capture stays locked until then)",
            )
        key = load_or_create_key_in(store)
        log_writer = RecordLog.open(settings.log_path, key.signer, rig_id)
        try:
            outbox = Outbox(
                settings.outbox_path,
                initial_backoff_s=settings.upload.initial_backoff_s,
                max_backoff_s=settings.upload.max_backoff_s,
            )
            outbox.catch_up(settings.log_path)
        except BaseException:
            log_writer.close()
            raise
        sender = None
        if uploader is not None:
            sender = OutboxSender(outbox, uploader)
            sender.start()
        return cls(key, log_writer, outbox, sender)

    @property
    def recovered(self) -> TornTail | None:
        """The torn tail quarantined when the log was opened, if any (show it to the technician)."""
        return self.log.recovered

    def append(self, draft: RecordDraft | Mapping[str, Any]) -> dict[str, Any]:
        """Sign and durably append one record, then queue it for upload; returns the signed record.

        A draft that does not fit the schema (a bug in its builder) must not
        cost the session its record: a ``fault`` record with reason
        ``record_draft_invalid`` is written instead, keeping every part of the
        draft that is valid on its own, and returned.
        """
        try:
            signed = self.log.append(draft)
        except RecordValidationError as exc:
            log.error("session record draft rejected (%s); writing a fault record in its place", exc.what)
            signed = self.log.append(salvage_draft(draft, exc.what))
        try:
            self.outbox.enqueue(signed)
        except OutboxError as exc:
            log.error(
                "record %s is in the log but not queued for upload (%s); queued at next start",
                signed["sequence"],
                exc.what,
            )
        if self._sender is not None:
            self._sender.notify()
        return signed

    def close(self) -> None:
        """Stop uploading (pending records stay queued) and close the log and outbox."""
        if self._sender is not None:
            self._sender.stop()
        self.outbox.close()
        self.log.close()

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
