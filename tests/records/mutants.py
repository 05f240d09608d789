"""Records of every version and many malformed variants of them, for comparing record readers.

:func:`base_records` gives conforming records of versions 1, 2 and 3 covering every
kind of member (captured, refused, declined, key rotation, registry clock, content
credentials); :func:`mutants` gives, for one record, a variant per member and kind of
damage: dropped, null, another JSON type, an unknown sibling, a later version's member.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.records.key_rotation import rotation_draft
from agent.signing import CanonicalJsonError, Signer, canonical_json
from tests.records.factories import captured_draft, draft_for, refused_draft
from tests.records.test_strict_reading import CREDENTIALS, as_version_1, as_version_2, clock

Path = tuple[str | int, ...]

RIG_ID = "stage4-facs-booth"
REPLACEMENTS: list[Any] = [None, "x", "", -1, 0, 2**53, 0.5, 0.123456, 1e-7, True, [], {}]
"""Values put in place of a member: every JSON type, and numbers at the edges of what records hold."""


def _stored(body: dict[str, Any], signer: Signer, sequence: int) -> dict[str, Any]:
    record = {
        **body,
        "schema_version": "scangate.session-record/3",
        "rig_id": RIG_ID,
        "sequence": sequence,
        "previous_hash": "0" * 64 if sequence == 1 else "ab" * 32,
        "written_at": body["ended_at"],
        "agent_version": "0.1.0",
    }
    return signer.sign_into(record)


def base_records(signer: Signer) -> list[dict[str, Any]]:
    """Conforming signed records (as a log holds them, decoded) of versions 3, 2 and 1."""
    new_key = Ed25519PrivateKey.generate()
    declined = captured_draft(7).model_dump(mode="json")
    declined.update(
        outcome="declined",
        captured_files=[],
        gate_events=[],
        confirmation={**declined["confirmation"], "decision": "declined", "capture_types": []},
    )
    bodies = [
        draft_for(0).model_dump(mode="json"),
        refused_draft(4).model_dump(mode="json"),
        declined,
        rotation_draft(signer.key_id, new_key).model_dump(mode="json"),
    ]
    clocked = draft_for(1).model_dump(mode="json")
    clocked["registry_clock"] = clock(offset_s=-0.5, age_s=12.25)
    clocked["consent"]["destroy_by"] = "2028-02-29"
    clocked["captured_files"][0]["content_credentials"] = CREDENTIALS
    clocked["captured_files"][1]["content_credentials"] = {**CREDENTIALS, "status": "sidecar"}
    bodies.append(clocked)
    records = [_stored(body, signer, sequence) for sequence, body in enumerate(bodies, start=1)]
    for older, record in ((as_version_2, records[4]), (as_version_1, records[0])):
        body = copy.deepcopy(record)
        del body["signature"]
        older(body)
        body["record_id"] = str(uuid.uuid4())
        records.append(signer.sign_into(body))
    return [json.loads(canonical_json(record)) for record in records]  # 2.0 reads back as 2


def _paths(value: Any, path: Path = ()) -> Iterator[Path]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _paths(item, (*path, index))


def _changed(value: Any, path: Path, change: Callable[[Any, str | int], None]) -> Any:
    """A copy of ``value`` with ``change(container, key)`` applied at ``path`` (only that path is copied)."""
    copied = dict(value) if isinstance(value, dict) else list(value)
    step = path[0]
    if len(path) == 1:
        change(copied, step)
    else:
        copied[step] = _changed(value[step], path[1:], change)  # type: ignore[index]
    return copied


def _put(replacement: Any) -> Callable[[Any, str | int], None]:
    def put(container: Any, key: str | int) -> None:
        container[key] = copy.deepcopy(replacement)

    return put


def _drop(container: Any, key: str | int) -> None:
    del container[key]


def _add_unknown(container: Any, key: str | int) -> None:
    if isinstance(container, dict):
        container["zz_unknown"] = 1


def mutants(record: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(what was done, the changed record) for every member and list item of ``record``."""
    for path in list(_paths(record)):
        if path[0] == "signature":
            continue
        where = ".".join(str(step) for step in path)
        for replacement in REPLACEMENTS:
            yield f"{where} = {replacement!r}", _changed(record, path, _put(replacement))
        yield f"{where} removed", _changed(record, path, _drop)
        if isinstance(path[-1], str):
            yield f"unknown member beside {where}", _changed(record, path, _add_unknown)
    for version in ("scangate.session-record/1", "scangate.session-record/2", "scangate.session-record/3"):
        if version != record["schema_version"]:
            yield f"relabelled {version}", {**record, "schema_version": version}


def resigned(record: dict[str, Any], signer: Signer) -> bytes | None:
    """The log line of ``record`` signed again by ``signer``; None if it has no canonical form."""
    body = {key: value for key, value in record.items() if key != "signature"}
    try:
        return canonical_json(signer.sign_into(body))
    except CanonicalJsonError:
        return None
