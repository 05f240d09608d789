"""Turning a policy Decision into the session engine's ConsentCheck."""

from __future__ import annotations

from agent.consent.model import Decision, RequirementCode
from agent.session.model import ConsentCheck, ConsentTerms
from agent.wire import ConsentRecord


def to_consent_check(decision: Decision, consent: ConsentRecord | None) -> ConsentCheck:
    """The engine's view of a decision.

    ``terms`` are given only when the registry signature verified and the
    consent is the identified performer's: the content of an unverified record
    is never shown or acted on. The guardian requirement travels as
    ``terms.minor`` (the engine refuses to unlock a minor's session without a
    guardian co-confirmation). Reasons keep their order.

    Raises:
        ValueError: the decision is about another consent than ``consent``.
    """
    if consent is not None and decision.consent_id not in (None, consent.consent_id):
        raise ValueError(f"decision about {decision.consent_id!r} given with consent {consent.consent_id!r}")
    reasons = tuple((reason.code.value, reason.message) for reason in decision.reasons)
    terms: ConsentTerms | None = None
    mismatched = "performer_mismatch" in decision.codes
    if consent is not None and decision.verified_key_id is not None and not mismatched:
        needs_guardian = any(
            r.code is RequirementCode.GUARDIAN_CO_CONFIRMATION for r in decision.requirements
        )
        terms = ConsentTerms(
            consent_id=consent.consent_id,
            version=consent.version,
            performer_id=consent.performer.performer_id,
            permitted_capture_types=frozenset(t.value for t in consent.capture_types),
            valid_until=consent.valid_until,
            minor=consent.minor or needs_guardian,
            registry_key_id=decision.verified_key_id,
        )
    if decision.allowed and terms is None:
        raise ValueError("an allowed decision needs its verified consent")
    return ConsentCheck(
        allowed=decision.allowed,
        reasons=reasons,
        terms=terms,
        fallback_required=decision.fallback_required,
    )
