"""Reading a record's Content Credentials members for people (receipts, the review window).

Tolerant like the other display helpers: a record as read from a log, unvalidated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

WRITTEN = ("embedded", "sidecar")


@dataclass(frozen=True)
class CredentialsSummary:
    """How many of a record's files carry Content Credentials with the consent's terms."""

    files: int
    """Captured files with a ``content_credentials`` member (records before version 3 have none)."""
    with_terms: int
    """Files whose credentials were written with the ScanGate consent assertion."""
    consented_without: int
    """Consented captures whose credentials were not written or are unknown (worth a look)."""

    def text(self, whose: str = "your") -> str:
        """One line for a receipt (``whose`` 'your') or the review window ('the'); '' when the record
        says nothing about credentials."""
        if not self.files:
            return ""
        line = f"{self.with_terms} of {self.files} carry {whose} consent terms (C2PA)"
        if self.consented_without:
            line += f"; {self.consented_without} consented file(s) without"
        return line


def credentials_summary(files: object) -> CredentialsSummary:
    """Count a ``captured_files`` value's credentials (as read)."""
    entries = [e for e in files if isinstance(e, Mapping)] if isinstance(files, list) else []
    members = [e.get("content_credentials") for e in entries if "content_credentials" in e]
    clean = [
        e.get("content_credentials")
        for e in entries
        if e.get("flag_reason") is None and e.get("within_unlock_window") is True
    ]
    return CredentialsSummary(
        files=len(members),
        with_terms=sum(
            1
            for m in members
            if isinstance(m, Mapping) and m.get("status") in WRITTEN and m.get("consent_assertion")
        ),
        consented_without=sum(1 for m in clean if isinstance(m, Mapping) and m.get("status") not in WRITTEN),
    )


def describe_credentials(entry: Mapping[str, object]) -> tuple[str, bool]:
    """(text, fine) for one captured file: where its credentials are, or why there are none.

    ``fine`` is False for a consented capture without credentials (or with an unknown outcome).
    """
    member = entry.get("content_credentials")
    if "content_credentials" not in entry:
        return "", True  # a record from before version 3
    if not isinstance(member, Mapping):
        return "no file", True
    status = member.get("status")
    if status == "embedded":
        return "credentials embedded", True
    if status == "sidecar":
        return f"credentials in {member.get('file')}", True
    consented = entry.get("flag_reason") is None and entry.get("within_unlock_window") is True
    reason = member.get("reason") or ""
    label = "credentials unknown" if status == "unknown" else "no credentials"
    return f"{label}: {reason}", not consented
