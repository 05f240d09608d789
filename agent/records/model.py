"""The session-record schema (``scangate.session-record/3``).

A caller (the session state machine) builds a :class:`RecordDraft` describing
one finished session; the log writer adds the chain fields (``schema_version``,
``rig_id``, ``sequence``, ``previous_hash``, ``written_at``, ``agent_version``),
signs it and stores it as a :class:`SessionRecord`.

Rules that keep the canonical JSON stable across implementations:
timestamps are strings (RFC 3339, UTC, ``Z``, milliseconds); hashes are
lowercase hex SHA-256; distances are numbers rounded to 4 decimals; optional
sub-objects are ``null`` when the session ended before that stage (a refusal
before identification has no ``performer``). The full field reference is in
docs/records.md.

Drafts are forgiving where the writer can make them exact (distances are
rounded, absent members take their defaults). A stored record is read strictly
by a reader derived from these models (:mod:`agent.records.stored_schema`,
used through :mod:`agent.records.reading`): no coercion, every member of its
version present at every depth, real dates, distances that already have at
most 4 decimals.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from agent.records.errors import RecordValidationError
from agent.records.field_types import (
    CaptureType,
    Distance,
    IsoDate,
    ReasonCode,
    RecordId,
    Seconds,
    Sha256Hex,
    StoredDistance,
    StoredSeconds,
    UtcTimestamp,
)
from agent.records.record_view import flagged_capture_count, is_clean_capture
from agent.records.rotation_record import KEY_ROTATED, KeyRotation
from agent.settings_base import StrictModel
from agent.signing import Signature

SCHEMA_VERSION = "scangate.session-record/3"
READABLE_SCHEMA_VERSIONS = frozenset(
    {"scangate.session-record/1", "scangate.session-record/2", SCHEMA_VERSION}
)
"""Versions a verifier reads; the log writes only :data:`SCHEMA_VERSION`."""
GENESIS_HASH = "0" * 64
"""``previous_hash`` of the first record of a log (sequence 1)."""


def utc_timestamp(moment: datetime | None = None) -> str:
    """``moment`` (default: now) as a record timestamp: ``2025-03-01T14:05:09.120Z``."""
    moment = datetime.now(UTC) if moment is None else moment
    if moment.tzinfo is None:
        raise ValueError("record timestamps need a timezone-aware datetime")
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_timestamp(text: str) -> datetime:
    """A record timestamp back as an aware UTC datetime."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def new_record_id() -> str:
    """A fresh random record id (UUID4, lowercase)."""
    return str(uuid.uuid4())


class ProductionRef(StrictModel):
    """The production the session captured for."""

    production_id: str = Field(min_length=1, max_length=128, description="Registry id of the production.")
    name: str | None = Field(None, max_length=256, description="Production name, if known.")


class PerformerRef(StrictModel):
    """The performer the session was about (as identified)."""

    performer_id: str = Field(min_length=1, max_length=128, description="Registry id of the performer.")
    display_name: str | None = Field(None, max_length=256, description="Name shown on the touchscreen.")
    minor: bool = Field(False, description="The performer is a minor (a guardian must co-confirm).")


class LivenessStep(StrictModel):
    """One step of a liveness challenge, with the numbers it was judged on."""

    step: Literal["turn-left", "turn-right", "blink"] = Field(
        description="What the performer was asked to do."
    )
    passed: bool = Field(description="Whether the step was done.")
    reason: str = Field(max_length=256, description="Why it passed or failed, in plain words.")
    evidence: dict[str, float] = Field(
        max_length=8,
        description="Measurements: 'turn' and 'planarity_residual' (turns), 'eye_ratio_baseline' and"
        " 'closed_frames' (blinks), 'unmatched_frames' (frames of the step whose face matched nobody);"
        " 4 decimals.",
    )


class LivenessAttempt(StrictModel):
    """An earlier, failed attempt at the liveness challenge (a retry followed it)."""

    attempt: int = Field(ge=1, le=10, description="Which attempt it was (1: the first).")
    passed: bool = Field(description="Whether it was passed (earlier attempts are normally failed ones).")
    completed_at: UtcTimestamp = Field(description="When it ended.")
    steps: list[LivenessStep] = Field(
        max_length=3, description="The steps asked for, in order, as far as done."
    )


class LivenessResult(StrictModel):
    """How liveness was established for a face identification (or tried before a badge + PIN one)."""

    method: Literal["challenge", "synthetic", "off"] = Field(
        description="'challenge' (steps on camera), 'synthetic' (the demo's stand-in camera: never"
        " evidence) or 'off' (switched off in the rig's configuration)."
    )
    passed: bool | None = Field(description="Whether the challenge was passed; null when none was run.")
    completed_at: UtcTimestamp | None = Field(description="When the challenge ended; null when none was run.")
    attempt: int = Field(ge=0, le=10, description="Which attempt this was (0: none was run).")
    steps: list[LivenessStep] = Field(
        max_length=3, description="The steps asked for, in order, as far as done."
    )
    model: str = Field(max_length=128, description="Landmark model and version (file hash) that judged it.")
    earlier_attempts: list[LivenessAttempt] = Field(
        max_length=10,
        description="Every attempt before this one, in order (a refused attempt is never left out).",
    )


class Identification(StrictModel):
    """How the performer was identified. No image or face template is ever stored."""

    method: Literal["face", "fallback_badge_pin", "none"] = Field(
        description="'face' (face match), 'fallback_badge_pin' (badge/QR + PIN + witness) or 'none'."
    )
    identified_at: UtcTimestamp | None = Field(None, description="When the identity was confirmed.")
    distance: Distance | None = Field(
        None, ge=0, description="Face distance to the best template (4 decimals); null when not a face match."
    )
    margin: Distance | None = Field(
        None, ge=0, description="Distance gap between best and second-best performer (4 decimals)."
    )
    frames_voted: int | None = Field(
        None, ge=0, description="Consecutive frames that agreed on the identity."
    )
    template_version: str | None = Field(
        None, max_length=128, description="Version of the enrolled template that matched."
    )
    liveness: LivenessResult | None = Field(
        None,
        description="Liveness challenge result for a face identification; for a badge + PIN"
        " identification, the challenges tried before switching to it (null when none was).",
    )
    witness_technician_id: str | None = Field(
        None, max_length=128, description="Technician who witnessed a fallback identification."
    )


class StoredIdentification(Identification):
    """:class:`Identification` as read from a signed record: distances are not rounded but checked."""

    distance: StoredDistance | None = Field(
        ge=0, description="Face distance to the best template (4 decimals); null when not a face match."
    )
    margin: StoredDistance | None = Field(
        ge=0, description="Distance gap between best and second-best performer (4 decimals)."
    )


class ConsentRef(StrictModel):
    """The registry consent the session relied on (reference, not a copy)."""

    consent_id: str = Field(min_length=1, max_length=128, description="Registry consent id.")
    version: int = Field(ge=1, description="Version of the consent record.")
    registry_key_id: str = Field(
        min_length=1, max_length=80, description="Key id of the registry key that signed the consent."
    )
    registry_signature: str = Field(
        min_length=1, max_length=200, description="The registry's signature value over the consent."
    )
    consent_hash: Sha256Hex = Field(
        description="Hash of the consent record (object hash, signature included)."
    )
    capture_types_permitted: list[CaptureType] = Field(
        default_factory=list, description="Capture types the consent permits."
    )
    valid_until: UtcTimestamp | None = Field(None, description="End of the consent's validity window.")
    destroy_by: IsoDate | None = Field(
        None,
        description="(v3) Date by which the consent says the scans must be destroyed; null if it sets none.",
    )
    source: Literal["registry", "offline_copy"] = Field(
        "registry",
        description="'registry': judged on the registry's answer; 'offline_copy': on the rig's cached copy"
        " (only where offline operation is configured).",
    )
    status_confirmed_at: UtcTimestamp | None = Field(
        None,
        description="Last time (rig clock) the registry confirmed the consent was still active; null if never.",
    )


class RegistryClock(StrictModel):
    """The rig clock's offset from the registry's signed time, as measured for this session."""

    offset_s: Seconds = Field(
        description="Registry time minus rig time, in seconds (3 decimals); positive: the rig is slow."
    )
    uncertainty_s: Seconds = Field(
        ge=0, description="Half the round trip of the measurement, in seconds (3 decimals)."
    )
    rtt_s: Seconds = Field(
        ge=0, description="Round trip of the measuring request (rig monotonic clock), seconds (3 decimals)."
    )
    measured_at: UtcTimestamp = Field(description="The registry's signed time in the measuring answer.")
    source: Literal["registry", "offline_last_known"] = Field(
        description="'registry': measured for this session; 'offline_last_known': the last offset measured."
    )
    registry_key_id: str = Field(
        pattern=r"^ed25519:[0-9a-f]{32}$",
        description="The registry key whose signature on the time statement verified.",
    )
    age_s: Seconds = Field(
        ge=0, description="Seconds between the measurement and its use (3 decimals; 0 when fresh)."
    )


class StoredRegistryClock(RegistryClock):
    """:class:`RegistryClock` as read from a signed record: seconds are not rounded but checked."""

    offset_s: StoredSeconds = Field(
        description="Registry time minus rig time, in seconds (3 decimals); positive: the rig is slow."
    )
    uncertainty_s: StoredSeconds = Field(
        ge=0, description="Half the round trip of the measurement, in seconds (3 decimals)."
    )
    rtt_s: StoredSeconds = Field(
        ge=0, description="Round trip of the measuring request (rig monotonic clock), seconds (3 decimals)."
    )
    age_s: StoredSeconds = Field(
        ge=0, description="Seconds between the measurement and its use (3 decimals; 0 when fresh)."
    )


class Confirmation(StrictModel):
    """What the performer answered on the touchscreen."""

    at: UtcTimestamp = Field(description="When the performer answered.")
    decision: Literal["confirmed", "narrowed", "declined"] = Field(
        description="'confirmed' as offered, 'narrowed' (some capture types removed) or 'declined'."
    )
    capture_types: list[CaptureType] = Field(
        default_factory=list, description="Capture types the performer confirmed (empty when declined)."
    )
    guardian_co_confirmed: bool | None = Field(
        None, description="A guardian co-confirmed (minors); null when no guardian was required."
    )
    stopped_at: UtcTimestamp | None = Field(None, description="When the performer tapped stop, if they did.")

    @model_validator(mode="after")
    def _declined_has_no_scope(self) -> Confirmation:
        if self.decision == "declined" and self.capture_types:
            raise ValueError("a declined confirmation cannot confirm capture types")
        return self


class TechnicianRef(StrictModel):
    """The technician operating the rig."""

    technician_id: str = Field(min_length=1, max_length=128, description="Technician id (badge or login).")
    name: str | None = Field(None, max_length=256, description="Technician name, if known.")


class GateEvent(StrictModel):
    """One unlock or lock of the capture gate."""

    at: UtcTimestamp = Field(description="When the gate changed state.")
    action: Literal["unlock", "lock"] = Field(description="'unlock' or 'lock'.")
    reason: ReasonCode = Field(
        description="Why, e.g. 'consent_confirmed', 'performer_stop', 'lease_expired'."
    )
    capture_types: list[CaptureType] = Field(
        default_factory=list, description="Capture types the unlock allowed (empty for a lock)."
    )


class CapturedFile(StrictModel):
    """A file the rig captured during the session."""

    name: str = Field(
        min_length=1, max_length=512, description="File name as reported by the capture backend."
    )
    sha256: Sha256Hex | None = Field(
        description="SHA-256 of the file's bytes; null when the report was refused before the file was read."
    )
    size_bytes: int = Field(ge=0, description="File size in bytes (0 when refused unread).")
    captured_at: UtcTimestamp = Field(description="When the file was captured.")
    within_unlock_window: bool = Field(description="Captured while the gate was unlocked.")
    capture_type: CaptureType | None = Field(
        None,
        description="Capture type the file was captured or reported as; null when the capture software did not say.",
    )
    quarantined: bool = Field(False, description="Moved into the session's quarantine folder.")
    flag_reason: str | None = Field(
        None,
        max_length=2000,
        description="Why the capture was refused or flagged (outside a window, type not granted, wrong hash,"
        " outside the capture folder, ...); null only for a clean capture.",
    )
    content_credentials: ContentCredentials | None = Field(
        None,
        description="(v3) Whether C2PA Content Credentials were written for the capture; null only when the"
        " capture has no file (a photo or trigger reported without one).",
    )


class ContentCredentials(StrictModel):
    """(v3) Whether the capture got C2PA Content Credentials, and where they are (docs/provenance.md)."""

    status: Literal["embedded", "sidecar", "not_written", "unknown"] = Field(
        description="'embedded' in the file, 'sidecar' (a '.c2pa' file beside it, for formats C2PA cannot"
        " embed in), 'not_written' (see reason) or 'unknown' (the agent stopped before it knew)."
    )
    manifest_label: str | None = Field(
        max_length=128,
        description="The C2PA manifest's label (urn:c2pa:...) when written; else null.",
    )
    file: str | None = Field(
        max_length=512,
        description="Name of the file holding the manifest: the capture itself when embedded, the sidecar"
        " otherwise; null when not written.",
    )
    file_sha256: Sha256Hex | None = Field(
        description="SHA-256 of that file as written (for an embedded manifest: the capture as it now lies"
        " on disk; the member sha256 stays the hash of the bytes as captured); null when not written.",
    )
    consent_assertion: bool = Field(
        description="The manifest carries the ScanGate consent assertion (false when nothing was written)."
    )
    reason: str | None = Field(
        max_length=500, description="Why credentials were not written (or are unknown); null when written."
    )


class LogRecovery(StrictModel):
    """A torn tail found when the log was opened after a crash, and where it was put."""

    quarantine_file: str = Field(
        min_length=1, max_length=255, description="Name of the file beside the log holding the torn bytes."
    )
    torn_bytes: int = Field(ge=1, description="How many bytes were moved out of the log.")
    torn_sha256: Sha256Hex = Field(description="SHA-256 of the moved bytes.")
    detected_at: UtcTimestamp = Field(description="When the torn tail was found.")


Outcome = Literal["captured", "declined", "refused", "fault", "key_rotated"]


class RecordDraft(StrictModel):
    """Everything about one session that the caller knows; the log adds the chain fields."""

    record_id: RecordId = Field(default_factory=new_record_id, description="Unique id of this record.")
    corrects_record_id: RecordId | None = Field(
        None, description="Id of an earlier record this one corrects (records are never rewritten)."
    )
    production: ProductionRef | None = Field(None, description="Production; null only for rig-level faults.")
    capture_types_requested: list[CaptureType] = Field(
        default_factory=list, description="Capture types the technician asked for."
    )
    performer: PerformerRef | None = Field(None, description="Identified performer; null if none was.")
    identification: Identification | None = Field(None, description="How the performer was identified.")
    consent: ConsentRef | None = Field(None, description="The consent relied on; null if none was found.")
    registry_clock: RegistryClock | None = Field(
        None, description="The rig clock's measured offset from registry time; null if never measured."
    )
    confirmation: Confirmation | None = Field(None, description="The performer's answer, if asked.")
    technician: TechnicianRef | None = Field(None, description="Technician operating the rig, if known.")
    gate_events: list[GateEvent] = Field(default_factory=list, description="Unlocks and locks, in order.")
    captured_files: list[CapturedFile] = Field(default_factory=list, description="Files captured.")
    outcome: Outcome = Field(
        description="'captured', 'declined', 'refused' or 'fault' (how a session ended), or (v3) 'key_rotated'"
        " (a key-rotation record: no session, see key_rotation)."
    )
    reason_codes: list[ReasonCode] = Field(
        default_factory=list, description="Why the session was refused or faulted (stable codes)."
    )
    outcome_detail: str | None = Field(None, max_length=2000, description="Plain-language explanation.")
    log_recovery: LogRecovery | None = Field(
        None, description="Set only on the fault record the log writes after quarantining a torn tail."
    )
    key_rotation: KeyRotation | None = Field(
        None,
        description="(v3) Set only on a key-rotation record (outcome 'key_rotated'): the signing key retires"
        " itself and names the key that signs every later record.",
    )
    started_at: UtcTimestamp = Field(description="When the session started.")
    ended_at: UtcTimestamp = Field(description="When the session ended.")

    @model_validator(mode="after")
    def _outcome_is_explained(self) -> RecordDraft:
        if (self.outcome == KEY_ROTATED) != (self.key_rotation is not None):
            raise ValueError("key_rotation is set exactly on a 'key_rotated' record")
        if self.outcome == KEY_ROTATED and (
            self.performer or self.identification or self.consent or self.confirmation
        ):
            raise ValueError(
                "a 'key_rotated' record is no session: it has no performer, consent or confirmation"
            )
        if self.outcome == KEY_ROTATED and (self.gate_events or self.captured_files or self.log_recovery):
            raise ValueError("a 'key_rotated' record lists no gate events, captures or log recovery")
        if self.outcome in ("refused", "fault") and not self.reason_codes:
            raise ValueError(f"a '{self.outcome}' record needs at least one reason code")
        if self.outcome == "declined" and self.confirmation is None:
            # declined on the touchscreen, or confirmed and then stopped before any capture
            raise ValueError("a 'declined' record needs the performer's confirmation answer")
        if self.ended_at < self.started_at:
            raise ValueError("ended_at is before started_at")
        return self


class SessionRecord(RecordDraft):
    """A record as stored in the log: the draft plus chain fields and the rig's signature.

    Read stored records with :func:`agent.records.reading.parse_record`: this model
    alone takes defaults for absent members; the strict reader derived from it
    (:mod:`agent.records.stored_schema`) requires exactly the members of the
    record's version.
    """

    schema_version: Literal[
        "scangate.session-record/1", "scangate.session-record/2", "scangate.session-record/3"
    ] = Field(description="Record schema version (versions 1 and 2, written before 2026-12, are still read).")
    rig_id: str = Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
        description="Rig that wrote the record.",
    )
    sequence: int = Field(ge=1, le=2**53 - 1, description="Position in the rig's log, from 1, no gaps.")
    previous_hash: Sha256Hex = Field(
        description="Object hash of the previous record (64 zeros for sequence 1)."
    )
    written_at: UtcTimestamp = Field(description="When the record was appended to the log.")
    agent_version: str = Field(min_length=1, max_length=64, description="ScanGate version that wrote it.")
    signature: Signature = Field(description="Rig key's Ed25519 signature over the rest of the record.")

    identification: StoredIdentification | None = Field(description="How the performer was identified.")
    registry_clock: StoredRegistryClock | None = Field(
        None,  # absent from version 1 records; the strict reader requires it from version 2 on
        description="The rig clock's measured offset from registry time; null if never measured.",
    )

    @model_validator(mode="after")
    def _rotation_is_signed_by_the_retired_key(self) -> SessionRecord:
        if self.key_rotation is not None and self.key_rotation.retired_key_id != self.signature.key_id:
            raise ValueError(
                f"key_rotation.retired_key_id {self.key_rotation.retired_key_id} is not the signing key"
                f" {self.signature.key_id}: only the retired key can hand over to a new one"
            )
        return self


def check_stored_record(obj: dict[str, Any], *, where: str | None = None) -> None:
    """Check a decoded JSON record strictly, as signed evidence is read, without building a model.

    One pass of the strict reader (:mod:`agent.records.stored_schema`): what the
    log writer runs on every record it signs, before writing it.

    Raises:
        RecordValidationError: listing each member that does not conform.
    """
    from agent.records.stored_schema import STORED_RECORD, describe_errors  # noqa: PLC0415 - derived from here

    try:
        STORED_RECORD.validate_python(obj, strict=True)
    except ValidationError as exc:
        raise RecordValidationError(
            f"not a valid session record: {describe_errors(exc.errors())}", where=where
        ) from None


def parse_record(obj: dict[str, Any], *, where: str | None = None) -> SessionRecord:
    """Validate a decoded JSON record strictly (:func:`check_stored_record`) and build its model.

    Raises:
        RecordValidationError: listing each member that does not conform.
    """
    check_stored_record(obj, where=where)
    try:
        return SessionRecord.model_validate(obj, strict=True)
    except ValidationError as exc:  # not expected: the strict reader accepts a subset
        raise RecordValidationError(f"not a valid session record: {exc}", where=where) from None


def validate_draft(draft: RecordDraft | Mapping[str, Any]) -> RecordDraft:
    """Accept a draft model or a plain mapping (as the session controller builds it)."""
    if isinstance(draft, RecordDraft):
        return draft
    try:
        return RecordDraft.model_validate(dict(draft))
    except ValidationError as exc:
        raise RecordValidationError(f"not a valid record draft: {exc}") from None


__all__ = [
    "GENESIS_HASH",
    "READABLE_SCHEMA_VERSIONS",
    "SCHEMA_VERSION",
    "CapturedFile",
    "Confirmation",
    "ConsentRef",
    "ContentCredentials",
    "GateEvent",
    "Identification",
    "KeyRotation",
    "LivenessResult",
    "LogRecovery",
    "PerformerRef",
    "ProductionRef",
    "RecordDraft",
    "RegistryClock",
    "SessionRecord",
    "TechnicianRef",
    "check_stored_record",
    "flagged_capture_count",  # re-exported for agent.session, which imported them from here
    "is_clean_capture",
    "new_record_id",
    "parse_record",
    "parse_timestamp",
    "utc_timestamp",
]
