"""A real registry (uvicorn on loopback, SQLite file) seeded for client tests, and client factories."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.registry_client.client import RegistryClient
from agent.registry_client.lookup import ConsentLookup
from agent.registry_client.settings import RegistrySettings
from agent.signing import Signer, public_key_to_b64
from agent.wire import ConsentRecord, utc_now
from registry.db import Database
from registry.embedded import EmbeddedRegistry, start_embedded_registry
from registry.setup import SeedPerformer, demo_grant, initialise, seed
from tests.registry.conftest import PRODUCTION, SEED_PERFORMERS, encoding

OTHER_PRODUCTION = "other-film"


@dataclass
class LiveRegistry:
    """A running, seeded registry and an admin HTTP session to change it."""

    server: EmbeddedRegistry
    admin_token: str
    rig_token: str
    key_id: str
    consents: dict[str, ConsentRecord]
    http: requests.Session
    cache_dir: Path
    other_rig_token: str = ""

    @property
    def url(self) -> str:
        return self.server.url

    def admin(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(
            self.url + "/v1/admin" + path,
            json=body,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            timeout=10,
        )
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    def add_performer(self, performer_id: str, name: str) -> None:
        self.admin("/performers", {"performer_id": performer_id, "display_name": name})

    def grant(self, performer_id: str, production_id: str = PRODUCTION, **overrides: Any) -> dict[str, Any]:
        performer = SeedPerformer(performer_id, performer_id)
        body = demo_grant(performer, production_id, utc_now()).model_dump(mode="json")
        body.update({"consent_id": None, **overrides})
        body = {k: v for k, v in body.items() if v is not None or k in overrides}
        return self.admin("/consents", body)

    def revoke(self, consent_id: str, reason: str = "performer withdrew") -> None:
        self.admin(f"/consents/{consent_id}/revoke", {"reason": reason})

    def rotate_key(self) -> str:
        keys = self.admin("/keys/rotate", {})
        active: str = keys["keys"][0]["key_id"]
        return active

    def settings(self, url: str | None = None, **overrides: Any) -> RegistrySettings:
        values: dict[str, Any] = {
            "url": url or self.url,
            "token": self.rig_token,
            "pinned_key_ids": (self.key_id,),
            "cache_dir": self.cache_dir,
            "connect_timeout_s": 2.0,
            "read_timeout_s": 2.0,
            "total_timeout_s": 5.0,
            "retries": 0,
            "backoff_factor_s": 0.01,
        }
        values.update(overrides)
        return RegistrySettings.model_validate(values)

    def client(self, url: str | None = None, **overrides: Any) -> RegistryClient:
        """A client of this registry; ``overrides`` are settings, plus optionally the rig's
        ``clock`` (wall clock; skew it to test clock faults) and ``monotonic`` clock."""
        clock: Callable[[], datetime] = overrides.pop("clock", utc_now)
        monotonic: Callable[[], float] = overrides.pop("monotonic", time.monotonic)
        return RegistryClient(self.settings(url, **overrides), clock=clock, monotonic=monotonic)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveRegistry]:
    """A real registry server over a seeded SQLite database.

    Besides the registry suite's seed (p-ada, p-grace, p-noface, p-minor), it
    holds p-late (consent not yet valid), p-gone (consent expired) and a second
    production 'other-film' with its own rig (token in ``other_rig_token``) and a
    consent of p-ada.
    """
    db_url = f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    database = Database.open(db_url)
    initialised = initialise(database)
    rig_signer = Signer(Ed25519PrivateKey.generate())
    seeded = seed(
        database, rig_public_key=public_key_to_b64(rig_signer.public_key), performers=SEED_PERFORMERS
    )
    server = start_embedded_registry(db_url, initialise_if_needed=False)
    http = requests.Session()
    registry = LiveRegistry(
        server=server,
        admin_token=initialised.admin_token.token,
        rig_token=seeded.rig_token,
        key_id=seeded.key_id,
        consents=dict(seeded.consents),
        http=http,
        cache_dir=tmp_path / "cache",
    )
    now = utc_now()
    registry.add_performer("p-late", "Lena Later")
    registry.grant(
        "p-late",
        valid_from=(now + timedelta(days=2)).isoformat(),
        valid_until=(now + timedelta(days=9)).isoformat(),
    )
    registry.add_performer("p-gone", "Gus Gone")
    registry.grant(
        "p-gone",
        valid_from=(now - timedelta(days=9)).isoformat(),
        valid_until=(now - timedelta(days=2)).isoformat(),
    )
    registry.admin(
        "/productions", {"production_id": OTHER_PRODUCTION, "name": "Other Film", "producer": "Else"}
    )
    registry.grant("p-ada", OTHER_PRODUCTION)
    other_rig = Signer(Ed25519PrivateKey.generate())
    registry.admin(
        "/rigs",
        {
            "rig_id": "rig-2",
            "production_id": OTHER_PRODUCTION,
            "public_key": public_key_to_b64(other_rig.public_key),
        },
    )
    registry.other_rig_token = registry.admin("/rigs/rig-2/tokens", {"label": "tests"})["token"]
    try:
        yield registry
    finally:
        http.close()
        server.stop()
        server.database.close()
        database.close()


def lookup_for(client: RegistryClient, **kwargs: Any) -> ConsentLookup:
    """A ConsentLookup for the seeded production."""
    return ConsentLookup(client, production_id=PRODUCTION, **kwargs)


__all__ = ["OTHER_PRODUCTION", "PRODUCTION", "LiveRegistry", "encoding", "lookup_for"]
