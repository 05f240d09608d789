"""What the session controller needs from the rest of ScanGate, as small interfaces.

The controller is wired to real implementations in one place (the composition
root: the ``run``/``demo`` commands). Each port names the facts the engine needs
and nothing more, so the engine can be exercised with real registry, gate and
log objects in tests without knowing how they are built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from agent.session.model import ConsentCheck, IdentificationMethod
from agent.wire.consent import ConsentRecord


@dataclass(frozen=True)
class ConsentAnswer:
    """The answer to "may this performer be captured for these types now?".

    ``check`` is the policy's decision adapted for the state machine; ``record``
    the signed consent it was made on (shown to the performer and referenced in
    the session record), or None when no consent was found.
    """

    check: ConsentCheck
    record: ConsentRecord | None


class ConsentService(Protocol):
    """Looks up and evaluates a performer's consent (registry client + policy)."""

    def lookup(
        self, performer_id: str, capture_types: frozenset[str], method: IdentificationMethod
    ) -> ConsentAnswer:
        """Fetch the performer's consents for this production and evaluate them.

        Raises:
            ScanGateError: the registry is unavailable or answered something invalid;
                the controller turns this into a fault (capture stays locked).
        """
        ...


class FallbackVerifier(Protocol):
    """Checks a badge/QR code and PIN with the registry (non-biometric fallback)."""

    def verify(self, badge_code: str, pin: str) -> tuple[str, str]:
        """Return (performer_id, display_name) for a valid badge + PIN.

        Raises:
            ScanGateError: the code/PIN is wrong or the registry cannot be reached.
        """
        ...


class RecordSink(Protocol):
    """Appends a signed session record (the log) and queues it for upload."""

    def append(self, draft: Mapping[str, Any]) -> Mapping[str, Any]:
        """Sign, append and fsync one record; return the stored (signed) record."""
        ...
