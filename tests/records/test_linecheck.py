"""Per-line checks on lines a verifier may meet: named problems, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agent.records.keys import RigKey
from agent.records.linecheck import LineStatus, check_line
from agent.signing import canonical_json


@pytest.mark.parametrize("version", [["scangate.session-record/3"], {"v": 3}, 3, None])
def test_a_signed_record_whose_schema_version_is_not_a_string_is_malformed(
    written_log: Path, rig_key: RigKey, version: Any
) -> None:
    body = json.loads(written_log.read_bytes().splitlines()[0])
    del body["signature"]
    line = canonical_json(rig_key.signer.sign_into({**body, "schema_version": version}))
    result = check_line(1, line, True, {rig_key.key_id: rig_key.public_key})
    assert result.status is LineStatus.MALFORMED
    assert "unsupported schema_version" in result.detail
