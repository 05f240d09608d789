"""Upload limits and schema: the registry never stores a record it cannot serve back.

Finding (A) of issue 9: a validly signed record with a member nested 500
levels deep was stored (200) and then made every admin listing page holding
it fail with 500. Now the record schema and explicit size/depth limits are
enforced at upload (422 saying what and where, nothing stored), and one bad
stored row (say, from an older version) is reported on its own instead of
failing the page.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
import requests

from agent.signing import object_hash_hex
from agent.wire import utc_now as wire_now
from registry.db import SessionRecordRow
from tests.registry.conftest import RIG, Registry
from tests.registry.records import resigned, signed_chain
from tests.registry.test_server_basics import assert_error


def nested(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"deeper": value}
    return value


def post_raw(registry: Registry, body: bytes) -> requests.Response:
    return registry.http.post(
        registry.url + "/v1/session-records",
        data=body,
        headers={**registry.rig_headers(), "Content-Type": "application/json"},
        timeout=10,
    )


def listing(registry: Registry) -> requests.Response:
    return registry.http.get(
        registry.url + "/v1/admin/session-records",
        params={"rig_id": RIG},
        headers=registry.admin_headers(),
        timeout=10,
    )


def test_a_signed_record_nested_500_deep_is_refused_and_the_listing_keeps_working(
    registry: Registry,
) -> None:
    first, second = signed_chain(registry.rig_signer, 2)
    assert registry.post("/v1/session-records", json=first).status_code == 200
    before = registry.snapshot()
    deep = resigned(registry.rig_signer, second, outcome_detail=nested(500))
    body = assert_error(registry.post("/v1/session-records", json=deep), 422, "validation_failed")
    assert "nested" in body.error.message and "outcome_detail" in body.error.message
    assert registry.snapshot() == before, "nothing stored"
    page = listing(registry)
    assert page.status_code == 200, page.text
    assert page.json()["records"] == [first]


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"colour": "red"}, "colour"),
        ({"outcome": "teleported"}, "outcome"),
        ({"captured_files": [{"name": "a.CR3"}]}, "captured_files.0"),
        ({"sequence": "2"}, "sequence"),
    ],
)
def test_a_signed_record_outside_the_schema_is_refused_naming_the_member(
    registry: Registry, change: dict[str, Any], where: str
) -> None:
    record = resigned(registry.rig_signer, signed_chain(registry.rig_signer, 1)[0], **change)
    before = registry.snapshot()
    body = assert_error(registry.post("/v1/session-records", json=record), 422, "validation_failed")
    assert where in body.error.message
    assert registry.snapshot() == before


def _without_technician(record: dict[str, Any]) -> None:
    del record["technician"]


def _boolean_as_string(record: dict[str, Any]) -> None:
    record["performer"]["minor"] = "false"


def _integer_as_string(record: dict[str, Any]) -> None:
    record["consent"]["version"] = "5"


def _no_such_date(record: dict[str, Any]) -> None:
    record["written_at"] = "2025-02-30T09:00:00.000Z"


def _five_decimals(record: dict[str, Any]) -> None:
    record["identification"]["distance"] = 0.12345


@pytest.mark.parametrize(
    ("loosen", "where"),
    [
        (_without_technician, "technician"),
        (_boolean_as_string, "performer.minor"),
        (_integer_as_string, "consent.version"),
        (_no_such_date, "written_at"),
        (_five_decimals, "identification.distance"),
    ],
)
def test_a_signed_record_looser_than_the_format_is_refused_naming_the_member(
    registry: Registry, loosen: Callable[[dict[str, Any]], None], where: str
) -> None:
    body = copy.deepcopy(signed_chain(registry.rig_signer, 1)[0])
    del body["signature"]
    loosen(body)
    record = registry.rig_signer.sign_into(body)
    before = registry.snapshot()
    answer = assert_error(registry.post("/v1/session-records", json=record), 422, "validation_failed")
    assert where in answer.error.message
    assert registry.snapshot() == before


@pytest.mark.parametrize(
    ("raw", "status", "words"),
    [
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, 422, "nested"),
        (b"[" * 200_000, 422, "nested"),
        (b'{"s": "' + b"x" * 300_000 + b'"}', 422, "string"),
        (b'{"a": [' + b"1," * 60_000 + b"1]}", 422, "array"),
        (b'{"n": ' + b"9" * 5000 + b"}", 422, "number"),
        (b'{"n": NaN}', 400, "NaN"),
        (b"{not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "object"),
        (b'{"a": "\xff"}', 400, "UTF-8"),
    ],
)
def test_hostile_bodies_get_a_specific_answer_never_a_fault(
    registry: Registry, raw: bytes, status: int, words: str
) -> None:
    before = registry.snapshot()
    body = assert_error(
        post_raw(registry, raw), status, "validation_failed" if status == 422 else "bad_request"
    )
    assert words in body.error.message, body.error.message
    assert registry.snapshot() == before


def test_one_unreadable_stored_row_is_reported_on_its_own_not_a_page_fault(registry: Registry) -> None:
    records = signed_chain(registry.rig_signer, 3)
    for record in records[:2]:
        assert registry.post("/v1/session-records", json=record).status_code == 200
    # Rows an older registry could have stored: one nested too deep to serve, one not JSON at all.
    legacy = [json.dumps(nested(500)), '{"schema_version": "scangate.sess']
    with registry.database.write() as session:
        for offset, text in enumerate(legacy):
            session.add(
                SessionRecordRow(
                    record_hash=f"{offset:064x}",
                    rig_id=RIG,
                    sequence=10 + offset,
                    previous_hash=None,
                    key_id="ed25519:legacy",
                    record_json=text,
                    received_at=wire_now(),
                )
            )
    page = listing(registry)
    assert page.status_code == 200, page.text
    answer = page.json()
    assert answer["records"] == records[:2]
    unreadable = {entry["sequence"]: entry for entry in answer["unreadable"]}
    assert set(unreadable) == {10, 11}
    assert unreadable[10]["record_hash"] == f"{0:064x}" and "nested" in unreadable[10]["problem"]
    assert "not valid JSON" in unreadable[11]["problem"]
    assert answer["next_after_sequence"] == 11
    assert object_hash_hex(answer["records"][0]) == object_hash_hex(records[0])
