"""The registry roster as the face identifier's RosterSource (real server, real signatures)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from agent.faces.roster import RosterSource, judge_match
from agent.registry_client.errors import RegistryProtocolError
from agent.registry_client.roster_source import RegistryRosterSource
from agent.signing import BadSignatureError, UnknownKeyError
from tests.registry_client.conftest import PRODUCTION, LiveRegistry, encoding
from tests.registry_client.peers import TamperingProxy


def test_roster_becomes_a_face_roster_that_matches(live: LiveRegistry) -> None:
    with live.client() as client:
        source: RosterSource = RegistryRosterSource(client, PRODUCTION)
        roster = source.load_roster()
    assert sorted(p.performer_id for p in roster.performers) == ["p-ada", "p-grace", "p-minor"]
    ada = roster.get("p-ada")
    assert ada is not None and ada.display_name == "Ada Lovelace" and len(ada.templates) == 2
    match = roster.nearest(np.asarray(encoding(3), dtype=np.float64))
    assert match is not None and match.performer.performer_id == "p-grace"
    assert judge_match(match, max_distance=0.45, min_margin=0.05).accepted


def test_tampered_roster_is_refused(live: LiveRegistry) -> None:
    def add_impostor_template(path: str, body: Any) -> Any:
        if path.endswith("/roster"):
            body["entries"][0]["templates"][0]["encoding"] = encoding(99)
        return body

    with TamperingProxy(live.url) as proxy, live.client(proxy.url) as client:
        proxy.rewrite_response = add_impostor_template
        with pytest.raises(BadSignatureError) as caught:
            RegistryRosterSource(client, PRODUCTION).load_roster()
    assert caught.value.where is not None and "/roster" in caught.value.where


def test_roster_signed_by_an_unpinned_key_is_refused(live: LiveRegistry) -> None:
    live.rotate_key()  # the registry now signs rosters with a key this rig does not pin
    with live.client() as client, pytest.raises(UnknownKeyError):
        RegistryRosterSource(client, PRODUCTION).load_roster()


def test_roster_of_another_production_is_refused(live: LiveRegistry) -> None:
    def other_path(target: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        return target.replace(PRODUCTION, "other-film"), {
            **headers,
            "Authorization": f"Bearer {live.other_rig_token}",
        }

    with TamperingProxy(live.url) as proxy, live.client(proxy.url) as client:
        proxy.rewrite_request = other_path
        with pytest.raises(RegistryProtocolError, match="other-film"):
            RegistryRosterSource(client, PRODUCTION).load_roster()


def test_oversized_roster_is_refused(live: LiveRegistry) -> None:
    with live.client(max_roster_bytes=4096) as client, pytest.raises(RegistryProtocolError, match="limit"):
        RegistryRosterSource(client, PRODUCTION).load_roster()
