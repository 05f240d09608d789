"""Who may call what: every route of the registry app x every kind of caller -> expected status.

The matrix below must name every (method, path) of the app (``app.routes``): a route
added without a row fails ``test_every_route_is_in_the_matrix``, so nobody can add an
endpoint without deciding who may call it. Adding a row: the request to make (a function
of the world and the calling rig, building fresh objects where a success would use one
up) and one status per caller column.

Columns (``Access``):

- ``none``: no Authorization header, and an unknown token (both must give the status);
- ``expired`` / ``revoked``: an expired (revoked) rig token and an expired (revoked)
  registry-admin token (both must give the status);
- ``rig`` / ``rig_x``: a rig of this production / of another production;
- ``padm`` / ``padm_x``: a production administrator of this / of another production;
- ``admin``: a registry administrator.

"This production" is the seeded ``demo-production`` with rig ``rig-1``; "another" is
``other-film`` with ``rig-2``. Requests always name this production's objects.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, object_hash_hex, public_key_to_b64
from agent.wire import utc_now
from registry import admin_ops, tokens
from registry.app import build_app
from registry.db import TokenRow
from registry.keys import load_active_signer
from registry.setup import demo_grant
from tests.registry.conftest import PRODUCTION, RIG, SEED_PERFORMERS, Registry
from tests.registry.records import rotation_record, signed_record

OTHER = "other-film"
OTHER_RIG = "rig-2"
NONCE = "n" * 22
COLUMNS = ("none", "expired", "revoked", "rig", "rig_x", "padm", "padm_x", "admin")


@dataclass(frozen=True)
class Access:
    """Expected status per caller column."""

    none: int
    expired: int
    revoked: int
    rig: int
    rig_x: int
    padm: int
    padm_x: int
    admin: int


def public() -> Access:
    """A route anyone may call, token or not."""
    return Access(200, 200, 200, 200, 200, 200, 200, 200)


def rig_only(*, rig_x: int, ok: int = 200) -> Access:
    """A rig route: admins are the wrong kind of caller (403)."""
    return Access(401, 401, 401, ok, rig_x, 403, 403, 403)


def production_admin(ok: int) -> Access:
    """An admin route a production administrator may use on its own production."""
    return Access(401, 401, 401, 403, 403, ok, 404, ok)


def registry_admin(ok: int) -> Access:
    """An admin route only a registry administrator may use."""
    return Access(401, 401, 401, 403, 403, 403, 403, ok)


@dataclass
class Req:
    """One request, relative to the registry's URL."""

    path: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


@dataclass
class World:
    """The registry with two productions and one token per caller column."""

    registry: Registry
    record: dict[str, Any]
    """rig-1's first record, already uploaded (sending it again is answered as a duplicate)."""
    rotation: dict[str, Any]
    """rig-1's second record: a key rotation (its first acceptance stores it, a repeat is a duplicate)."""
    tokens: dict[str, list[str | None]]
    counter: itertools.count[int] = field(default_factory=itertools.count)

    def fresh(self, prefix: str) -> str:
        return f"{prefix}-m{next(self.counter)}"

    def fresh_consent(self) -> str:
        consent_id = self.fresh("c")
        with self.registry.database.write() as session:
            grant = demo_grant(SEED_PERFORMERS[1], PRODUCTION, utc_now(), consent_id=consent_id)
            admin_ops.grant_consent(session, grant, load_active_signer(session))
        return consent_id

    def fresh_rig_token(self) -> str:
        with self.registry.database.write() as session:
            return tokens.issue_rig_token(session, None, RIG, "matrix").token_id


def new_key() -> str:
    return public_key_to_b64(Signer(Ed25519PrivateKey.generate()).public_key)


def grant(w: World) -> dict[str, Any]:
    body = demo_grant(SEED_PERFORMERS[1], PRODUCTION, utc_now()).model_dump(mode="json")
    return {**body, "consent_id": w.fresh("c")}


Build = Callable[[World, str], Req]
"""(world, the calling rig's id — rig-1 for callers that are not rigs) -> the request."""

# fmt: off
MATRIX: dict[tuple[str, str], tuple[Build, Access]] = {
    # --- public ---------------------------------------------------------------------------------------
    ("GET", "/openapi.json"): (lambda w, r: Req("/openapi.json"), public()),
    ("GET", "/v1/health"): (lambda w, r: Req("/v1/health"), public()),
    ("GET", "/v1/keys"): (lambda w, r: Req("/v1/keys"), public()),
    ("GET", "/v1/productions/{production_id}/ca"): (lambda w, r: Req(f"/v1/productions/{PRODUCTION}/ca"), public()),
    ("GET", "/v1/consents/{consent_id}/status"): (  # the consent document's hash is the capability
        lambda w, r: Req("/v1/consents/c-p-ada/status", {"document_sha256": "0" * 63 + "1"}), public()),
    # --- rigs: a rig naming another production or rig is refused before any lookup (403, same for
    # unknown ids); ids that need a lookup answer as unknown (404) ------------------------------------
    ("GET", "/v1/time"): (lambda w, r: Req("/v1/time", {"nonce": NONCE}), rig_only(rig_x=200)),
    ("GET", "/v1/productions/{production_id}/roster"): (
        lambda w, r: Req(f"/v1/productions/{PRODUCTION}/roster"), rig_only(rig_x=403)),
    ("GET", "/v1/consents"): (
        lambda w, r: Req("/v1/consents", {"performer_id": "p-ada", "production_id": PRODUCTION}),
        rig_only(rig_x=403)),
    ("GET", "/v1/revocations"): (lambda w, r: Req("/v1/revocations"), rig_only(rig_x=200)),  # its own feed
    ("POST", "/v1/consents/{consent_id}/confirmations"): (
        lambda w, r: Req("/v1/consents/c-p-ada/confirmations", json={
            "consent_id": "c-p-ada", "consent_version": 1, "rig_id": r, "session_id": "s-matrix",
            "decision": "confirmed", "capture_types": ["face"], "guardian_co_confirmed": False,
            "confirmed_at": "2025-02-01T10:00:00Z"}),
        rig_only(rig_x=404)),
    ("POST", "/v1/session-records"): (
        lambda w, r: Req("/v1/session-records", json=w.record),
        rig_only(rig_x=403)),
    ("GET", "/v1/rigs/{rig_id}/checkpoint"): (lambda w, r: Req(f"/v1/rigs/{RIG}/checkpoint"), rig_only(rig_x=403)),
    ("POST", "/v1/rigs/{rig_id}/keys/rotate"): (  # a rotation record signed by rig-1's registered key
        lambda w, r: Req(f"/v1/rigs/{RIG}/keys/rotate", json=w.rotation),
        rig_only(rig_x=403)),
    ("GET", "/v1/rigs/{rig_id}/certificate"): (lambda w, r: Req(f"/v1/rigs/{RIG}/certificate"), rig_only(rig_x=403)),
    ("POST", "/v1/fallback/verify"): (
        lambda w, r: Req("/v1/fallback/verify",
                         json={"production_id": PRODUCTION, "badge_code": "ADA-0001", "pin": "246810"}),
        rig_only(rig_x=403)),
    # --- registry administrators only -----------------------------------------------------------------
    ("POST", "/v1/admin/productions"): (
        lambda w, r: Req("/v1/admin/productions",
                         json={"production_id": w.fresh("prod"), "name": "N", "producer": "P"}),
        registry_admin(201)),
    ("POST", "/v1/admin/performers"): (
        lambda w, r: Req("/v1/admin/performers", json={"performer_id": w.fresh("p"), "display_name": "N"}),
        registry_admin(201)),
    ("POST", "/v1/admin/performers/{performer_id}/templates"): (
        lambda w, r: Req("/v1/admin/performers/p-ada/templates", json={"encodings": [[0.01] * 128]}),
        registry_admin(201)),
    ("POST", "/v1/admin/keys/rotate"): (lambda w, r: Req("/v1/admin/keys/rotate"), registry_admin(200)),
    ("GET", "/v1/admin/destruction-receipts"): (
        lambda w, r: Req("/v1/admin/destruction-receipts"),
        registry_admin(200),
    ),
    ("POST", "/v1/admin/tokens"): (
        lambda w, r: Req("/v1/admin/tokens", json={"production_id": PRODUCTION}), registry_admin(201)),
    # --- production administrators, on their own production ---------------------------------------------
    ("POST", "/v1/admin/consents"): (lambda w, r: Req("/v1/admin/consents", json=grant(w)), production_admin(201)),
    ("POST", "/v1/admin/consents/{consent_id}/revoke"): (
        lambda w, r: Req(f"/v1/admin/consents/{w.fresh_consent()}/revoke", json={"reason": "matrix"}),
        production_admin(200)),
    ("POST", "/v1/admin/consents/{consent_id}/suspend"): (
        lambda w, r: Req(f"/v1/admin/consents/{w.fresh_consent()}/suspend", json={"reason": "matrix"}),
        production_admin(200)),
    ("POST", "/v1/admin/rigs"): (
        lambda w, r: Req("/v1/admin/rigs",
                         json={"rig_id": w.fresh("rig"), "production_id": PRODUCTION, "public_key": new_key()}),
        production_admin(201)),
    ("POST", "/v1/admin/rigs/{rig_id}/keys"): (
        lambda w, r: Req(f"/v1/admin/rigs/{RIG}/keys", json={"public_key": new_key(), "retire_others": False}),
        production_admin(201)),
    ("POST", "/v1/admin/rigs/{rig_id}/tokens"): (
        lambda w, r: Req(f"/v1/admin/rigs/{RIG}/tokens", json={}), production_admin(201)),
    ("GET", "/v1/admin/tokens"): (  # everyone sees a list, scoped to their production
        lambda w, r: Req("/v1/admin/tokens"), Access(401, 401, 401, 403, 403, 200, 200, 200)),
    ("POST", "/v1/admin/tokens/{token_id}/revoke"): (
        lambda w, r: Req(f"/v1/admin/tokens/{w.fresh_rig_token()}/revoke"), production_admin(200)),
    ("POST", "/v1/admin/badges"): (
        lambda w, r: Req("/v1/admin/badges", json={"production_id": PRODUCTION, "performer_id": "p-grace"}),
        production_admin(201)),
    ("GET", "/v1/admin/session-records"): (
        lambda w, r: Req("/v1/admin/session-records", {"rig_id": RIG}), production_admin(200)),
}
# fmt: on


def _walk(routes: Iterable[object]) -> Iterator[tuple[str, str]]:
    for route in routes:
        nested = getattr(route, "effective_candidates", None)
        if callable(nested):  # FastAPI >= 0.16x keeps included routers as nested route groups
            yield from _walk(nested())
            continue
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if isinstance(path, str) and methods:
            yield from ((method, path) for method in methods if method != "HEAD")  # HEAD: GET's shadow


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the registry app answers, from ``app.routes``."""
    return set(_walk(build_app(None).routes))


def test_every_route_is_in_the_matrix() -> None:
    routes = app_routes()
    missing = sorted(routes - set(MATRIX))
    assert not missing, f"routes without an access decision (add a row to MATRIX): {missing}"
    stale = sorted(set(MATRIX) - routes)
    assert not stale, f"rows for routes the app does not have: {stale}"
    assert len(routes) >= 25
    assert tuple(Access.__dataclass_fields__) == COLUMNS  # the test below walks exactly these callers


def _world(registry: Registry) -> World:
    def admin(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = registry.admin_post(path, json=body)
        assert response.status_code in (200, 201), response.text
        answer: dict[str, Any] = response.json()
        return answer

    admin("/v1/admin/productions", {"production_id": OTHER, "name": "O", "producer": "P"})
    admin("/v1/admin/rigs", {"rig_id": OTHER_RIG, "production_id": OTHER, "public_key": new_key()})
    rig_x = admin(f"/v1/admin/rigs/{OTHER_RIG}/tokens", {})["token"]
    padm = admin("/v1/admin/tokens", {"production_id": PRODUCTION})["token"]
    padm_x = admin("/v1/admin/tokens", {"production_id": OTHER})["token"]
    record = signed_record(registry.rig_signer, 1, None)
    upload = registry.post("/v1/session-records", json=record)
    assert upload.status_code == 200, upload.text  # so that rig-1 has a checkpoint
    spent: dict[str, list[str]] = {}
    for state in ("expired", "revoked"):
        with registry.database.write() as session:
            rig = tokens.issue_rig_token(session, None, RIG, state)
            boss = tokens.issue_admin_token(session, None, state)
            ids = [rig.token_id, boss.token_id]
            values = (
                {"expires_at": utc_now() - timedelta(seconds=1)}
                if state == "expired"
                else {"revoked_at": utc_now()}
            )
            session.execute(sa.update(TokenRow).where(TokenRow.token_id.in_(ids)).values(**values))
        spent[state] = [rig.token, boss.token]
    callers: dict[str, list[str | None]] = {
        "none": [None, "sgr_not-a-token"],
        "expired": list(spent["expired"]),
        "revoked": list(spent["revoked"]),
        "rig": [registry.seeded.rig_token],
        "rig_x": [rig_x],
        "padm": [padm],
        "padm_x": [padm_x],
        "admin": [registry.admin_token],
    }
    rotation = rotation_record(registry.rig_signer, 2, object_hash_hex(record), Ed25519PrivateKey.generate())
    return World(registry=registry, record=record, rotation=rotation, tokens=callers)


def test_authorization_matrix(registry: Registry) -> None:
    world = _world(registry)
    wrong: list[str] = []
    calls = 0
    for (method, route), (build, access) in sorted(MATRIX.items()):
        for column in COLUMNS:
            expected = getattr(access, column)
            for token in world.tokens[column]:
                request = build(world, OTHER_RIG if column == "rig_x" else RIG)
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                response = requests.request(
                    method,
                    registry.url + request.path,
                    params=request.params,
                    json=request.json,
                    headers=headers,
                    timeout=10,
                )
                calls += 1
                if response.status_code != expected:
                    wrong.append(
                        f"{method} {route} as {column}: {response.status_code}, expected {expected}:"
                        f" {response.text[:160]}"
                    )
    assert not wrong, f"{len(wrong)} of {calls} answers differ from the matrix:\n" + "\n".join(wrong)
