"""Properties of the consent policy, with the rules written out again independently here.

1. For random consents and contexts, ``allowed`` holds exactly when every rule
   (as restated below) holds, and the listed codes are exactly the failing rules.
2. Starting from any allowed consent, breaking any single thing one rule depends
   on makes the decision a refusal naming that rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.consent import ClockReading, PolicyContext, evaluate
from agent.session.model import IdentificationMethod
from agent.signing import Signer
from agent.wire import CaptureType, ConsentRecord
from tests.consent.factories import NOW, OTHER_SIGNER, REGISTRY_SIGNER, consent_payload, trusted

CAPTURE_TYPES = [t.value for t in CaptureType]
OFFSET = st.integers(min_value=-72 * 3600, max_value=72 * 3600).map(lambda s: timedelta(seconds=s))


def clock_reading(offset_s: float, rtt_s: float = 0.01) -> ClockReading:
    """A measured rig clock offset (registry time − rig time)."""
    return ClockReading(
        offset_s=offset_s,
        rtt_s=rtt_s,
        measured_at=NOW,
        source="registry",
        registry_key_id=REGISTRY_SIGNER.key_id,
    )


CLOCKS = st.none() | st.builds(
    clock_reading,
    st.floats(min_value=-300, max_value=300, allow_nan=False),
    st.floats(min_value=0, max_value=300, allow_nan=False),
)


@dataclass(frozen=True)
class Case:
    """One generated situation: the consent's terms, how it was signed, and the rig's context."""

    payload: dict[str, Any]
    signer: Signer
    tamper: bool
    context: PolicyContext

    def record(self) -> ConsentRecord:
        record = ConsentRecord.sign(self.payload, self.signer)
        if self.tamper:
            changed = dict(record.wire_dict(), intended_use_text=record.intended_use_text + " (edited)")
            record = ConsentRecord.model_validate(changed)
        return record


# --- the rules, restated -------------------------------------------------------------------------


def expected_failures(case: Case, now: datetime) -> set[str]:
    """Codes of the rules that fail, computed without the policy module."""
    p, c = case.payload, case.context
    failing = set()
    key = c.trusted_keys.get(case.signer.key_id)
    if key is None:
        failing.add("signature_unknown_key")
    elif case.tamper:
        failing.add("signature_invalid")
    elif key.retired_at is not None and p["issued_at"] > key.retired_at:
        failing.add("signature_key_retired")
    status = {"suspended": "status_not_active", "revoked": "revoked", "superseded": "superseded"}
    if p["status"] != "active":
        failing.add(status[p["status"]])
    if p["consent_id"] in c.revoked_consent_ids:
        failing.add("revoked")
    if c.cached_at is not None and not timedelta(0) <= now - c.cached_at <= c.max_staleness:
        failing.add("cache_stale")
    if c.clock is not None and abs(c.clock.offset_s) + c.clock.rtt_s / 2 > c.max_clock_skew.total_seconds():
        failing.add("clock_skew")
    if p["performer"]["performer_id"] != c.performer_id:
        failing.add("performer_mismatch")
    if p["production"]["production_id"] != c.production_id:
        failing.add("production_mismatch")
    if not c.requested_capture_types <= set(p["capture_types"]):
        failing.add("capture_type_not_permitted")
    if now < p["valid_from"]:
        failing.add("not_yet_valid")
    if now >= p["valid_until"]:
        failing.add("expired")
    if p["notice_hours"] is not None and (
        p["notice_given_at"] is None or now < p["notice_given_at"] + timedelta(hours=p["notice_hours"])
    ):
        failing.add("notice_too_short")
    if set(p["document_sha256"]) == {"0"}:
        failing.add("document_missing")
    if p["representation_basis"] == "none":
        failing.add("representation_missing")
    if p["minor"] and not c.guardian_co_confirmation_available:
        failing.add("guardian_required")
    if not p["biometric_check_consent"] and c.identification_method is IdentificationMethod.FACE:
        failing.add("biometric_check_not_consented")
    return failing


# --- strategies ----------------------------------------------------------------------------------


@st.composite
def payloads(draw: st.DrawFn) -> dict[str, Any]:
    valid_from = NOW + draw(OFFSET)
    status = draw(st.sampled_from(["active", "active", "active", "suspended", "revoked", "superseded"]))
    minor = draw(st.booleans())
    version = draw(st.integers(1, 3))
    return consent_payload(
        consent_id=draw(st.sampled_from(["c-ada", "c-ada-2"])),
        version=version,
        supersedes=None if version == 1 else "c-ada-0",
        performer={"performer_id": draw(st.sampled_from(["p-ada", "p-grace"])), "display_name": "X"},
        production={
            "production_id": draw(st.sampled_from(["demo-production", "other-film"])),
            "name": "P",
            "producer": "S",
        },
        capture_types=draw(st.lists(st.sampled_from(CAPTURE_TYPES), min_size=1, max_size=5, unique=True)),
        valid_from=valid_from,
        valid_until=valid_from + draw(OFFSET.filter(lambda d: d > timedelta(0))),
        notice_given_at=draw(st.none() | OFFSET.map(lambda d: NOW + d)),
        notice_hours=draw(st.none() | st.integers(0, 96)),
        status=status,
        revoked_at=None if status == "active" else NOW - timedelta(hours=1),
        minor=minor,
        guardian={"name": "G", "relationship": "parent"} if minor else None,
        biometric_check_consent=draw(st.booleans()),
        document_sha256=draw(st.sampled_from(["0" * 64, "ab" * 32, "0" * 63 + "1"])),
        representation_basis=draw(st.sampled_from(["union_agreement", "legal_counsel", "none"])),
        issued_at=NOW + draw(OFFSET),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    retired_at = draw(st.none() | OFFSET.map(lambda d: NOW + d))
    keys = draw(st.sampled_from(["registry", "other", "none"]))
    trusted_keys = {
        "registry": trusted(REGISTRY_SIGNER, retired_at=retired_at),
        "other": trusted(OTHER_SIGNER),
        "none": {},
    }[keys]
    cached = draw(st.booleans())
    context = PolicyContext(
        production_id=draw(st.sampled_from(["demo-production", "other-film"])),
        performer_id=draw(st.sampled_from(["p-ada", "p-grace"])),
        requested_capture_types=frozenset(draw(st.lists(st.sampled_from(CAPTURE_TYPES), max_size=3))),
        identification_method=draw(st.sampled_from(list(IdentificationMethod))),
        trusted_keys=trusted_keys,
        revoked_consent_ids=frozenset(draw(st.lists(st.sampled_from(["c-ada", "c-x"]), max_size=2))),
        guardian_co_confirmation_available=draw(st.booleans()),
        cached_at=NOW - draw(OFFSET) if cached else None,
        max_staleness=timedelta(seconds=draw(st.integers(0, 48 * 3600))),
        clock=draw(CLOCKS),
        max_clock_skew=timedelta(seconds=draw(st.integers(1, 120))),
    )
    return Case(
        payload=draw(payloads()),
        signer=draw(st.sampled_from([REGISTRY_SIGNER, REGISTRY_SIGNER, OTHER_SIGNER])),
        tamper=draw(st.booleans()),
        context=context,
    )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_allowed_exactly_when_every_rule_holds(case: Case) -> None:
    decision = evaluate(case.record(), case.context, NOW)
    failing = expected_failures(case, NOW)
    assert set(decision.codes) == failing
    assert len(decision.codes) == len(set(decision.codes))
    assert decision.allowed == (not failing)
    if decision.allowed:
        assert decision.verified_key_id == case.signer.key_id
    assert decision.fallback_required == (failing == {"biometric_check_not_consented"})


# --- single mutations of an allowed case -----------------------------------------------------------


@st.composite
def allowed_cases(draw: st.DrawFn) -> Case:
    """A random case in which every rule holds."""
    valid_from = NOW - draw(OFFSET.filter(lambda d: d >= timedelta(0)))
    permitted = draw(st.lists(st.sampled_from(CAPTURE_TYPES), min_size=1, max_size=5, unique=True))
    minor = draw(st.booleans())
    notice_hours = draw(st.none() | st.integers(0, 48))
    payload = consent_payload(
        capture_types=permitted,
        valid_from=valid_from,
        valid_until=NOW + draw(OFFSET.filter(lambda d: d > timedelta(0))),
        notice_hours=notice_hours,
        notice_given_at=None if notice_hours is None else NOW - timedelta(hours=notice_hours + 1),
        minor=minor,
        guardian={"name": "G", "relationship": "parent"} if minor else None,
        biometric_check_consent=draw(st.booleans()),
        representation_basis=draw(st.sampled_from(["union_agreement", "legal_counsel"])),
    )
    method = (
        draw(st.sampled_from(list(IdentificationMethod)))
        if payload["biometric_check_consent"]
        else IdentificationMethod.FALLBACK_BADGE_PIN
    )
    cached = draw(st.booleans())
    staleness = timedelta(minutes=draw(st.integers(1, 120)))
    context = PolicyContext(
        production_id="demo-production",
        performer_id="p-ada",
        requested_capture_types=frozenset(draw(st.lists(st.sampled_from(permitted), max_size=3))),
        identification_method=method,
        trusted_keys=trusted(REGISTRY_SIGNER),
        guardian_co_confirmation_available=minor or draw(st.booleans()),
        cached_at=NOW - staleness / 2 if cached else None,
        max_staleness=staleness,
        clock=draw(st.none() | st.builds(clock_reading, st.floats(-29, 29), st.floats(0, 60))),
    )
    return Case(payload, REGISTRY_SIGNER, tamper=False, context=context)


def _with_payload(**changes: Any) -> Callable[[Case], Case]:
    return lambda case: replace(case, payload={**case.payload, **changes})


def _with_context(**changes: Any) -> Callable[[Case], Case]:
    return lambda case: replace(case, context=replace(case.context, **changes))


def _unpermitted_request(case: Case) -> Case:
    outside = sorted(set(CAPTURE_TYPES) - set(case.payload["capture_types"]))
    if not outside:  # everything is permitted: narrow the consent instead
        narrowed = {**case.payload, "capture_types": ["face"]}
        return replace(
            case,
            payload=narrowed,
            context=replace(case.context, requested_capture_types=frozenset({"hands"})),
        )
    requested = case.context.requested_capture_types | {outside[0]}
    return replace(case, context=replace(case.context, requested_capture_types=requested))


def _retired_before_issue(case: Case) -> Case:
    retired = case.payload["issued_at"] - timedelta(seconds=1)
    keys = trusted(REGISTRY_SIGNER, retired_at=retired)
    return replace(case, context=replace(case.context, trusted_keys=keys))


MUTATIONS: dict[str, Callable[[Case], Case]] = {
    "signature_invalid": lambda case: replace(case, tamper=True),
    "signature_unknown_key": lambda case: replace(case, signer=OTHER_SIGNER),
    "signature_key_retired": _retired_before_issue,
    "status_not_active": _with_payload(status="suspended", revoked_at=NOW),
    "revoked": _with_context(revoked_consent_ids=frozenset({"c-ada"})),
    "superseded": _with_payload(status="superseded", revoked_at=NOW),
    "cache_stale": _with_context(cached_at=NOW - timedelta(days=30)),
    "clock_skew": _with_context(clock=clock_reading(-61.0)),
    "performer_mismatch": _with_context(performer_id="p-grace"),
    "production_mismatch": _with_context(production_id="other-film"),
    "capture_type_not_permitted": _unpermitted_request,
    "not_yet_valid": _with_payload(
        valid_from=NOW + timedelta(seconds=1), valid_until=NOW + timedelta(days=1)
    ),
    "expired": _with_payload(valid_from=NOW - timedelta(days=1), valid_until=NOW),
    "notice_too_short": _with_payload(notice_hours=1, notice_given_at=NOW - timedelta(minutes=59)),
    "document_missing": _with_payload(document_sha256="0" * 64),
    "representation_missing": _with_payload(representation_basis="none"),
    "guardian_required": lambda case: replace(
        case,
        payload={**case.payload, "minor": True, "guardian": {"name": "G", "relationship": "parent"}},
        context=replace(case.context, guardian_co_confirmation_available=False),
    ),
    "biometric_check_not_consented": lambda case: replace(
        case,
        payload={**case.payload, "biometric_check_consent": False},
        context=replace(case.context, identification_method=IdentificationMethod.FACE),
    ),
}


def test_every_reason_code_has_a_mutation() -> None:
    from agent.consent import ReasonCode

    assert set(MUTATIONS) == {code.value for code in ReasonCode} - {"no_consent"}


@settings(max_examples=150, deadline=None)
@given(allowed_cases(), st.sampled_from(sorted(MUTATIONS)))
def test_breaking_any_single_rule_refuses(case: Case, rule: str) -> None:
    assert evaluate(case.record(), case.context, NOW).allowed
    assert not expected_failures(case, NOW)
    broken = MUTATIONS[rule](case)
    decision = evaluate(broken.record(), broken.context, NOW)
    assert not decision.allowed
    assert rule in decision.codes
    assert decision.codes == (rule,)  # and nothing else broke
