"""Signing captures on a worker thread, after the gate has journaled and acknowledged them.

Capture is never blocked or slowed by signing: the session engine hands each consented
capture to :class:`CredentialsWorker` (a queue put) and goes on. The worker signs one
file at a time and reports an outcome — the session record's ``content_credentials``
member — back to the engine. A failure of any kind (no certificate, a file changed
since capture, a C2PA error) is an outcome that says why, never an exception that could
reach the gate: signing can neither unlock anything nor lose a capture.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from agent.errors import ScanGateError
from agent.provenance.assertions import manifest_definition
from agent.provenance.certificates import ChainSource
from agent.provenance.embed import SignBytes, SigningIdentity, WrittenCredentials, write_credentials
from agent.provenance.outcomes import CANCELLED, CredentialJob, CredentialOutcome, not_written

log = logging.getLogger(__name__)


def written(credentials: WrittenCredentials, *, consent_assertion: bool) -> dict[str, Any]:
    """The ``content_credentials`` member for credentials that were written."""
    return {
        "status": credentials.mode,
        "manifest_label": credentials.manifest_label[:128],
        "file": credentials.file.name[:512],
        "file_sha256": credentials.file_sha256,
        "consent_assertion": consent_assertion,
        "reason": None,
    }


class CredentialsWorker:
    """One daemon thread that signs queued captures in order (thread-safe API)."""

    def __init__(
        self,
        *,
        rig_id: str,
        sign: SignBytes,
        certificates: ChainSource,
        on_done: Callable[[CredentialOutcome], None] | None = None,
    ) -> None:
        """Args: the rig id (in the manifest), the rig key's signing callback (``Signer.sign_bytes``),
        the certificate source, and whom to tell each outcome (may be set later with :meth:`set_listener`)."""
        self._rig_id = rig_id
        self._sign = sign
        self._certificates = certificates
        self._on_done = on_done
        self._queue: queue.Queue[CredentialJob | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}
        self._cancelled: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="scangate-credentials", daemon=True)

    def set_listener(self, on_done: Callable[[CredentialOutcome], None]) -> None:
        """Whom to tell each outcome (the session controller)."""
        self._on_done = on_done

    def start(self) -> None:
        """Start the worker thread."""
        self._thread.start()

    def submit(self, job: CredentialJob) -> None:
        """Queue a capture for signing; returns at once."""
        with self._lock:
            self._pending[job.session_id] = self._pending.get(job.session_id, 0) + 1
        self._queue.put(job)

    def pending(self, session_id: str) -> int:
        """How many captures of the session are queued or being signed."""
        with self._lock:
            return self._pending.get(session_id, 0)

    def cancel(self, session_id: str) -> None:
        """Skip the session's captures not yet started (its record was written without them)."""
        with self._lock:
            if self._pending.get(session_id):
                self._cancelled.add(session_id)

    def close(self, timeout: float = 10.0) -> None:
        """Finish the queued jobs (up to ``timeout``) and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            with self._lock:
                cancelled = job.session_id in self._cancelled
            entry = not_written(CANCELLED) if cancelled else self._sign_one(job)
            with self._lock:
                left = self._pending.get(job.session_id, 1) - 1
                if left:
                    self._pending[job.session_id] = left
                else:
                    self._pending.pop(job.session_id, None)
                    self._cancelled.discard(job.session_id)
            listener = self._on_done
            if listener is not None:
                try:
                    listener(CredentialOutcome(job.event_id, job.session_id, entry))
                except Exception:
                    log.exception("the credentials listener failed")

    def _sign_one(self, job: CredentialJob) -> dict[str, Any]:
        try:
            chain = self._certificates.current()
            result = write_credentials(
                job.path,
                expected_sha256=job.sha256,
                manifest=lambda mime: manifest_definition(
                    title=job.path.name,
                    mime_type=mime,
                    rig_id=self._rig_id,
                    captured_at=job.captured_at,
                    consent=job.assertion,
                ),
                identity=SigningIdentity(self._sign, chain.chain_pem),
            )
        except ScanGateError as exc:
            log.warning("no content credentials for %s: %s", job.path.name, exc.what)
            return not_written(exc.what)
        except Exception as exc:  # a bug must cost the credentials, never the capture or the session
            log.exception("signing %s failed", job.path)
            return not_written(f"internal error while signing: {type(exc).__name__}: {exc}")
        return written(result, consent_assertion=True)
