"""The rig key in a real Secret Service (gnome-keyring over D-Bus), through the keyring library.

Skipped, with the reason, when no Secret Service is reachable on the session bus. To run it
on a machine without a desktop session (CI)::

    apt-get install -y gnome-keyring dbus
    tests/records/with_secret_service.sh python -m pytest tests/records/test_key_store_secret_service.py
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from agent.records.key_store import KeyringKeyStore, open_key_store
from agent.records.keys import create_key_in, load_key_from
from agent.records.recorder import SessionRecorder
from agent.records.settings import RecordSettings
from agent.signing import verify_embedded
from tests.records.conftest import RIG_ID
from tests.records.factories import draft_for


def _secret_service() -> KeyringBackend:
    """keyring's Secret Service backend, or a skip saying why it cannot be used here."""
    from keyring.backends import SecretService

    try:
        SecretService.Keyring.priority  # noqa: B018 - probes D-Bus for the service
    except RuntimeError as exc:
        pytest.skip(
            f"no Secret Service reachable on the D-Bus session bus ({exc}); see this module's docstring"
        )
    return SecretService.Keyring()  # type: ignore[no-untyped-call]


@pytest.fixture
def secret_service() -> Iterator[tuple[KeyringBackend, str]]:
    backend = _secret_service()
    keyring.set_keyring(backend)
    service = f"scangate-test-{uuid.uuid4().hex[:12]}"  # never touches a real rig's entry
    yield backend, service
    for user in (RIG_ID, RIG_ID + ":next"):
        if backend.get_password(service, user) is not None:
            backend.delete_password(service, user)


def test_the_rig_key_lives_in_a_real_secret_service(
    tmp_path: Path, secret_service: tuple[KeyringBackend, str]
) -> None:
    backend, service = secret_service
    settings = RecordSettings.model_validate(
        {
            "key_store": "auto",
            "keyring_service": service,
            "key_path": tmp_path / "keys" / "rig.pem",
            "log_path": tmp_path / "log.jsonl",
            "outbox_path": tmp_path / "outbox.sqlite3",
        }
    )
    store = open_key_store(settings, RIG_ID)
    assert isinstance(store, KeyringKeyStore) and "SecretService" in store.describe()
    with pytest.raises(Exception, match="no rig key in this store yet"):
        load_key_from(store)
    created = create_key_in(store)
    secret = backend.get_password(service, RIG_ID)
    assert secret is not None and secret.startswith("-----BEGIN PRIVATE KEY-----")
    assert not settings.key_path.exists()
    assert load_key_from(open_key_store(settings, RIG_ID)).key_id == created.key_id
    with SessionRecorder.open(settings, RIG_ID) as recorder:
        record = recorder.append(draft_for(0))
    verify_embedded(record, {created.key_id: created.public_key})
