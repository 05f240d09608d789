"""The record's ``content_credentials`` member for captures that got none (no C2PA import here).

The session engine and the journal recovery need these without loading the C2PA library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from agent.provenance.assertions import ConsentAssertion

NOT_CONSENTED = (
    "not a consented capture ({why}): Content Credentials are written only for captures made inside an"
    " unlock window, of a granted type, and not refused or quarantined"
)
SWITCHED_OFF = "content credentials are not set up on this rig (no signing service)"
UNKNOWN = "the agent stopped before it recorded whether content credentials were written"
NOT_FINISHED = "signing had not finished when the session record was written"
CANCELLED = "not signed: the session's record was written before signing started"


def not_written(reason: str) -> dict[str, Any]:
    """A ``content_credentials`` record member for a capture that got none, saying why."""
    return {
        "status": "not_written",
        "manifest_label": None,
        "file": None,
        "file_sha256": None,
        "consent_assertion": False,
        "reason": reason[:500],
    }


def unknown(reason: str = UNKNOWN) -> dict[str, Any]:
    """A ``content_credentials`` member when the agent cannot know whether they were written."""
    return {**not_written(reason), "status": "unknown"}


@dataclass(frozen=True)
class CredentialJob:
    """One consented capture to sign."""

    event_id: str
    session_id: str
    path: Path
    sha256: str
    captured_at: str
    """RFC 3339 UTC, as the manifest's ``c2pa.created`` action says it."""
    assertion: ConsentAssertion


@dataclass(frozen=True)
class CredentialOutcome:
    """What became of a job: the record's ``content_credentials`` member for its capture."""

    event_id: str
    session_id: str
    entry: dict[str, Any]


class CredentialsPort(Protocol):
    """What the session engine needs of a signing service (:class:`agent.provenance.service.CredentialsWorker`)."""

    def set_listener(self, on_done: Callable[[CredentialOutcome], None]) -> None:
        """Whom to tell each outcome (any thread)."""
        ...

    def submit(self, job: CredentialJob) -> None:
        """Queue a capture for signing; returns at once."""
        ...

    def pending(self, session_id: str) -> int:
        """How many captures of the session are queued or being signed."""
        ...

    def cancel(self, session_id: str) -> None:
        """Skip the session's captures not yet started."""
        ...
