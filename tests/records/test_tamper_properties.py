"""Property: no rearrangement of a log's lines passes verification, except cutting its tail.

Hypothesis deletes, duplicates, moves and alters lines of a real signed log.
Whatever it produces, verification says "intact" only for the original log or
a prefix of it (a cut tail, which a hash chain alone cannot see), and with the
registry's checkpoint not even for a prefix.
"""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.records.log import RecordLog
from agent.records.verify import verify_log
from agent.signing import Signer, object_hash_hex
from agent.wire.session_records import Checkpoint
from tests.records.factories import draft_for

RECORDS = 8


@functools.cache
def _original() -> tuple[tuple[bytes, ...], Ed25519PublicKey, str, Checkpoint]:
    """One signed 8-record log (built once), its key and the registry's checkpoint of it."""
    signer = Signer(Ed25519PrivateKey.generate())
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        with RecordLog.open(path, signer, "rig-p") as writer:
            for index in range(RECORDS):
                writer.append(draft_for(index))
        lines = tuple(path.read_bytes().splitlines(keepends=True))
    registry = Signer(Ed25519PrivateKey.generate())
    checkpoint = Checkpoint.sign(
        {
            "rig_id": "rig-p",
            "first_sequence": 1,
            "sequence": RECORDS,
            "record_hash": object_hash_hex(json.loads(lines[-1])),
            "records_held": RECORDS,
            "issued_at": "2025-03-01T12:00:00Z",
        },
        registry,
    )
    return lines, signer.public_key, signer.key_id, checkpoint


operation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 30)),
    st.tuples(st.just("duplicate"), st.integers(0, 30)),
    st.tuples(st.just("move"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("flip_byte"), st.integers(0, 30), st.integers(0, 5000)),
)


def _apply(lines: list[bytes], op: tuple[object, ...]) -> None:
    if not lines:
        return
    kind, index = op[0], int(op[1]) % len(lines)  # type: ignore[call-overload]
    if kind == "delete":
        del lines[index]
    elif kind == "duplicate":
        lines.insert(index, lines[index])
    elif kind == "move":
        lines.insert(int(op[2]) % len(lines), lines.pop(index))  # type: ignore[call-overload]
    else:
        line = bytearray(lines[index])
        position = int(op[2]) % (len(line) - 1)  # type: ignore[call-overload]
        line[position] = (line[position] + 1) % 128 or 65
        lines[index] = bytes(line)


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, min_size=1, max_size=4))
def test_only_the_original_or_a_cut_tail_verifies(ops: list[tuple[object, ...]]) -> None:
    original, public_key, key_id, checkpoint = _original()
    lines = list(original)
    for op in ops:
        _apply(lines, op)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "log.jsonl"
        path.write_bytes(b"".join(lines))
        keys = {key_id: public_key}
        plain = verify_log(path, keys, jobs=1)
        anchored = verify_log(path, keys, checkpoint=checkpoint, jobs=1)
    is_prefix = tuple(lines) == original[: len(lines)]
    assert plain.intact == is_prefix, (ops, plain.problems)
    assert anchored.intact == (tuple(lines) == original), (ops, anchored.problems)
