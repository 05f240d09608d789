"""Which registry keys this rig trusts: the pinned key ids, resolved against GET /v1/keys.

A key id is a hash of the public key (agent.signing), so a registry cannot
substitute another public key under a pinned id: every listed key's id is
recomputed from its public key, and a mismatch is a protocol error. Only keys
whose id is pinned in ``[registry] pinned_key_ids`` are trusted; a listed key
that is not pinned is reported (``unpinned``) so the technician learns that
the registry signs with a key the rig will refuse.

Retired keys: the registry keeps retired keys listed so that records they
signed before retirement still verify (rotation does not re-sign existing
consents). With ``trust_retired_keys`` (the default) a pinned retired key is
trusted for records issued at or before its ``retired_at``; the policy refuses
later ones (``signature_key_retired``). With it off, a retired key is no longer
trusted at all. A pinned key that disappears from the list, or is retired
while ``trust_retired_keys`` is off, is "rotated away": :func:`untrusted_since`
names it so the controller can emit ``RegistryKeyUntrusted`` and re-lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.consent.model import TrustedKey
from agent.registry_client.errors import RegistryProtocolError
from agent.signing import SignatureError, key_id_for, public_key_from_b64
from agent.wire import KeyList, KeyStatus


@dataclass(frozen=True)
class KeyTrust:
    """The outcome of resolving the pinned key ids against the registry's key list."""

    keys: Mapping[str, TrustedKey] = field(default_factory=dict)
    """Trusted keys by key id (pinned and listed, and not excluded as retired)."""
    missing: frozenset[str] = frozenset()
    """Pinned key ids the registry does not list (withdrawn, or pinned by mistake)."""
    unpinned: frozenset[str] = frozenset()
    """Key ids the registry lists but this rig does not pin (records they sign are refused)."""
    active_key_id: str | None = None
    """The key the registry signs new records with (whether or not it is pinned)."""

    @property
    def key_ids(self) -> frozenset[str]:
        """The ids of the trusted keys."""
        return frozenset(self.keys)

    @property
    def active_key_pinned(self) -> bool:
        """Whether records the registry signs now can be verified by this rig."""
        return self.active_key_id is not None and self.active_key_id in self.keys


def resolve_pinned(
    key_list: KeyList,
    pinned_key_ids: Iterable[str],
    *,
    trust_retired_keys: bool,
    where: str = "GET /v1/keys",
) -> KeyTrust:
    """Trusted keys: the listed keys whose (recomputed) id is pinned.

    Raises:
        RegistryProtocolError: a listed key id does not match its public key, a
            public key is malformed, or a key id is listed twice.
    """
    pinned = frozenset(pinned_key_ids)
    trusted: dict[str, TrustedKey] = {}
    listed: set[str] = set()
    active: str | None = None
    for key in key_list.keys:
        try:
            public_key = public_key_from_b64(key.public_key)
        except SignatureError as exc:
            raise RegistryProtocolError(f"key {key.key_id}: {exc.what}", where=where) from None
        actual_id = key_id_for(public_key)
        if actual_id != key.key_id:
            raise RegistryProtocolError(
                f"the registry lists key id {key.key_id} for a public key whose id is {actual_id}",
                where=where,
                hint="a key id is the hash of its public key: this key list is forged or broken",
            )
        if key.key_id in listed:
            raise RegistryProtocolError(f"key id {key.key_id} is listed twice", where=where)
        listed.add(key.key_id)
        if key.status is KeyStatus.ACTIVE:
            active = key.key_id
        if key.key_id not in pinned:
            continue
        if key.status is KeyStatus.RETIRED and not trust_retired_keys:
            continue
        trusted[key.key_id] = TrustedKey(key.key_id, public_key, key.retired_at)
    return KeyTrust(
        keys=trusted,
        missing=pinned - listed,
        unpinned=frozenset(listed - pinned),
        active_key_id=active,
    )


def untrusted_since(before: KeyTrust | None, after: KeyTrust) -> frozenset[str]:
    """Key ids trusted in ``before`` but no longer in ``after`` (rotated away or withdrawn)."""
    if before is None:
        return frozenset()
    return before.key_ids - after.key_ids


def public_keys(keys: Mapping[str, TrustedKey]) -> dict[str, Ed25519PublicKey]:
    """The public keys by id, in the form agent.signing.verify_signature takes."""
    return {key_id: key.public_key for key_id, key in keys.items()}
