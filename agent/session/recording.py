"""Turning a finished session's context into the draft of its signed record."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from agent.records.model import utc_timestamp
from agent.session.machine import outcome_of
from agent.session.model import Capture, IdentificationMethod, LockReason, Outcome, SessionContext
from agent.signing import object_hash_hex
from agent.wire.consent import ConsentRecord


def build_record_draft(
    ctx: SessionContext,
    *,
    production_id: str,
    consent: ConsentRecord | None,
    ended_at: datetime,
) -> dict[str, Any]:
    """The JSON draft of the session's record (the log adds sequence, chain and signature).

    Args:
        ctx: the session context when the session closed.
        production_id: the rig's production (also for refusals before any consent).
        consent: the signed consent the session relied on (verified), if any.
        ended_at: when the session ended.
    """
    outcome = outcome_of(ctx)
    # The identity that authorised the unlock, not whatever the last frame said.
    identity = ctx.unlock_identity or ctx.identity
    draft: dict[str, Any] = {
        "production": {"production_id": production_id, "name": None},
        "capture_types_requested": sorted(ctx.requested_capture_types),
        "technician": {"technician_id": ctx.technician} if ctx.technician else None,
        "outcome": outcome.value,
        "reason_codes": _reason_codes(ctx, outcome),
        "outcome_detail": ctx.fault_detail,
        "started_at": utc_timestamp(ctx.started_at or ended_at),
        "ended_at": utc_timestamp(ended_at),
        "gate_events": [_gate_event(action, at, reason, ctx) for action, at, reason in ctx.gate_events],
        "captured_files": _captured_files(ctx),
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
        }
        draft["production"]["name"] = consent.production.name
    if ctx.confirmed_at is not None or ctx.declined:
        draft["confirmation"] = _confirmation(ctx, consent)
    return draft


def build_correction_draft(
    previous_draft: dict[str, Any], previous_record: dict[str, Any], capture: Capture
) -> dict[str, Any]:
    """A new record correcting ``previous_record``: the same session plus a late capture.

    Capture software and remote cameras can report a file after the session's
    record was written. The record is never rewritten; this draft repeats it with
    the capture added and names the record it corrects.
    """
    draft = copy.deepcopy(previous_draft)
    draft["corrects_record_id"] = previous_record["record_id"]
    draft["captured_files"] = [*draft.get("captured_files", []), *_captured_files_of((capture,))]
    if capture.within_unlock_window and draft["outcome"] != Outcome.CAPTURED.value:
        draft["outcome"] = Outcome.CAPTURED.value
    note = (
        f"correction of record {previous_record['record_id']}: {capture.name} was reported after the"
        f" record was written ({'inside' if capture.within_unlock_window else 'OUTSIDE'} an unlock window)"
    )
    draft["outcome_detail"] = (
        note if not draft.get("outcome_detail") else f"{draft['outcome_detail']}; {note}"
    )
    return draft


def _reason_codes(ctx: SessionContext, outcome: Outcome) -> list[str]:
    codes = list(ctx.refusal_codes) + [r.value for r in ctx.lock_reasons]
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


def _captured_files(ctx: SessionContext) -> list[dict[str, Any]]:
    return _captured_files_of(ctx.captures)


def _captured_files_of(captures: tuple[Capture, ...]) -> list[dict[str, Any]]:
    captured = []
    for capture in captures:
        if capture.sha256 is None:
            continue
        captured.append(
            {
                "name": capture.name,
                "sha256": capture.sha256,
                "size_bytes": capture.size_bytes,
                "captured_at": utc_timestamp(capture.captured_at),
                "within_unlock_window": capture.within_unlock_window,
                "quarantined": not capture.within_unlock_window,
            }
        )
    return captured


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
