"""Public endpoints, authentication, error bodies, size limits and the OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import requests
import sqlalchemy as sa

from agent.wire import WIRE_VERSION, ErrorBody, Health, KeyList
from registry.openapi import OPENAPI_PATH
from tests.registry.conftest import PRODUCTION, RIG, Registry


def assert_error(response: requests.Response, status: int, code: str) -> ErrorBody:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = ErrorBody.model_validate(response.json())
    assert body.error.code.value == code
    assert body.error.message
    return body


def test_health_and_keys_need_no_token(registry: Registry) -> None:
    health = Health.model_validate(requests.get(registry.url + "/v1/health", timeout=10).json())
    keys = KeyList.model_validate(requests.get(registry.url + "/v1/keys", timeout=10).json())
    assert health.wire_version == WIRE_VERSION
    assert [key.key_id for key in keys.keys] == [health.active_key_id] == [registry.seeded.key_id]


def test_committed_openapi_document_equals_the_served_one(registry: Registry) -> None:
    served = requests.get(registry.url + "/openapi.json", timeout=10).json()
    committed = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    assert served == committed, "regenerate: scangate registry openapi --output registry/openapi.json"
    assert "/v1/consents" in served["paths"]


OUTSIDE_ADDRESS = re.compile(r"(?:https?:)?//[A-Za-z0-9][A-Za-z0-9.-]*\.[A-Za-z]{2,}")


def test_no_answer_points_a_browser_at_an_outside_host(registry: Registry) -> None:
    # Swagger UI and ReDoc load scripts from a CDN: useless offline on set, so they are off
    for path in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        assert requests.get(registry.url + path, timeout=10).status_code == 404, path
    document = requests.get(registry.url + "/openapi.json", timeout=10).json()
    plain_gets = (path for path, ops in document["paths"].items() if "get" in ops and "{" not in path)
    paths = ["/openapi.json", *sorted(plain_gets)]
    assert "/openapi.json" in paths and "/v1/health" in paths
    for path in paths:
        for headers in ({}, registry.rig_headers(), registry.admin_headers()):
            response = requests.get(registry.url + path, headers=headers, timeout=10)
            assert response.status_code < 500, (path, response.text)
            found = OUTSIDE_ADDRESS.findall(response.text)
            assert not found, f"GET {path} refers to outside hosts: {found[:5]}"


def test_missing_unknown_and_revoked_tokens_are_refused(registry: Registry) -> None:
    path = f"/v1/consents?performer_id=p-ada&production_id={PRODUCTION}"
    missing = requests.get(registry.url + path, timeout=10)
    assert_error(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"] == "Bearer"
    assert_error(registry.get(path, token="sgr_not-a-real-token"), 401, "unauthorized")
    assert_error(registry.get(path, token=registry.admin_token), 403, "forbidden")
    rig_on_admin = registry.post(
        "/v1/admin/productions", json={"production_id": "x", "name": "X", "producer": "Y"}
    )
    assert_error(rig_on_admin, 403, "forbidden")


def test_unknown_route_and_wrong_method_give_json_errors(registry: Registry) -> None:
    assert_error(registry.get("/v1/nothing-here"), 404, "not_found")
    assert_error(registry.http.delete(registry.url + "/v1/health", timeout=10), 405, "method_not_allowed")


def test_bad_bodies_give_400_or_422_with_every_problem(registry: Registry) -> None:
    not_json = registry.http.post(
        registry.url + "/v1/fallback/verify",
        data=b"{not json",
        headers={**registry.rig_headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(not_json, 400, "bad_request")
    wrong = registry.post(
        "/v1/fallback/verify",
        json={"production_id": PRODUCTION, "badge_code": "ADA-0001", "pin": 246810, "colour": "red"},
    )
    body = assert_error(wrong, 422, "validation_failed")
    problems = {(tuple(p["loc"]), p["type"]) for p in body.error.detail}
    assert problems == {(("body", "pin"), "string_type"), (("body", "colour"), "extra_forbidden")}


def test_out_of_range_positions_are_422_not_a_database_overflow(registry: Registry) -> None:
    huge = str(2**63)  # beyond every database's integer column
    assert_error(registry.get("/v1/revocations", params={"since": huge}), 422, "validation_failed")
    records = registry.http.get(
        registry.url + "/v1/admin/session-records",
        params={"rig_id": RIG, "after_sequence": huge},
        headers=registry.admin_headers(),
        timeout=10,
    )
    assert_error(records, 422, "validation_failed")


def test_oversized_bodies_are_refused_with_413(registry: Registry) -> None:
    big = b'{"x": "' + b"a" * (1024 * 1024) + b'"}'
    declared = registry.http.post(
        registry.url + "/v1/session-records",
        data=big,
        headers={**registry.rig_headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(declared, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for _ in range(20):
            yield b"a" * 65536

    streamed = registry.http.post(
        registry.url + "/v1/session-records",
        data=chunks(),
        headers={**registry.rig_headers(), "Content-Type": "application/json"},
        timeout=10,
    )
    assert_error(streamed, 413, "payload_too_large")


def test_a_database_fault_is_a_json_500_without_internals(registry: Registry) -> None:
    with registry.database.write() as session:
        session.execute(sa.text("DROP TABLE revocations"))
    body = assert_error(registry.get("/v1/revocations"), 500, "internal_error")
    assert "revocations" not in body.error.message  # no SQL or table names leak to rigs
