"""Fixtures for the session-record tests: a rig key, a log writer, a written log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.records.keys import RigKey, load_or_create_rig_key
from agent.records.log import RecordLog
from agent.signing import Signer, key_id_for
from tests.records.factories import draft_for

RIG_ID = "stage4-facs-booth"


@pytest.fixture
def rig_key(tmp_path: Path) -> RigKey:
    """A real rig key file (0600) created the way the agent creates it."""
    return load_or_create_rig_key(tmp_path / "keys" / "rig-ed25519.pem")


@pytest.fixture
def trusted(rig_key: RigKey) -> dict[str, Ed25519PublicKey]:
    """The rig's public key, as a verifier pins it."""
    return {rig_key.key_id: rig_key.public_key}


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "records" / "session-log.jsonl"


@pytest.fixture
def open_log(rig_key: RigKey, log_path: Path) -> Iterator[Callable[[], RecordLog]]:
    """Opens the log writer (closing every writer at the end of the test)."""
    writers: list[RecordLog] = []

    def opener() -> RecordLog:
        writer = RecordLog.open(log_path, rig_key.signer, RIG_ID)
        writers.append(writer)
        return writer

    yield opener
    for writer in writers:
        writer.close()


@pytest.fixture
def written_log(open_log: Callable[[], RecordLog], log_path: Path) -> Path:
    """A closed log of 12 records (captured and refused sessions)."""
    writer = open_log()
    for index in range(12):
        writer.append(draft_for(index))
    writer.close()
    return log_path


def other_signer() -> Signer:
    """A key that is not the rig's (an impostor, or a verifier's wrong key)."""
    return Signer(Ed25519PrivateKey.generate())


def key_id(public_key: Ed25519PublicKey) -> str:
    return key_id_for(public_key)
