"""Checks of one log line on its own: parse, schema, canonical form, signature, hash.

This is the per-record, order-independent half of verification, kept free of
state so that :mod:`agent.records.verify` can run it in worker processes. The
sequence and hash-chain checks, which need order, happen in the parent.

A line that is a schema-valid record in canonical form (every line ScanGate
writes) is read in one pass (:mod:`agent.records.canonical_line`); any other
line takes the general way below, which parses, canonicalises and validates
separately and names what is wrong.
"""

from __future__ import annotations

import binascii
import hashlib
import re
from enum import StrEnum
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.canonical_line import read_canonical_line
from agent.records.liveness_evidence import liveness_flag
from agent.records.model import READABLE_SCHEMA_VERSIONS
from agent.records.record_view import flagged_capture_count
from agent.records.retention import RetainedCaptures, retained_captures
from agent.records.rotation_record import rotation_facts
from agent.records.stored_schema import schema_problem_in_json
from agent.signing import (
    SIGNATURE_FIELD,
    CanonicalJsonError,
    canonical_json,
    loads_for_canonical,
    signed_payload,
)

_HEX64 = re.compile(r"[0-9a-f]{64}")
_SIGNATURE_VALUE = re.compile(r"[A-Za-z0-9_-]{86}")
_LAST_OF_EXACT_SPELLING = frozenset("AQgw")  # base64url digits 0, 16, 32, 48: the low 4 bits are zero
_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")  # urlsafe_b64decode's own steps, minus two calls


class LineStatus(StrEnum):
    """What the per-line checks concluded."""

    OK = "ok"
    TORN = "torn"
    """Not a complete JSON line (interrupted append, or garbage)."""
    MALFORMED = "malformed"
    """JSON, but not a session record we can place in the chain."""
    BAD_SIGNATURE = "bad_signature"
    """Signature member missing or malformed."""
    UNKNOWN_KEY = "unknown_key"
    """Signed by a key that is not trusted."""
    MODIFIED = "modified"
    """Well-formed signature by a trusted key that does not match the content."""


_OK, _BAD_SIGNATURE, _UNKNOWN_KEY = LineStatus.OK, LineStatus.BAD_SIGNATURE, LineStatus.UNKNOWN_KEY
_sha256 = hashlib.sha256


class LineResult(NamedTuple):
    """Everything the chain checks and the verdict need to know about one line.

    A named tuple: one is made and sent between processes for every line.
    """

    line: int
    status: LineStatus
    detail: str = ""
    sequence: int | None = None
    previous_hash: str | None = None
    record_hash: str | None = None
    record_id: str | None = None
    rig_id: str | None = None
    key_id: str | None = None
    schema_problem: str | None = None
    """Set when the record is signed correctly but violates the schema."""
    not_canonical: bool = False
    """The line's bytes differ from the record's canonical JSON (edited, re-serialised, duplicate keys)."""
    recovery: tuple[str, str, int] | None = None
    """(quarantine file, SHA-256, length) from a torn-tail recovery record."""
    flagged_captures: int = 0
    """Captures the record lists as refused, quarantined or outside an unlock window."""
    liveness_flag: str | None = None
    """Code of a :class:`agent.records.liveness_evidence.LivenessFlag` the record raises, if any."""
    retained: RetainedCaptures | None = None
    """The record's clean captures and their consent's destroy_by (judged against a date by verify)."""
    rotation: tuple[str, str] | None = None
    """(retired key id, new key id) of an authentic key-rotation record signed by the key it retires."""

    @property
    def placed(self) -> bool:
        """Whether the record has the sequence and hash fields to take part in chain checks."""
        return self.sequence is not None and self.previous_hash is not None and self.record_hash is not None

    @property
    def authentic(self) -> bool:
        """Signed by a trusted key over exactly this content."""
        return self.status is LineStatus.OK


def _decode_signature(value: str) -> bytes | None:
    """The 64 signature bytes, or None unless ``value`` is their exact base64url spelling.

    Strict on purpose: a lenient decoder accepts several spellings of the same
    bytes, which would let the (hashed) record text change while the
    signature still verifies. 86 characters carry 516 bits for 512: the exact
    spelling is the one whose last character leaves the 4 spare bits zero.
    """
    if value[-1:] not in _LAST_OF_EXACT_SPELLING or not _SIGNATURE_VALUE.fullmatch(value):
        return None
    return binascii.a2b_base64(value.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"==")


def _record_hash(data: bytes, payload: bytes, record: dict[str, Any], fast_domain: bool) -> tuple[str, bool]:
    """The record's object hash, and whether ``data`` is exactly its canonical JSON.

    The hash is SHA-256 of the canonical JSON of the whole record. Lines
    written by ScanGate *are* that canonical JSON, so instead of serialising
    the record a second time this checks that the line is the (already
    computed) canonical payload with the canonical ``"signature"`` member
    inserted where sorting puts it; then the line's own bytes are hashed. Any
    other line takes the general path (canonicalise the whole record). Sound
    because the payload is canonical and the parsed top level holds the
    signature, so a single insertion can only sit between top-level members,
    and the key that follows it is checked to be the next one in sort order.
    """
    signature = record.get(SIGNATURE_FIELD)
    if fast_domain and isinstance(signature, dict):
        member = b',"signature":' + canonical_json(signature, fast_domain=True)
        keys = sorted(record)  # ASCII keys in the fast domain: code-point order is RFC 8785 order
        position = keys.index(SIGNATURE_FIELD)
        if position > 0:
            after = (
                b"," + canonical_json(keys[position + 1], fast_domain=True) + b":"
                if position + 1 < len(keys)
                else b"}"
            )
            at = data.find(member)
            if (
                at > 0
                and len(data) == len(payload) + len(member)
                and data[:at] == payload[:at]
                and data[at + len(member) :] == payload[at:]
                and payload.startswith(after, at)
            ):
                return hashlib.sha256(data).hexdigest(), True
    whole = canonical_json(record, fast_domain=fast_domain)
    return hashlib.sha256(whole).hexdigest(), whole == data


def _chain_fields(line: int, record: dict[str, Any]) -> LineResult | tuple[int, str, str | None, str | None]:
    sequence = record.get("sequence")
    previous_hash = record.get("previous_hash")
    version = record.get("schema_version")
    if not isinstance(version, str) or version not in READABLE_SCHEMA_VERSIONS:
        return LineResult(line, LineStatus.MALFORMED, f"unsupported schema_version {version!r}")
    if type(sequence) is not int or sequence < 1:
        return LineResult(line, LineStatus.MALFORMED, "no valid sequence number")
    if not isinstance(previous_hash, str) or not _HEX64.fullmatch(previous_hash):
        return LineResult(line, LineStatus.MALFORMED, "no valid previous_hash", sequence=sequence)
    record_id = record.get("record_id")
    rig_id = record.get("rig_id")
    return (
        sequence,
        previous_hash,
        record_id if isinstance(record_id, str) else None,
        rig_id if isinstance(rig_id, str) else None,
    )


class _Read(NamedTuple):
    """A line read as a record that can take part in the chain, before its signature is checked."""

    record: dict[str, Any]
    payload: bytes
    """Canonical JSON of the record without its signature."""
    record_hash: str
    canonical_line: bool
    sequence: int
    previous_hash: str
    record_id: str | None
    rig_id: str | None


def _read_generally(line: int, data: bytes) -> _Read | LineResult:
    """Parse, place and canonicalise a line that the one-pass reading could not vouch for."""
    try:
        record, fast_domain = loads_for_canonical(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return LineResult(line, LineStatus.TORN, f"not JSON ({exc})" if data else "empty line")
    if not isinstance(record, dict):
        return LineResult(line, LineStatus.MALFORMED, "line is JSON but not an object")
    fields = _chain_fields(line, record)
    if isinstance(fields, LineResult):
        return fields
    sequence, previous_hash, record_id, rig_id = fields
    try:
        payload = canonical_json(signed_payload(record), fast_domain=fast_domain)
        record_hash, canonical_line = _record_hash(data, payload, record, fast_domain)
    except CanonicalJsonError as exc:
        return LineResult(line, LineStatus.MALFORMED, exc.what, sequence=sequence, record_id=record_id)
    return _Read(record, payload, record_hash, canonical_line, sequence, previous_hash, record_id, rig_id)


class _Unverified(NamedTuple):
    """A line whose verdict waits only for its Ed25519 signature (the second phase of a batch).

    Holds the facts read from the record, not the record: a batch of these stays small.
    """

    authentic: LineResult
    """The line's result if the signature holds (without ``schema_problem``, checked only then)."""
    data: bytes
    schema_valid: bool
    public_key: Ed25519PublicKey
    signature: bytes
    digest: bytes
    """SHA-256 of the signed payload: what the signature covers."""


def _before_signature(
    line: int, data: bytes, complete: bool, keys: dict[str, Ed25519PublicKey]
) -> LineResult | _Unverified:
    """Every check of a line up to its signature: the result, or what the signature check needs.

    The record's facts (liveness flag, rotation, retained captures) are read here, before the
    signature is checked, so that batches can check signatures in one phase: a fact helper
    must take any schema-valid content, including a tampered line's, without failing.
    """
    if not complete:
        detail = "line has no newline at end of file: an append was interrupted" if data else "line too long"
        return LineResult(line, LineStatus.TORN, detail)
    one_pass = read_canonical_line(data)
    if one_pass is not None:
        return _one_pass_before_signature(line, data, one_pass.record, one_pass.payload_digest, keys)
    read = _read_generally(line, data)
    if isinstance(read, LineResult):
        return read
    record = read.record
    signature = record.get("signature")
    if not isinstance(signature, dict):
        return _judged(line, read, LineStatus.BAD_SIGNATURE, "record carries no signature")
    key_id = signature.get("key_id")
    value = signature.get("value")
    raw_signature = _decode_signature(value) if isinstance(value, str) else None
    if (
        signature.get("alg") != "Ed25519"
        or set(signature) != {"alg", "key_id", "value"}
        or not isinstance(key_id, str)
        or raw_signature is None
    ):
        return _judged(line, read, LineStatus.BAD_SIGNATURE, "signature member is malformed")
    public_key = keys.get(key_id)
    if public_key is None:
        return _judged(line, read, LineStatus.UNKNOWN_KEY, f"signed by untrusted key {key_id}", key_id)
    authentic = _authentic(
        line, record, read.sequence, read.previous_hash, read.record_hash, read.record_id, read.rig_id, key_id,
        not_canonical=not read.canonical_line,
    )  # fmt: skip
    digest = _sha256(read.payload).digest()
    return _Unverified(authentic, data, False, public_key, raw_signature, digest)


def _one_pass_before_signature(
    line: int, data: bytes, record: dict[str, Any], payload_digest: bytes, keys: dict[str, Ed25519PublicKey]
) -> LineResult | _Unverified:
    """:func:`_before_signature` for a line read in one pass (nearly every line), in fewer steps.

    The line is the canonical JSON of a schema-valid record, so it is hashed as it
    is, and every member has its schema type: the chain fields are set, and the
    signature is ``{"alg": "Ed25519", "key_id": ..., "value": ...}`` with both
    patterns checked. Only what the schema cannot say is checked here: the exact
    spelling of the signature value, and whether its key is trusted.
    tests/records/test_canonical_line.py holds the result equal to the general way's.
    """
    sequence, previous_hash = record["sequence"], record["previous_hash"]
    record_hash = _sha256(data).hexdigest()
    record_id, rig_id, signature = record["record_id"], record["rig_id"], record["signature"]
    raw_signature = _decode_signature(signature["value"])
    if raw_signature is None:
        return LineResult(
            line, _BAD_SIGNATURE, "signature member is malformed", sequence, previous_hash, record_hash,
            record_id, rig_id,
        )  # fmt: skip
    key_id = signature["key_id"]
    public_key = keys.get(key_id)
    if public_key is None:
        return LineResult(
            line, _UNKNOWN_KEY, f"signed by untrusted key {key_id}", sequence, previous_hash, record_hash,
            record_id, rig_id, key_id,
        )  # fmt: skip
    authentic = _authentic(
        line, record, sequence, previous_hash, record_hash, record_id, rig_id, key_id, not_canonical=False
    )
    return _Unverified(authentic, data, True, public_key, raw_signature, payload_digest)


def _authentic(
    line: int,
    record: dict[str, Any],
    sequence: int,
    previous_hash: str,
    record_hash: str,
    record_id: str | None,
    rig_id: str | None,
    key_id: str,
    *,
    not_canonical: bool,
) -> LineResult:
    """The line's result if its signature holds, with the facts the verdict reports read from ``record``
    (one place for both ways of reading a line)."""
    flag = liveness_flag(record)
    facts = rotation_facts(record)
    return LineResult(
        line,
        _OK,
        "",
        sequence,
        previous_hash,
        record_hash,
        record_id,
        rig_id,
        key_id,
        None,
        not_canonical,
        _recovery_info(record.get("log_recovery")),
        flagged_capture_count(record.get("captured_files")),
        None if flag is None else flag.code,
        retained_captures(record),
        (facts.retired_key_id, facts.new_key_id) if facts and facts.retired_key_id == key_id else None,
    )


def _after_signature(unverified: _Unverified, check_schema: bool) -> LineResult:
    """The result of a line once its signature is checked."""
    ok = unverified.authentic
    try:
        unverified.public_key.verify(unverified.signature, unverified.digest)
    except InvalidSignature:
        return LineResult(
            ok.line,
            LineStatus.MODIFIED,
            f"content does not match its signature by {ok.key_id}",
            ok.sequence,
            ok.previous_hash,
            ok.record_hash,
            ok.record_id,
            ok.rig_id,
            ok.key_id,
            not_canonical=ok.not_canonical,
        )
    if check_schema and not unverified.schema_valid:
        return ok._replace(schema_problem=schema_problem_in_json(unverified.data))
    return ok


def check_line(
    line: int,
    data: bytes,
    complete: bool,
    keys: dict[str, Ed25519PublicKey],
    *,
    check_schema: bool = True,
) -> LineResult:
    """Check one line of a log.

    Args:
        line: 1-based line number (for reporting).
        data: the line's bytes without the newline.
        complete: False when the line had no newline (end of file) or was overlong.
        keys: trusted public keys by key id.
        check_schema: also validate the record against the pydantic schema.
    """
    checked = _before_signature(line, data, complete, keys)
    return checked if isinstance(checked, LineResult) else _after_signature(checked, check_schema)


def _judged(line: int, read: _Read, status: LineStatus, detail: str, key_id: str | None = None) -> LineResult:
    """The result for a placed record whose signature does not make it authentic."""
    return LineResult(
        line,
        status,
        detail,
        read.sequence,
        read.previous_hash,
        read.record_hash,
        read.record_id,
        read.rig_id,
        key_id,
        not_canonical=not read.canonical_line,
    )


def _recovery_info(recovery: Any) -> tuple[str, str, int] | None:
    if not isinstance(recovery, dict):
        return None
    length = recovery.get("torn_bytes")
    return (
        str(recovery.get("quarantine_file")),
        str(recovery.get("torn_sha256")),
        length if type(length) is int else 0,
    )


def check_batch(
    batch: list[tuple[int, bytes, bool]], keys: dict[str, Ed25519PublicKey], check_schema: bool
) -> list[LineResult]:
    """Check a batch of (line number, bytes, complete) lines; results in order, as :func:`check_line` gives them.

    In two phases: every line is read first, then every signature is checked.
    Reading (pydantic-core, Python) and Ed25519 (OpenSSL's tables) each evict the
    other's working set from the CPU caches; one after the other, line by line,
    they ran ~10 % slower in all (docs/performance.md, goal 3).
    """
    checked = [_before_signature(number, data, complete, keys) for number, data, complete in batch]
    return [
        result if isinstance(result, LineResult) else _after_signature(result, check_schema)
        for result in checked
    ]
