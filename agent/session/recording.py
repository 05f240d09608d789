"""Turning a finished session's context into the draft of its signed record."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from agent.gate.models import CaptureEvent
from agent.provenance.outcomes import NOT_CONSENTED, not_written, unknown
from agent.records.model import utc_timestamp
from agent.session.machine import outcome_of
from agent.session.model import (
    Capture,
    IdentificationMethod,
    LivenessOutcome,
    LockReason,
    Outcome,
    SessionContext,
)
from agent.signing import object_hash_hex
from agent.wire.consent import ConsentRecord

MAX_NAME_CHARS = 512
_RECORD_ID_NAMESPACE = uuid.UUID("5d0f3c1e-7a52-4c1b-9a64-2f0c6b1d8e90")  # ScanGate session records
CAPTURE_FLAGGED = "capture_flagged"
"""Reason code of a session in which the gate refused or quarantined at least one capture."""


def build_record_draft(
    ctx: SessionContext,
    *,
    production_id: str,
    consent: ConsentRecord | None,
    ended_at: datetime,
    credentials: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The JSON draft of the session's record (the log adds sequence, chain and signature).

    Args:
        ctx: the session context when the session closed.
        production_id: the rig's production (also for refusals before any consent).
        consent: the signed consent the session relied on (verified), if any.
        ended_at: when the session ended.
        credentials: each capture's ``content_credentials`` member, by capture event id, as far as
            decided (a consented capture without one reads ``unknown``).
    """
    outcome = outcome_of(ctx)
    # The identity that authorised the unlock, not whatever the last frame said.
    identity = ctx.unlock_identity or ctx.identity
    draft: dict[str, Any] = {
        "record_id": session_record_id(ctx.session_id),
        "production": {"production_id": production_id, "name": None},
        "capture_types_requested": sorted(ctx.requested_capture_types),
        "technician": {"technician_id": ctx.technician} if ctx.technician else None,
        "outcome": outcome.value,
        "reason_codes": _reason_codes(ctx, outcome),
        "outcome_detail": ctx.fault_detail,
        "started_at": utc_timestamp(ctx.started_at or ended_at),
        "ended_at": utc_timestamp(ctx.closed_at or ended_at),
        "gate_events": [_gate_event(action, at, reason, ctx) for action, at, reason in ctx.gate_events],
        "captured_files": _captured_files_of(ctx.captures, credentials or {}),
    }
    if identity is not None:
        draft["performer"] = {
            "performer_id": identity.performer_id,
            "display_name": identity.display_name or None,
            "minor": bool(consent.minor) if consent else False,  # unknown without a consent
        }
        face = identity.method is IdentificationMethod.FACE
        draft["identification"] = {
            "method": identity.method.value,
            "identified_at": utc_timestamp(identity.verified_at),
            "distance": identity.distance if face else None,
            "margin": identity.margin if face else None,
            "frames_voted": identity.frames_voted if face else None,
            "template_version": identity.template_version,
            "witness_technician_id": identity.witness,
            # A badge + PIN session keeps the challenges tried before it: they happened.
            "liveness": _liveness(ctx) if face or ctx.liveness_history else None,
        }
    if consent is not None:
        draft["consent"] = {
            "consent_id": consent.consent_id,
            "version": consent.version,
            "registry_key_id": consent.signature.key_id,
            "registry_signature": consent.signature.value,
            "consent_hash": object_hash_hex(consent.model_dump(mode="json")),
            "capture_types_permitted": [str(t) for t in consent.capture_types],
            "valid_until": utc_timestamp(consent.valid_until),
            "destroy_by": consent.destroy_by.isoformat() if consent.destroy_by else None,
            "source": "offline_copy" if ctx.consent_offline else "registry",
            "status_confirmed_at": utc_timestamp(ctx.consent_confirmed_at)
            if ctx.consent_confirmed_at
            else None,
        }
        draft["production"]["name"] = consent.production.name
    clock = ctx.consent.clock if ctx.consent is not None else None
    draft["registry_clock"] = (
        {
            "offset_s": round(clock.offset_s, 3),
            "uncertainty_s": round(clock.uncertainty_s, 3),
            "rtt_s": round(clock.rtt_s, 3),
            "measured_at": utc_timestamp(clock.measured_at),
            "source": clock.source,
            "registry_key_id": clock.registry_key_id,
            "age_s": round(clock.age_s, 3),
        }
        if clock is not None
        else None
    )
    if ctx.confirmed_at is not None or ctx.declined:
        draft["confirmation"] = _confirmation(ctx, consent)
    return draft


def session_record_id(session_id: str) -> str:
    """The id of a session's (first) record, fixed when the session opens.

    Derived from the session id, so the draft journaled during the session and the
    record finally written carry the same id: a record that is already in the log
    is recognised and never written a second time (see RecordLog.append).
    """
    return str(uuid.uuid5(_RECORD_ID_NAMESPACE, session_id))


def build_correction_draft(
    previous_draft: dict[str, Any], previous_record: dict[str, Any], capture: Capture
) -> dict[str, Any]:
    """A new record correcting ``previous_record``: the same session plus a late capture.

    Capture software and remote cameras can report a file after the session's
    record was written. The record is never rewritten; this draft repeats it with
    the capture added and names the record it corrects.
    """
    draft = copy.deepcopy(previous_draft)
    draft["record_id"] = str(uuid.uuid4())
    draft["corrects_record_id"] = previous_record["record_id"]
    late = captured_file_entry(capture)
    if capture.clean and late["content_credentials"] is not None:
        late["content_credentials"] = not_written(
            "reported after the session's record was written: no credentials (the consent is no longer at hand)"
        )
    draft["captured_files"] = [*draft.get("captured_files", []), late]
    if capture.clean and draft["outcome"] != Outcome.CAPTURED.value:
        draft["outcome"] = Outcome.CAPTURED.value
    if not capture.clean and CAPTURE_FLAGGED not in draft["reason_codes"]:
        draft["reason_codes"] = [*draft["reason_codes"], CAPTURE_FLAGGED]
    judged = "clean" if capture.clean else f"FLAGGED: {_flag_reason(capture)}"
    note = (
        f"correction of record {previous_record['record_id']}: {capture.name} was reported after the"
        f" record was written ({judged})"
    )
    draft["outcome_detail"] = (
        note if not draft.get("outcome_detail") else f"{draft['outcome_detail']}; {note}"
    )
    return draft


def _reason_codes(ctx: SessionContext, outcome: Outcome) -> list[str]:
    codes = list(ctx.refusal_codes) + [r.value for r in ctx.lock_reasons]
    if any(not c.clean for c in ctx.captures):
        codes.append(CAPTURE_FLAGGED)
    if outcome is Outcome.FAULT and LockReason.FAULT.value not in codes:
        codes.append(LockReason.FAULT.value)
    return list(dict.fromkeys(codes))  # de-duplicated, order kept


def _gate_event(action: str, at: datetime, reason: str, ctx: SessionContext) -> dict[str, Any]:
    unlock = action == "unlock"
    return {
        "at": utc_timestamp(at),
        "action": action,
        "reason": reason,
        "capture_types": sorted(ctx.confirmed_capture_types) if unlock else [],
    }


def _captured_files_of(
    captures: tuple[Capture, ...], credentials: Mapping[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    """Every capture the gate saw, refused and flagged ones included, as the gate judged it."""
    return [captured_file_entry(capture, credentials.get(capture.event_id)) for capture in captures]


def default_credentials(capture: Capture) -> dict[str, Any] | None:
    """``content_credentials`` before (or without) the signing worker's word on the capture.

    None for a capture without a file (a photo or trigger reported alone); ``not_written`` for a
    capture that is not clean (never signed); ``unknown`` for a consented file (the signing
    outcome replaces it; a record recovered after a crash keeps it).
    """
    if not capture.clean:
        return not_written(NOT_CONSENTED.format(why=_flag_reason(capture)))
    if capture.sha256 is None:
        return None
    return unknown()


def captured_file_entry(capture: Capture, credentials: dict[str, Any] | None = None) -> dict[str, Any]:
    """The record's ``captured_files`` entry for one capture (``credentials``: the signing outcome)."""
    return {
        "name": capture.name,
        "sha256": capture.sha256,
        "size_bytes": capture.size_bytes,
        "captured_at": utc_timestamp(capture.captured_at),
        "within_unlock_window": capture.within_unlock_window,
        "capture_type": capture.capture_type,
        "quarantined": capture.quarantined,
        "flag_reason": _flag_reason(capture),
        "content_credentials": credentials if credentials is not None else default_credentials(capture),
    }


def capture_from_event(event: CaptureEvent) -> Capture:
    """What the session keeps of a gate's capture event (everything the record must say)."""
    size = 0
    if event.path and event.sha256 is not None:  # a refused report is never read, not even stat()ed
        try:
            size = Path(event.quarantine_path or event.path).stat().st_size
        except OSError:
            size = 0
    name = event.path or event.photo_id or event.event_id
    if len(name) > MAX_NAME_CHARS:  # a reported path can be longer than the record allows
        name = name[: MAX_NAME_CHARS - 1] + "…"
    return Capture(
        name=name,
        sha256=event.sha256,
        captured_at=event.captured_at,
        within_unlock_window=event.within_unlock_window,
        session_id=event.session_id,
        size_bytes=size,
        capture_type=event.capture_type,
        quarantined=event.quarantined,
        flag_reason=event.flag_reason,
        event_id=event.event_id,
    )


def _flag_reason(capture: Capture) -> str | None:
    if capture.flag_reason:
        return capture.flag_reason[:2000]
    if not capture.within_unlock_window:  # a backend that did not say why: the window is reason enough
        return "captured outside an unlock window"
    return None


def _confirmation(ctx: SessionContext, consent: ConsentRecord | None) -> dict[str, Any]:
    stopped = LockReason.PERFORMER_STOPPED in ctx.lock_reasons
    declined_before_unlock = ctx.declined and ctx.unlocked_at is None
    if declined_before_unlock:
        decision, types = "declined", []
    elif ctx.confirmed_capture_types != ctx.requested_capture_types:
        decision, types = "narrowed", sorted(ctx.confirmed_capture_types)
    else:
        decision, types = "confirmed", sorted(ctx.confirmed_capture_types)
    at = (
        ctx.declined_at if declined_before_unlock else (ctx.confirmed_at or ctx.declined_at or ctx.started_at)
    )
    stop_at = next((when for _action, when, reason in ctx.gate_events if reason == "performer_stopped"), None)
    return {
        "at": utc_timestamp(at),
        "decision": decision,
        "capture_types": types,
        "guardian_co_confirmed": ctx.guardian_co_confirmed if consent is not None and consent.minor else None,
        "stopped_at": utc_timestamp(stop_at) if stopped and stop_at else None,
    }


def _liveness(ctx: SessionContext) -> dict[str, Any]:
    """How liveness was established for a face identification; ``off`` says it was not checked."""
    outcome = ctx.liveness
    if not ctx.liveness_required or outcome is None:
        method = "off" if not ctx.liveness_required else "challenge"
        return {
            "method": method,
            "passed": None,
            "completed_at": None,
            "attempt": 0,
            "steps": [],
            "model": "",
            "earlier_attempts": [],
        }
    return {
        "method": outcome.method,
        "passed": outcome.passed,
        "completed_at": utc_timestamp(outcome.completed_at),
        "attempt": outcome.attempt,
        "steps": _steps(outcome),
        "model": outcome.model,
        "earlier_attempts": [
            {
                "attempt": earlier.attempt,
                "passed": earlier.passed,
                "completed_at": utc_timestamp(earlier.completed_at),
                "steps": _steps(earlier),
            }
            for earlier in ctx.liveness_history
            if earlier is not outcome
        ],
    }


def _steps(outcome: LivenessOutcome) -> list[dict[str, Any]]:
    return [
        {"step": step, "passed": passed, "reason": reason, "evidence": dict(evidence)}
        for step, passed, reason, evidence in outcome.steps
    ]
