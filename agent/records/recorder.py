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

from agent.records.errors import OutboxError, RecordError
from agent.records.keys import RigKey, load_or_create_rig_key
from agent.records.log import RecordLog, TornTail
from agent.records.model import RecordDraft
from agent.records.outbox import Outbox, OutboxSender
from agent.records.settings import RecordSettings, RecordUploadSettings
from agent.records.uploader import HttpUploader, Uploader

log = logging.getLogger(__name__)


def http_uploader_from_settings(
    settings: RecordUploadSettings, fallback_url: str | None = None
) -> HttpUploader:
    """An :class:`HttpUploader` for the configured registry (token from the environment).

    Raises:
        RecordError: no URL is configured.
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
    verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else True
    return HttpUploader(url, token, timeout_s=settings.timeout_s, verify=verify)


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
        cls, settings: RecordSettings, rig_id: str, *, uploader: Uploader | None = None
    ) -> SessionRecorder:
        """Open the rig key, the log and the outbox; start uploading if ``uploader`` is given.

        Raises:
            KeyFileError, LogLockedError, LogCorruptError, LogWriteError, OutboxError:
                capture must stay locked until the cause is fixed.
        """
        key = load_or_create_rig_key(settings.key_path)
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
        """Sign and durably append one record, then queue it for upload; returns the signed record."""
        signed = self.log.append(draft)
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
