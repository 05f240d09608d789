"""Every consent rule, one failing example at a time, plus the adapter to the session engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from agent.consent import (
    ClockReading,
    Decision,
    NoticeCode,
    ReasonCode,
    RequirementCode,
    evaluate,
    to_consent_check,
)
from agent.session import events as ev
from agent.session.machine import transition
from agent.session.model import IdentificationMethod, Identity, Phase, SessionState, Timing
from agent.wire import ConsentRecord
from tests.consent.factories import (
    NOW,
    OTHER_SIGNER,
    PERFORMER,
    REGISTRY_SIGNER,
    context,
    signed_consent,
    trusted,
)


def codes(decision: Decision) -> list[str]:
    return list(decision.codes)


def tampered(record: ConsentRecord, **changes: Any) -> ConsentRecord:
    """The record with members changed after signing (signature kept)."""
    return ConsentRecord.model_validate({**record.wire_dict(), **changes})


def test_valid_consent_is_allowed_with_nothing_to_add() -> None:
    decision = evaluate(signed_consent(), context(), NOW)
    assert decision.allowed
    assert decision.reasons == ()
    assert decision.requirements == ()
    assert decision.notices == ()
    assert not decision.fallback_required
    assert decision.verified_key_id == REGISTRY_SIGNER.key_id
    assert decision.consent_id == "c-ada"


@pytest.mark.parametrize(
    ("overrides", "ctx", "expected"),
    [
        ({"status": "suspended", "revoked_at": NOW - timedelta(hours=1)}, {}, "status_not_active"),
        ({"status": "revoked", "revoked_at": NOW - timedelta(hours=1)}, {}, "revoked"),
        ({"status": "superseded", "revoked_at": NOW - timedelta(hours=1)}, {}, "superseded"),
        ({}, {"revoked_consent_ids": frozenset({"c-ada"})}, "revoked"),
        ({}, {"performer_id": "p-grace"}, "performer_mismatch"),
        ({}, {"production_id": "other-film"}, "production_mismatch"),
        ({}, {"requested_capture_types": frozenset({"face", "full_body"})}, "capture_type_not_permitted"),
        ({"valid_from": NOW + timedelta(minutes=1)}, {}, "not_yet_valid"),
        ({"valid_until": NOW - timedelta(minutes=1)}, {}, "expired"),
        ({"valid_until": NOW}, {}, "expired"),
        ({"notice_given_at": NOW - timedelta(hours=47)}, {}, "notice_too_short"),
        ({"notice_given_at": None}, {}, "notice_too_short"),
        ({"document_sha256": "0" * 64}, {}, "document_missing"),
        ({"representation_basis": "none"}, {}, "representation_missing"),
        ({"minor": True, "guardian": {"name": "Ann", "relationship": "parent"}}, {}, "guardian_required"),
        ({"biometric_check_consent": False}, {}, "biometric_check_not_consented"),
        (
            {},
            {"cached_at": NOW - timedelta(minutes=16), "max_staleness": timedelta(minutes=15)},
            "cache_stale",
        ),
        (
            {},
            {"cached_at": NOW + timedelta(minutes=1), "max_staleness": timedelta(minutes=15)},
            "cache_stale",
        ),
        (
            {},
            {
                "clock": ClockReading(
                    offset_s=-61.0,
                    rtt_s=0.01,
                    measured_at=NOW,
                    source="registry",
                    registry_key_id=REGISTRY_SIGNER.key_id,
                )
            },
            "clock_skew",
        ),
    ],
)
def test_each_rule_refuses_alone_with_its_code(
    overrides: dict[str, Any], ctx: dict[str, Any], expected: str
) -> None:
    decision = evaluate(signed_consent(**overrides), context(**ctx), NOW)
    assert not decision.allowed
    assert codes(decision) == [expected]
    message = decision.reasons[0].message
    assert message[0].isupper() and message.endswith(".")  # a plain-language sentence
    assert "_" not in expected or expected not in message  # ... not the code repeated
    assert ReasonCode(expected) is decision.reasons[0].code


def test_boundaries_that_are_allowed() -> None:
    at_start = evaluate(signed_consent(valid_from=NOW), context(), NOW)
    notice_exact = evaluate(signed_consent(notice_given_at=NOW - timedelta(hours=48)), context(), NOW)
    no_notice_rule = evaluate(signed_consent(notice_hours=None, notice_given_at=None), context(), NOW)
    fresh_copy = evaluate(
        signed_consent(),
        context(cached_at=NOW - timedelta(minutes=15), max_staleness=timedelta(minutes=15)),
        NOW,
    )
    for decision in (at_start, notice_exact, no_notice_rule, fresh_copy):
        assert decision.allowed, decision.explain()
    # no registry time measured: the copy is judged on the rig clock, and the decision says so
    assert [n.code for n in fresh_copy.notices] == [NoticeCode.OFFLINE_COPY, NoticeCode.CLOCK_NOT_VERIFIED]


def test_tampered_record_fails_its_signature() -> None:
    record = tampered(signed_consent(), capture_types=["face", "facs_expressions", "full_body"])
    decision = evaluate(record, context(), NOW)
    assert codes(decision) == ["signature_invalid"]
    assert decision.verified_key_id is None


def test_signature_from_an_unpinned_key_is_refused_even_if_valid() -> None:
    record = signed_consent(OTHER_SIGNER)
    assert codes(evaluate(record, context(), NOW)) == ["signature_unknown_key"]
    assert evaluate(record, context(trusted_keys=trusted(OTHER_SIGNER)), NOW).allowed


def test_key_with_a_different_public_key_under_a_pinned_id_is_refused() -> None:
    forged = {REGISTRY_SIGNER.key_id: trusted(OTHER_SIGNER)[OTHER_SIGNER.key_id]}
    decision = evaluate(signed_consent(), context(trusted_keys=forged), NOW)
    assert codes(decision) == ["signature_invalid"]


def test_retired_key_counts_only_for_records_issued_before_retirement() -> None:
    record = signed_consent()  # issued NOW - 2 days
    retired_later = trusted(retired_at=NOW - timedelta(days=1))
    retired_earlier = trusted(retired_at=NOW - timedelta(days=3))
    assert evaluate(record, context(trusted_keys=retired_later), NOW).allowed
    assert codes(evaluate(record, context(trusted_keys=retired_earlier), NOW)) == ["signature_key_retired"]


def test_revoked_status_and_revocation_list_give_one_reason() -> None:
    record = signed_consent(status="revoked", revoked_at=NOW - timedelta(hours=1))
    decision = evaluate(record, context(revoked_consent_ids=frozenset({"c-ada"})), NOW)
    assert codes(decision) == ["revoked"]


def test_every_failing_rule_is_listed_in_rule_order() -> None:
    record = tampered(
        signed_consent(
            status="suspended",
            revoked_at=NOW - timedelta(hours=1),
            valid_until=NOW - timedelta(hours=2),
            representation_basis="none",
            biometric_check_consent=False,
        ),
        intended_use_text="anything at all",
    )
    decision = evaluate(
        record, context(production_id="other-film", requested_capture_types=frozenset({"hands"})), NOW
    )
    assert codes(decision) == [
        "signature_invalid",
        "status_not_active",
        "production_mismatch",
        "capture_type_not_permitted",
        "expired",
        "representation_missing",
        "biometric_check_not_consented",
    ]
    assert not decision.fallback_required  # biometrics is not the only problem
    assert "hand scans" in decision.reasons[3].message
    assert decision.explain().count("\n") == 6


def test_no_consent_is_a_refusal() -> None:
    decision = evaluate(None, context(), NOW)
    assert codes(decision) == ["no_consent"]
    assert decision.consent_id is None
    stale = evaluate(None, context(cached_at=NOW - timedelta(days=1)), NOW)
    assert codes(stale) == ["no_consent", "cache_stale"]


def test_minor_with_a_touchscreen_that_takes_a_guardian_is_a_requirement_not_a_refusal() -> None:
    record = signed_consent(minor=True, guardian={"name": "Ann Minor", "relationship": "parent"})
    refused = evaluate(record, context(), NOW)
    assert codes(refused) == ["guardian_required"]
    assert "Ann Minor" in refused.reasons[0].message
    decision = evaluate(record, context(guardian_co_confirmation_available=True), NOW)
    assert decision.allowed
    assert [r.code for r in decision.requirements] == [RequirementCode.GUARDIAN_CO_CONFIRMATION]


def test_no_biometric_consent_asks_for_the_fallback_and_the_fallback_is_allowed() -> None:
    record = signed_consent(biometric_check_consent=False)
    by_face = evaluate(record, context(), NOW)
    assert not by_face.allowed
    assert by_face.fallback_required
    by_badge = evaluate(record, context(identification_method=IdentificationMethod.FALLBACK_BADGE_PIN), NOW)
    assert by_badge.allowed


def test_naive_now_is_rejected() -> None:
    with pytest.raises(ValueError, match="aware"):
        evaluate(signed_consent(), context(), NOW.replace(tzinfo=None))


def test_decision_cannot_be_allowed_with_reasons() -> None:
    refused = evaluate(None, context(), NOW)
    with pytest.raises(ValueError):
        Decision(allowed=True, reasons=refused.reasons)
    with pytest.raises(ValueError):
        Decision(allowed=False)


# --- adapter -------------------------------------------------------------------------------------


def test_adapter_gives_terms_for_an_allowed_consent() -> None:
    record = signed_consent()
    check = to_consent_check(evaluate(record, context(), NOW), record)
    assert check.allowed
    assert check.reasons == ()
    assert check.terms is not None
    assert check.terms.consent_id == "c-ada"
    assert check.terms.performer_id == PERFORMER
    assert check.terms.permitted_capture_types == frozenset({"face", "facs_expressions"})
    assert check.terms.valid_until == record.valid_until
    assert check.terms.registry_key_id == REGISTRY_SIGNER.key_id
    assert not check.terms.minor


def test_adapter_never_passes_on_terms_of_an_unverified_record() -> None:
    record = tampered(signed_consent(), capture_types=["hands"])
    check = to_consent_check(evaluate(record, context(), NOW), record)
    assert not check.allowed
    assert check.terms is None
    assert check.reasons[0][0] == "signature_invalid"


def test_adapter_keeps_reasons_and_the_guardian_requirement() -> None:
    minor = signed_consent(minor=True, guardian={"name": "Ann", "relationship": "parent"})
    check = to_consent_check(evaluate(minor, context(guardian_co_confirmation_available=True), NOW), minor)
    assert check.allowed and check.terms is not None and check.terms.minor
    refused = signed_consent(representation_basis="none")
    check = to_consent_check(evaluate(refused, context(), NOW), refused)
    assert check.reasons[0][0] == "representation_missing"
    assert check.terms is not None  # verified: the record says who and what, for the session record


def test_adapter_rejects_a_decision_about_another_consent() -> None:
    decision = evaluate(signed_consent(), context(), NOW)
    with pytest.raises(ValueError):
        to_consent_check(decision, signed_consent(consent_id="c-other"))


def _engine_after(check_decision: Decision, record: ConsentRecord) -> tuple[SessionState, list[object]]:
    timing = Timing()
    state = SessionState()
    effects: list[object] = []
    for event in (
        ev.SessionStarted(NOW, "s-1", "tech", frozenset({"face"})),
        ev.IdentityConfirmed(NOW, Identity(PERFORMER, IdentificationMethod.FACE, NOW)),
        ev.ConsentChecked(NOW, to_consent_check(check_decision, record)),
    ):
        state, produced = transition(state, event, timing)
        effects.extend(produced)
    return state, effects


def test_engine_asks_for_the_fallback_when_the_policy_requires_it() -> None:
    record = signed_consent(biometric_check_consent=False)
    state, effects = _engine_after(evaluate(record, context(), NOW), record)
    assert state.phase is Phase.IDENTIFYING
    assert ev.RequestFallback() in effects


def test_engine_refuses_with_the_policy_codes_and_presents_allowed_terms() -> None:
    expired = signed_consent(valid_until=NOW - timedelta(minutes=1))
    state, _ = _engine_after(evaluate(expired, context(), NOW), expired)
    assert not state.capture_unlocked
    assert state.context.refusal_codes == ("expired",)
    valid = signed_consent()
    state, effects = _engine_after(evaluate(valid, context(), NOW), valid)
    assert state.phase is Phase.AWAITING_CONFIRMATION
    assert ev.PresentTerms() in effects


def test_every_code_is_documented() -> None:
    from agent.consent import NoticeCode, ReasonCode, RequirementCode
    from tests.conftest import REPO_ROOT

    text = (REPO_ROOT / "docs" / "consent-policy.md").read_text(encoding="utf-8")
    codes = [*ReasonCode, *RequirementCode, *NoticeCode]
    missing = [code.value for code in codes if f"`{code.value}`" not in text]
    assert not missing, f"codes not documented in docs/consent-policy.md: {missing}"
