"""A consent the registry destroyed past destroy_by: the rig sees no consent and learns of it on the feed."""

from __future__ import annotations

from datetime import timedelta

from agent.registry_client.poller import RevocationPoller
from agent.session.model import IdentificationMethod
from agent.wire import ConsentStatus, Revocation, utc_now
from registry.retention import purge
from tests.registry_client.conftest import LiveRegistry, lookup_for

FACE = IdentificationMethod.FACE


def test_after_the_purge_the_rig_lookup_finds_no_consent_and_the_feed_names_it(live: LiveRegistry) -> None:
    live.add_performer("p-ret", "Rita Retained")
    consent_id = live.grant("p-ret", destroy_by=utc_now().date().isoformat())["consent"]["consent_id"]
    with live.client(offline_consents=True) as client:
        before = lookup_for(client).check("p-ret", {"face"}, FACE)
        assert before.decision.allowed and before.consent is not None
        assert before.consent.consent_id == consent_id

        report = purge(live.server.database, now=utc_now() + timedelta(days=1))
        assert [item.consent_id for item in report.destructions] == [consent_id]

        after = lookup_for(client).check("p-ret", {"face"}, FACE)
        assert not after.decision.allowed
        assert after.decision.codes == ("no_consent",)
        assert after.consent is None

        seen: list[Revocation] = []
        poller = RevocationPoller(client, on_revoked=seen.extend)
        poller.poll_once()
        assert [(item.consent_id, item.status) for item in seen if item.consent_id == consent_id] == [
            (consent_id, ConsentStatus.DESTROYED)
        ]
        assert consent_id in poller.revoked_ids()
