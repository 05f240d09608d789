"""The consent policy: a pure function from (consent, context, now) to a Decision.

Every rule of DESIGN.md "Consent rules" is a small function below. All rules
are evaluated, never short-circuited, so a refusal lists every reason it
fails. ``allowed`` is true only when no rule fails. The registry signature is
verified here, against the pinned keys in the context, so no caller can skip
it. Codes and messages are documented in docs/consent-policy.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from agent.consent.model import (
    Decision,
    Notice,
    NoticeCode,
    PolicyContext,
    Reason,
    ReasonCode,
    Requirement,
    RequirementCode,
)
from agent.session.model import IdentificationMethod
from agent.signing import SignatureError, UnknownKeyError, verify_embedded
from agent.wire import ConsentRecord, ConsentStatus, RepresentationBasis

PLACEHOLDER_DOCUMENT_SHA256 = "0" * 64
"""An all-zero document hash is a placeholder, never the hash of a real signed document."""

Rule = Callable[[ConsentRecord, PolicyContext, datetime], Iterable[Reason]]


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{seconds // 60} minutes"
    if seconds < 2 * 86400:
        return f"{seconds // 3600} hours"
    return f"{seconds // 86400} days"


# --- rules ---------------------------------------------------------------------------------------


def rule_signature(consent: ConsentRecord, context: PolicyContext, now: datetime) -> list[Reason]:
    """The registry signature verifies against a pinned key (and that key signed it before retiring)."""
    key_id = consent.signature.key_id
    trusted = context.trusted_keys.get(key_id)
    public = {key_id: trusted.public_key} if trusted is not None else {}
    try:
        verify_embedded(consent.wire_dict(), public)
    except UnknownKeyError:
        return [
            Reason(
                ReasonCode.SIGNATURE_UNKNOWN_KEY,
                f"This consent was signed with registry key {key_id}, which this rig does not trust."
                " Only keys pinned in the rig's configuration count.",
            )
        ]
    except SignatureError:  # BadSignatureError, or a malformed signature member
        return [
            Reason(
                ReasonCode.SIGNATURE_INVALID,
                "The registry's signature on this consent does not match its content: the record was"
                " changed after the registry signed it.",
            )
        ]
    assert trusted is not None
    if trusted.retired_at is not None and consent.issued_at > trusted.retired_at:
        return [
            Reason(
                ReasonCode.SIGNATURE_KEY_RETIRED,
                f"This consent is dated {_when(consent.issued_at)}, after the registry retired the key"
                f" that signed it ({_when(trusted.retired_at)}).",
            )
        ]
    return []


def rule_status(consent: ConsentRecord, _context: PolicyContext, _now: datetime) -> list[Reason]:
    """The record's status is ``active``."""
    if consent.status is ConsentStatus.ACTIVE:
        return []
    on = f" on {_when(consent.revoked_at)}" if consent.revoked_at else ""
    if consent.status is ConsentStatus.REVOKED:
        return [Reason(ReasonCode.REVOKED, f"The performer revoked this consent{on}.")]
    if consent.status is ConsentStatus.SUPERSEDED:
        return [
            Reason(
                ReasonCode.SUPERSEDED,
                f"This consent was replaced by a newer version{on}; only the newest version counts.",
            )
        ]
    return [
        Reason(
            ReasonCode.STATUS_NOT_ACTIVE,
            f"This consent was {consent.status.value}{on} and is on hold until the registry issues a new version.",
        )
    ]


def rule_not_revoked(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """The revocation feed does not list the consent."""
    if consent.consent_id in context.revoked_consent_ids:
        return [
            Reason(
                ReasonCode.REVOKED,
                "The registry's revocation list names this consent: it was revoked, suspended or replaced.",
            )
        ]
    return []


def rule_cache_fresh(_consent: ConsentRecord, context: PolicyContext, now: datetime) -> list[Reason]:
    """A record from the offline copy is not older than ``max_staleness``."""
    return _cache_reasons(context, now)


def _cache_reasons(context: PolicyContext, now: datetime) -> list[Reason]:
    if context.cached_at is None:
        return []
    age = now - context.cached_at
    if age < timedelta(0) or age > context.max_staleness:
        shown = "a time in the future" if age < timedelta(0) else f"{_duration(age)} ago"
        return [
            Reason(
                ReasonCode.CACHE_STALE,
                f"The registry cannot be reached and the saved copy of this consent is too old"
                f" (fetched {shown}, limit {_duration(context.max_staleness)}).",
            )
        ]
    return []


def rule_clock(_consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """The rig clock is surely within ``max_clock_skew`` of registry time: |offset| + uncertainty."""
    return _clock_reasons(context)


def _clock_reasons(context: PolicyContext) -> list[Reason]:
    reading, limit = context.clock, context.max_clock_skew
    if reading is None:
        return []
    measured = f"measured offset {reading.offset_s:+.1f} s ± {reading.uncertainty_s:.3f} s"
    if abs(reading.offset) > limit:
        direction = "behind" if reading.offset_s > 0 else "ahead of"
        return [
            Reason(
                ReasonCode.CLOCK_SKEW,
                f"This rig's clock is {_duration(abs(reading.offset))} {direction} the registry's"
                f" ({measured}; at most {_duration(limit)} is allowed). Consent is judged on the"
                " registry's time, but a rig whose clock is this far off cannot be trusted to time"
                " captures and records: set the rig's clock right (turn on NTP, e.g."
                " `timedatectl set-ntp true`) and look the consent up again.",
            )
        ]
    if abs(reading.offset) + timedelta(seconds=reading.uncertainty_s) > limit:
        # Within the limit as measured, but not surely: the true offset may lie beyond it.
        return [
            Reason(
                ReasonCode.CLOCK_SKEW,
                f"The registry's time could not be measured precisely enough: the round trip took"
                f" {reading.rtt_s:.1f} s, so this rig's clock is known only to ± {reading.uncertainty_s:.1f} s"
                f" ({measured}; at most {_duration(limit)} is allowed). Check the network to the"
                " registry and look the consent up again.",
            )
        ]
    return []


def rule_performer(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """The consent belongs to the performer identified at the rig."""
    if consent.performer.performer_id == context.performer_id:
        return []
    return [
        Reason(
            ReasonCode.PERFORMER_MISMATCH,
            f"This consent belongs to {consent.performer.display_name} ({consent.performer.performer_id}),"
            f" not to the performer identified at the rig ({context.performer_id}).",
        )
    ]


def rule_production(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """The consent's production is the rig's configured production."""
    if consent.production.production_id == context.production_id:
        return []
    return [
        Reason(
            ReasonCode.PRODUCTION_MISMATCH,
            f"This consent is for the production '{consent.production.name}'"
            f" ({consent.production.production_id}), but this rig is capturing for"
            f" '{context.production_id}'. A consent is valid for one production only.",
        )
    ]


def rule_capture_types(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """Every requested capture type is permitted by the consent."""
    permitted = {capture_type.value for capture_type in consent.capture_types}
    outside = sorted(set(context.requested_capture_types) - permitted)
    if not outside:
        return []
    return [
        Reason(
            ReasonCode.CAPTURE_TYPE_NOT_PERMITTED,
            f"The performer did not agree to {_capture_list(outside)}; this consent permits only"
            f" {_capture_list(sorted(permitted))}.",
        )
    ]


CAPTURE_LABELS = {
    "face": "face scans",
    "facs_expressions": "FACS expression scans",
    "full_body": "full-body scans",
    "hands": "hand scans",
    "motion_capture": "motion capture",
}
"""Plain-language names of the capture types, for messages."""


def _capture_list(values: list[str]) -> str:
    return ", ".join(CAPTURE_LABELS.get(value, value) for value in values)


def rule_validity_window(consent: ConsentRecord, _context: PolicyContext, now: datetime) -> list[Reason]:
    """valid_from ≤ now < valid_until."""
    if now < consent.valid_from:
        return [
            Reason(
                ReasonCode.NOT_YET_VALID,
                f"This consent only starts on {_when(consent.valid_from)}.",
            )
        ]
    if now >= consent.valid_until:
        return [Reason(ReasonCode.EXPIRED, f"This consent ended on {_when(consent.valid_until)}.")]
    return []


def rule_notice(consent: ConsentRecord, _context: PolicyContext, now: datetime) -> list[Reason]:
    """If a notice period is set, notice was given at least that long ago."""
    if consent.notice_hours is None:
        return []
    required = timedelta(hours=consent.notice_hours)
    if consent.notice_given_at is None:
        return [
            Reason(
                ReasonCode.NOTICE_TOO_SHORT,
                f"The performer must be told about the scan at least {consent.notice_hours} hours"
                " ahead, and no notice was recorded.",
            )
        ]
    earliest = consent.notice_given_at + required
    if now < earliest:
        return [
            Reason(
                ReasonCode.NOTICE_TOO_SHORT,
                f"The performer was told about the scan on {_when(consent.notice_given_at)}; the agreed"
                f" {consent.notice_hours} hours of notice end on {_when(earliest)}.",
            )
        ]
    return []


def rule_document(consent: ConsentRecord, _context: PolicyContext, _now: datetime) -> list[Reason]:
    """A separately signed consent document is referenced by its hash."""
    if consent.document_sha256 != PLACEHOLDER_DOCUMENT_SHA256:
        return []
    return [
        Reason(
            ReasonCode.DOCUMENT_MISSING,
            "No signed consent document is on file for this consent (its document reference is empty).",
        )
    ]


def rule_representation(consent: ConsentRecord, _context: PolicyContext, _now: datetime) -> list[Reason]:
    """A representation basis (union agreement or legal counsel) is recorded."""
    if consent.representation_basis is not RepresentationBasis.NONE:
        return []
    return [
        Reason(
            ReasonCode.REPRESENTATION_MISSING,
            "The consent does not record that the performer was represented (by a union agreement"
            " or legal counsel) when it was negotiated.",
        )
    ]


def rule_guardian(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """A minor's consent needs a guardian co-confirmation the touchscreen can take."""
    if not consent.minor or context.guardian_co_confirmation_available:
        return []
    guardian = f" ({consent.guardian.name})" if consent.guardian else ""
    return [
        Reason(
            ReasonCode.GUARDIAN_REQUIRED,
            f"The performer is a minor: their guardian{guardian} must confirm too, and this rig's"
            " touchscreen cannot take a guardian's confirmation.",
        )
    ]


def rule_biometric(consent: ConsentRecord, context: PolicyContext, _now: datetime) -> list[Reason]:
    """Face identification only for performers who consented to biometric checking."""
    if consent.biometric_check_consent or context.identification_method is not IdentificationMethod.FACE:
        return []
    return [
        Reason(
            ReasonCode.BIOMETRIC_CHECK_NOT_CONSENTED,
            "The performer did not agree to face matching. Identify them with their badge code and"
            " PIN, witnessed by the technician.",
        )
    ]


RULES: tuple[Rule, ...] = (
    rule_signature,
    rule_status,
    rule_not_revoked,
    rule_cache_fresh,
    rule_clock,
    rule_performer,
    rule_production,
    rule_capture_types,
    rule_validity_window,
    rule_notice,
    rule_document,
    rule_representation,
    rule_guardian,
    rule_biometric,
)
"""Every rule, in the order their reasons are listed."""


def _clock_notices(context: PolicyContext) -> list[Notice]:
    reading = context.clock
    if reading is not None and reading.source == "offline_last_known":
        return [
            Notice(
                NoticeCode.OFFLINE_CLOCK,
                "Judged on the registry's time carried forward from its last signed statement,"
                f" {_duration(timedelta(seconds=reading.age_s))} ago (rig clock offset"
                f" {reading.offset_s:+.1f} s).",
            )
        ]
    if reading is None and context.cached_at is not None:
        return [
            Notice(
                NoticeCode.CLOCK_NOT_VERIFIED,
                "No registry time could be measured recently, so the saved copy is judged on this"
                " rig's own clock (its age is checked against the registry time it was fetched at).",
            )
        ]
    return []


# --- evaluation ----------------------------------------------------------------------------------


def evaluate(consent: ConsentRecord | None, context: PolicyContext, now: datetime) -> Decision:
    """Evaluate every rule; the decision lists every failing one.

    Raises:
        ValueError: ``now`` is a naive datetime (a programming error; capture stays locked).
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("evaluate() needs an aware datetime (UTC)")
    if consent is None:
        reasons = [
            Reason(
                ReasonCode.NO_CONSENT,
                f"The registry has no consent from this performer ({context.performer_id}) for this"
                " production. Nothing may be captured.",
            ),
            *_cache_reasons(context, now),
            *_clock_reasons(context),
        ]
        return Decision(allowed=False, reasons=tuple(reasons))
    reasons = []
    seen: set[ReasonCode] = set()
    for rule in RULES:
        for reason in rule(consent, context, now):
            if reason.code not in seen:  # e.g. status 'revoked' and on the revocation list: say it once
                seen.add(reason.code)
                reasons.append(reason)
    requirements: list[Requirement] = []
    if consent.minor and context.guardian_co_confirmation_available:
        requirements.append(
            Requirement(
                RequirementCode.GUARDIAN_CO_CONFIRMATION,
                "The performer is a minor: their guardian must confirm on the touchscreen as well.",
            )
        )
    notices: list[Notice] = []
    if context.cached_at is not None:
        notices.append(
            Notice(
                NoticeCode.OFFLINE_COPY,
                f"The registry could not be reached; this is the copy saved {_when(context.cached_at)}.",
            )
        )
    notices.extend(_clock_notices(context))
    signature_ok = not seen & {
        ReasonCode.SIGNATURE_UNKNOWN_KEY,
        ReasonCode.SIGNATURE_INVALID,
        ReasonCode.SIGNATURE_KEY_RETIRED,
    }
    return Decision(
        allowed=not reasons,
        reasons=tuple(reasons),
        requirements=tuple(requirements),
        notices=tuple(notices),
        fallback_required=[r.code for r in reasons] == [ReasonCode.BIOMETRIC_CHECK_NOT_CONSENTED],
        consent_id=consent.consent_id,
        verified_key_id=consent.signature.key_id if signature_ok else None,
    )
