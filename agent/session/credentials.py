"""Which captures get Content Credentials, and what the record says about each.

The session engine calls :meth:`CaptureCredentials.on_capture` for every capture of the
session being recorded, *after* the gate journaled it (and, on the gate's side, acknowledged
it): a consented capture with a file is handed to the signing service with a
:class:`ConsentAssertion` built from the consent the session relied on; any other capture
gets its "not written" entry at once. Outcomes come back on the signing thread and are kept
here (thread-safe) until the record is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from agent.gate.models import CaptureEvent
from agent.provenance.assertions import CONSENT_SCHEMA, ConsentAssertion
from agent.provenance.outcomes import (
    NOT_FINISHED,
    SWITCHED_OFF,
    CredentialJob,
    CredentialOutcome,
    CredentialsPort,
    not_written,
    unknown,
)
from agent.session.model import Capture, SessionContext
from agent.session.recording import default_credentials, session_record_id
from agent.signing import object_hash_hex
from agent.wire import format_utc
from agent.wire.consent import ConsentRecord

CREDENTIALS_WAIT = timedelta(seconds=10)
"""How long a session's record waits for its captures' signing to finish (signing a 24 MP JPEG
takes ~30 ms; a record written after this says ``unknown`` for the rest)."""


class CaptureCredentials:
    """Decides and collects the ``content_credentials`` of each capture of the session."""

    def __init__(
        self, port: CredentialsPort | None, rig_id: str, on_outcome: Callable[[], None] = lambda: None
    ) -> None:
        """Args: the signing service (None: not set up; consented captures say so), the rig id, and a
        callback run (on the signing thread) after each outcome is stored."""
        self._port = port
        self._rig_id = rig_id
        self._on_outcome = on_outcome
        self._lock = threading.Lock()
        self._entries: dict[str, dict[str, Any]] = {}
        self._wait_until: datetime | None = None
        if port is not None:
            port.set_listener(self._store)

    def on_capture(
        self, capture: Capture, event: CaptureEvent, ctx: SessionContext, consent: ConsentRecord | None
    ) -> None:
        """A capture of the session being recorded: sign it (consented, with a file) or say why not."""
        if not capture.clean or capture.sha256 is None or event.path is None:
            entry = default_credentials(capture)
            if entry is not None:
                self._put(capture.event_id, entry)
            return
        if self._port is None:
            self._put(capture.event_id, not_written(SWITCHED_OFF))
            return
        if consent is None or ctx.identity is None:
            self._put(capture.event_id, not_written("no consent was relied on for this capture"))
            return
        assertion = consent_assertion(capture, ctx, consent, self._rig_id)
        self._port.submit(
            CredentialJob(
                event_id=capture.event_id,
                session_id=ctx.session_id,
                path=Path(event.quarantine_path or event.path),
                sha256=capture.sha256,
                captured_at=assertion.captured_at,
                assertion=assertion,
            )
        )

    def ready_to_record(self, session_id: str, at: datetime) -> bool:
        """Whether the session's record may be written now: signing finished, or waited long enough.

        After :data:`CREDENTIALS_WAIT` the captures still being signed are given up (``unknown``).
        """
        if self._port is None or not self._port.pending(session_id):
            return True
        if self._wait_until is None:
            self._wait_until = at + CREDENTIALS_WAIT
        if at < self._wait_until:
            return False
        self._port.cancel(session_id)
        return True

    def wait(self, session_id: str, timeout: float) -> None:
        """Block until the session's signing is done or ``timeout`` passes (the agent is stopping)."""
        deadline = time.monotonic() + timeout
        while self._port is not None and self._port.pending(session_id) and time.monotonic() < deadline:
            time.sleep(0.02)

    def entries(self, ctx: SessionContext, *, final: bool = False) -> dict[str, dict[str, Any]]:
        """Outcomes so far for the session's captures; with ``final``, every consented capture still
        without one reads ``unknown`` (signing did not finish before the record)."""
        with self._lock:
            entries = {
                c.event_id: self._entries[c.event_id] for c in ctx.captures if c.event_id in self._entries
            }
        if final:
            for capture in ctx.captures:
                if capture.event_id not in entries and default_credentials(capture) is not None:
                    entries[capture.event_id] = unknown(NOT_FINISHED)
        return entries

    def recorded(self, ctx: SessionContext) -> None:
        """The session's record is written: forget its outcomes."""
        with self._lock:
            for capture in ctx.captures:
                self._entries.pop(capture.event_id, None)
        self._wait_until = None

    def _put(self, event_id: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self._entries[event_id] = entry

    def _store(self, outcome: CredentialOutcome) -> None:
        self._put(outcome.event_id, outcome.entry)
        self._on_outcome()


def consent_assertion(
    capture: Capture, ctx: SessionContext, consent: ConsentRecord, rig_id: str
) -> ConsentAssertion:
    """The ScanGate consent assertion for one consented capture (no name, no face data)."""
    assert capture.sha256 is not None and ctx.identity is not None
    return ConsentAssertion.model_validate(
        {
            "schema": CONSENT_SCHEMA,
            "consent_id": consent.consent_id,
            "consent_version": consent.version,
            "consent_hash": object_hash_hex(consent.model_dump(mode="json")),
            "document_sha256": consent.document_sha256,
            "registry_key_id": consent.signature.key_id,
            "production_id": consent.production.production_id,
            "performer_id": ctx.identity.performer_id,
            "rig_id": rig_id,
            "session_record_id": session_record_id(ctx.session_id),
            "capture_type": capture.capture_type,
            "captured_at": format_utc(capture.captured_at),
            "capture_sha256": capture.sha256,
            "capture_types_confirmed": sorted(ctx.confirmed_capture_types),
            "use_categories": list(consent.use_categories),
            "intended_use_text": consent.intended_use_text,
            "ai_training_allowed": consent.ai_training_allowed,
            "synthetic_performance_allowed": consent.synthetic_performance_allowed,
            "third_party_licensing_allowed": consent.third_party_licensing_allowed,
            "valid_until": format_utc(consent.valid_until),
            "destroy_by": consent.destroy_by.isoformat() if consent.destroy_by else None,
        }
    )
