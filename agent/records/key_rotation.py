"""``scangate keys rotate``: retire the rig key in favour of a new one, as a recoverable procedure.

Steps (each one is idempotent, and a crash between any two is finished by running
``scangate keys rotate`` again; until then the rig refuses to record, so capture
stays locked and no record can be signed by the wrong key):

1. **check** that the registry is reachable with the rig's token (nothing is changed
   if not);
2. **new key**: generate it into the store's ``next`` slot (file ``<key_path>.next``,
   or keyring user ``<rig id>:next``); a key already there is reused;
3. **rotation record**: append a ``key_rotated`` record signed by the *old* key,
   naming the new key id and public key (skipped if the log's last record already
   is that record). From its sequence S on, the old key is retired: it signed S,
   and it signs nothing after S;
4. **register**: send that record to the registry (``POST
   /v1/rigs/{rig_id}/keys/rotate``); the registry checks it is signed by the rig's
   registered current key, adds the new public key and retires the old one after S.
   The step is repeated until the registry acknowledges it (stored or already held);
5. **switch**: add the old public key to ``<key_path>.retired.json`` (so the rig
   still verifies its own older records), then move the new key into the ``current``
   slot, which destroys the old private key: after step 3 it must never sign again,
   so keeping it would only keep a way to break the chain rule.

The log's lock is taken before step 2 and held to the end, so a running agent (which
holds it) makes ``keys rotate`` stop before it changes anything.
Records still waiting in the outbox were signed before S and are accepted by the
registry after the rotation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.records.errors import KeyRotationError
from agent.records.key_store import RigKeyStore
from agent.records.keys import remember_retired_key
from agent.records.log import RecordLog, read_last_record
from agent.records.model import RecordDraft, utc_timestamp
from agent.records.rotation_record import KEY_ROTATED, KeyRotation, rotation_facts
from agent.records.settings import RecordSettings
from agent.records.uploader import UploadResult
from agent.signing import Signer, key_id_for, object_hash_hex, public_key_to_b64

log = logging.getLogger(__name__)

STEPS = ("new_key_stored", "rotation_recorded", "registered", "switched")
"""Names of the points between steps (for tests that stop the procedure there)."""


class RotationRegistrar(Protocol):
    """The registry, as far as a key rotation needs it."""

    def check_access(self, rig_id: str) -> str | None:
        """None when the registry answers the rig's token; otherwise why not, in words."""
        ...

    def register_rotation(self, record: dict[str, Any]) -> UploadResult:
        """Send the signed rotation record; never raises for network trouble (returns RETRY)."""
        ...


@dataclass(frozen=True)
class RotationResult:
    """A finished rotation."""

    rig_id: str
    retired_key_id: str
    new_key_id: str
    sequence: int
    """The rotation record's sequence S: the retired key signed records up to S, the new one signs after."""
    record_hash: str
    registry: str
    """What the registry answered: 'stored', 'duplicate', or 'acknowledged earlier' when resuming after step 5."""
    resumed: bool
    """True when this run finished a rotation an earlier run had started."""


def rotation_draft(retired_key_id: str, new_key: Ed25519PrivateKey, reason: str | None = None) -> RecordDraft:
    """The draft of a key-rotation record retiring ``retired_key_id`` in favour of ``new_key``."""
    now = utc_timestamp()
    public = new_key.public_key()
    return RecordDraft(
        outcome=KEY_ROTATED,
        outcome_detail=(
            "The rig's signing key was rotated: the key that signs this record retires itself and names"
            " its successor, which signs every later record."
        ),
        key_rotation=KeyRotation(
            retired_key_id=retired_key_id,
            new_key_id=key_id_for(public),
            new_public_key=public_key_to_b64(public),
            reason=reason,
        ),
        started_at=now,
        ended_at=now,
    )


def _no_stop(_step: str) -> None:
    return None


def rotate_key(
    settings: RecordSettings,
    rig_id: str,
    store: RigKeyStore,
    registrar: RotationRegistrar,
    *,
    reason: str | None = None,
    after_step: Callable[[str], None] = _no_stop,
) -> RotationResult:
    """Rotate the rig key, or finish a rotation an earlier run started (see the module docstring).

    Args:
        after_step: called with each name of :data:`STEPS` once that step is durable.

    Raises:
        KeyRotationError: the registry is unreachable or refuses (the message says whether
            anything changed and how to go on); RigKeyError, LogLockedError and the like from
            the store and the log (the agent is running: stop it first).
    """
    old = store.read("current")
    if old is None:
        raise store.missing_error()
    pending = store.read("next")
    old_id = key_id_for(old.public_key())
    if pending is not None and key_id_for(pending.public_key()) == old_id:
        # a keyring switch stopped after copying the new key over the old one: only the cleanup is left
        store.discard("next")
        return _already_switched(settings, rig_id, old_id)
    # The log lock first: while the agent runs (and holds it) nothing at all is changed.
    with RecordLog.open(settings.log_path, Signer(old), rig_id) as writer:
        if pending is None:
            new = _new_key(store, registrar, rig_id)
            after_step("new_key_stored")
        else:
            new = pending
            log.warning(
                "finishing an interrupted rig key rotation (new key %s)", key_id_for(new.public_key())
            )
        record = _rotation_record(writer, old_id, new, reason)
        after_step("rotation_recorded")
        answer = registrar.register_rotation(record)
        if not answer.delivered:
            raise KeyRotationError(
                f"the registry did not acknowledge the key rotation ({answer.detail}). The rotation is"
                f" recorded in the log (record {record['sequence']}), so the old key {old_id} is retired and"
                " the rig records nothing until the rotation is finished",
                hint="fix the cause (registry reachable, rig token valid, the old key registered for this rig)"
                " and run scangate keys rotate again",
            )
        after_step("registered")
        remember_retired_key(settings.key_path, old.public_key(), int(record["sequence"]))
        store.promote_next()
    after_step("switched")
    return RotationResult(
        rig_id=rig_id,
        retired_key_id=old_id,
        new_key_id=key_id_for(new.public_key()),
        sequence=int(record["sequence"]),
        record_hash=object_hash_hex(record),
        registry=str(answer.status),
        resumed=pending is not None,
    )


def _new_key(store: RigKeyStore, registrar: RotationRegistrar, rig_id: str) -> Ed25519PrivateKey:
    """Check the registry answers, then put a new key into the store's ``next`` slot."""
    problem = registrar.check_access(rig_id)
    if problem is not None:
        raise KeyRotationError(
            f"the registry cannot be reached with this rig's token: {problem}; nothing was changed",
            hint="check [records.upload] url (or [registry] url) and the rig token in its environment"
            " variable, then run scangate keys rotate again",
        )
    if not store.add("next", Ed25519PrivateKey.generate()):
        raise KeyRotationError(
            "another rotation is creating a key at this moment", where=store.describe("next")
        )
    new = store.read("next")
    if new is None:
        raise KeyRotationError("the new key vanished from the store", where=store.describe("next"))
    return new


def _rotation_record(
    writer: RecordLog, old_id: str, new: Ed25519PrivateKey, reason: str | None
) -> dict[str, Any]:
    """The log's rotation record to ``new``: the last record if it already is one, else a new one."""
    new_id = key_id_for(new.public_key())
    last = writer.last_record
    facts = rotation_facts(last) if last is not None else None
    if last is not None and facts is not None and facts.retired_key_id == old_id:
        if facts.new_key_id != new_id:
            raise KeyRotationError(
                f"the log's last record already retires key {old_id} in favour of {facts.new_key_id},"
                f" but the key waiting in the store is {new_id}",
                where=str(writer.path),
                hint="keep both as evidence; restore the key named by the log from backup, or contact support",
            )
        return last
    return writer.append(rotation_draft(old_id, new, reason))


def _already_switched(settings: RecordSettings, rig_id: str, current_id: str) -> RotationResult:
    last = read_last_record(settings.log_path)
    facts = rotation_facts(last) if last is not None else None
    if last is None or facts is None or facts.new_key_id != current_id:
        raise KeyRotationError(
            "the store's current and next keys are the same, but the log's last record is not the rotation"
            " to that key",
            where=str(settings.log_path),
            hint="run scangate verify on the log and check the rig key; contact support",
        )
    return RotationResult(
        rig_id=rig_id,
        retired_key_id=facts.retired_key_id,
        new_key_id=current_id,
        sequence=facts.sequence,
        record_hash=object_hash_hex(last),
        registry="acknowledged earlier",
        resumed=True,
    )
