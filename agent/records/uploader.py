"""Sending one signed record to the registry: the :class:`Uploader` protocol and its HTTP form.

The registry stores session records idempotently by record hash, so sending
the same record again is harmless: it answers "duplicate" and the outbox
treats that as delivered. A 409 *without* that meaning (the reference
registry's answer to a different record at an already-held sequence) is a
rejection, never a delivery.

How answers are classified (``POST /v1/session-records``):

====================================  ==========================================
200 / 201                             stored (or duplicate, if the body says so:
                                      ``"intake": "duplicate"``)
409 saying duplicate (same hash)      duplicate: already stored, delivered
409 otherwise                         rejected: the registry holds a *different*
                                      record at this sequence (a rewritten log)
401 / 403                             retry later: the *rig's* token is wrong or
                                      revoked, not the record; rejecting every
                                      record until someone fixes the token would
                                      only create work
408 / 425 / 429, 5xx, other statuses  retry later with backoff
connection error, timeout             retry later with backoff
other 4xx                             rejected: kept in the outbox with the reason
====================================  ==========================================
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import requests

from agent.signing import canonical_json

SESSION_RECORDS_PATH = "/v1/session-records"
ROTATE_KEY_PATH = "/v1/rigs/{rig_id}/keys/rotate"
CHECKPOINT_PATH = "/v1/rigs/{rig_id}/checkpoint"
_RETRYABLE_CLIENT_ERRORS = {408, 425, 429}
_AUTH_ERRORS = {401, 403}


class UploadStatus(StrEnum):
    """How the registry handled one upload."""

    STORED = "stored"
    DUPLICATE = "duplicate"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class UploadResult:
    """The outcome of one upload attempt."""

    status: UploadStatus
    detail: str = ""
    http_status: int | None = None

    @property
    def delivered(self) -> bool:
        """The registry holds the record (now or from an earlier attempt)."""
        return self.status in (UploadStatus.STORED, UploadStatus.DUPLICATE)


class Uploader(Protocol):
    """Something that can hand one signed record to the registry."""

    def upload(self, record: Mapping[str, Any]) -> UploadResult:
        """Send ``record``; never raises for network or server trouble (returns RETRY)."""
        ...


def _says_duplicate(response: requests.Response, record_hash: str | None) -> bool:
    """Whether the answer says the registry already holds *this* record."""
    try:
        body = response.json()
    except ValueError:
        return "duplicate" in response.text.lower()
    if not isinstance(body, dict):
        return False
    if record_hash is not None and body.get("record_hash") not in (None, record_hash):
        return False
    return (
        body.get("intake") == "duplicate"  # the reference registry's SessionRecordReceipt
        or body.get("duplicate") is True
        or body.get("status") == "duplicate"
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def classify_response(response: requests.Response, record_hash: str | None = None) -> UploadResult:
    """Map a registry answer to an :class:`UploadResult` (see the module table)."""
    code = response.status_code
    if code in (200, 201):
        if _says_duplicate(response, record_hash):
            return UploadResult(UploadStatus.DUPLICATE, "already stored", code)
        return UploadResult(UploadStatus.STORED, "stored", code)
    reason = f"HTTP {code}: {_short(response.text) or response.reason}"
    if code == 409:
        if _says_duplicate(response, record_hash):
            return UploadResult(UploadStatus.DUPLICATE, "already stored (409)", code)
        # the registry holds a *different* record for this place in the chain: evidence of a
        # rewritten log, never "delivered"
        return UploadResult(UploadStatus.REJECTED, f"conflict: {reason}", code)
    if code in _AUTH_ERRORS:
        return UploadResult(
            UploadStatus.RETRY, f"{reason} (the rig's registry token is missing, wrong or revoked)", code
        )
    if 400 <= code < 500 and code not in _RETRYABLE_CLIENT_ERRORS:
        return UploadResult(UploadStatus.REJECTED, reason, code)
    return UploadResult(UploadStatus.RETRY, reason, code)


class HttpUploader:
    """Posts records to ``<base_url>/v1/session-records`` with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str | None,
        *,
        timeout_s: float = 10.0,
        verify: bool | str = True,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + SESSION_RECORDS_PATH
        self._timeout = (min(timeout_s, 5.0), timeout_s)
        self._session = session or requests.Session()
        self._session.verify = verify
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"

    def upload(self, record: Mapping[str, Any]) -> UploadResult:
        """Post one record (as its canonical JSON); network trouble means RETRY."""
        return self._post(self.url, record)

    def _post(self, url: str, record: Mapping[str, Any]) -> UploadResult:
        body = canonical_json(dict(record))
        try:
            response = self._session.post(
                url,
                data=body,
                headers=self._headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            return UploadResult(UploadStatus.RETRY, f"no answer from {url} within {self._timeout[1]:g} s")
        except requests.RequestException as exc:
            return UploadResult(UploadStatus.RETRY, f"cannot reach {url}: {type(exc).__name__}")
        with response:
            return classify_response(response, hashlib.sha256(body).hexdigest())

    def register_rotation(self, record: Mapping[str, Any]) -> UploadResult:
        """Post a signed key-rotation record to ``/v1/rigs/{rig_id}/keys/rotate`` (classified like an upload)."""
        return self._post(self.base_url + ROTATE_KEY_PATH.format(rig_id=record["rig_id"]), record)

    def check_access(self, rig_id: str) -> str | None:
        """None when the registry answers this rig's token (its checkpoint, or 404 before any upload)."""
        url = self.base_url + CHECKPOINT_PATH.format(rig_id=rig_id)
        if "Authorization" not in self._headers:
            return "no rig token (set the environment variable named by [records.upload] token_env)"
        try:
            response = self._session.get(
                url, headers=self._headers, timeout=self._timeout, allow_redirects=False
            )
        except requests.RequestException as exc:
            return f"cannot reach {url}: {type(exc).__name__}"
        with response:
            if response.status_code in (200, 404):
                return None
            return f"HTTP {response.status_code}: {_short(response.text) or response.reason}"

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._session.close()


def record_from_json(text: str) -> dict[str, Any]:
    """Decode a stored record body."""
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError("stored record is not a JSON object")
    return value
