"""Signatures shared by registry consents, session records and capture tokens.

Scheme (documented in docs/records.md so third parties can verify without
ScanGate): the signed object, *without* its ``signature`` member, is serialised
as RFC 8785 canonical JSON (JCS); its SHA-256 digest (32 bytes) is signed with
Ed25519. The signature travels as ``{"alg": "Ed25519", "key_id": ..., "value":
<base64url, no padding>}``. A key id is ``ed25519:`` followed by the first 32
hex digits of SHA-256 over the raw 32-byte public key, so anyone holding the
public key can recompute it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any, Literal

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from agent.errors import ScanGateError
from agent.settings_base import StrictModel

SIGNATURE_FIELD = "signature"
KEY_ID_PREFIX = "ed25519:"


class SignatureError(ScanGateError):
    """A signature is missing, malformed, made by an unknown key, or does not verify."""


class UnknownKeyError(SignatureError):
    """The signature's key id is not among the trusted (pinned) keys."""


class BadSignatureError(SignatureError):
    """The signature does not match the object: it was modified or signed by another key."""


class CanonicalJsonError(ScanGateError):
    """The object cannot be expressed as RFC 8785 canonical JSON (e.g. NaN, huge integer)."""


class Signature(StrictModel):
    """An Ed25519 signature over the SHA-256 of an object's canonical JSON."""

    alg: Literal["Ed25519"] = Field("Ed25519", description="Signature algorithm; only Ed25519.")
    key_id: str = Field(
        min_length=len(KEY_ID_PREFIX) + 1,
        max_length=80,
        pattern=r"^ed25519:[0-9a-f]{32}$",
        description="Id of the signing key: 'ed25519:' + first 32 hex digits of SHA-256(raw public key).",
    )
    value: str = Field(
        min_length=86,
        max_length=86,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="The 64-byte Ed25519 signature, base64url without padding.",
    )


def canonical_json(obj: Any) -> bytes:
    """RFC 8785 canonical JSON of a JSON-compatible object."""
    try:
        return rfc8785.dumps(obj)
    except rfc8785.CanonicalizationError as exc:
        raise CanonicalJsonError(f"cannot canonicalise object: {exc}") from None


def signed_payload(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a signed object that the signature covers (all but ``signature``)."""
    return {k: v for k, v in obj.items() if k != SIGNATURE_FIELD}


def object_digest(obj: Mapping[str, Any]) -> bytes:
    """SHA-256 of the canonical JSON of the object without its signature member."""
    return hashlib.sha256(canonical_json(signed_payload(obj))).digest()


def object_hash_hex(obj: Mapping[str, Any]) -> str:
    """Hex SHA-256 over the canonical JSON of the *whole* object, signature included.

    This is the hash used to chain records and to reference a consent: it
    commits to the signature as well as to the content.
    """
    return hashlib.sha256(canonical_json(dict(obj))).hexdigest()


def raw_public_bytes(public_key: Ed25519PublicKey) -> bytes:
    """The 32 raw bytes of an Ed25519 public key."""
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """The key id of a public key (see module docstring)."""
    return KEY_ID_PREFIX + hashlib.sha256(raw_public_bytes(public_key)).hexdigest()[:32]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_to_b64(public_key: Ed25519PublicKey) -> str:
    """Raw public key as base64url without padding (the wire form of keys)."""
    return _b64url(raw_public_bytes(public_key))


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    """Parse a raw base64url Ed25519 public key; raises SignatureError when malformed."""
    try:
        raw = _b64url_decode(text)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error) as exc:
        raise SignatureError(f"malformed Ed25519 public key: {exc}") from None


class Signer:
    """Signs objects with one Ed25519 private key."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_for(self.public_key)

    def sign(self, obj: Mapping[str, Any]) -> Signature:
        """Signature over ``obj`` (its ``signature`` member, if any, is ignored)."""
        value = self._private_key.sign(object_digest(obj))
        return Signature(key_id=self.key_id, value=_b64url(value))

    def sign_into(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``obj`` with its ``signature`` member set."""
        signed = signed_payload(obj)
        signed[SIGNATURE_FIELD] = self.sign(signed).model_dump(mode="json")
        return signed


def verify_signature(
    obj: Mapping[str, Any],
    signature: Signature,
    trusted_keys: Mapping[str, Ed25519PublicKey],
) -> None:
    """Check ``signature`` over ``obj`` against the trusted keys, by key id.

    Raises:
        UnknownKeyError: the key id is not trusted.
        BadSignatureError: the signature does not verify.
    """
    public_key = trusted_keys.get(signature.key_id)
    if public_key is None:
        raise UnknownKeyError(
            f"signed by unknown key {signature.key_id}",
            hint="only keys pinned in the configuration are trusted; check the key ids",
        )
    try:
        public_key.verify(_b64url_decode(signature.value), object_digest(obj))
    except (InvalidSignature, ValueError, binascii.Error):
        raise BadSignatureError(
            f"signature by {signature.key_id} does not verify: the object was modified"
            " or signed by a different key"
        ) from None


def verify_embedded(obj: Mapping[str, Any], trusted_keys: Mapping[str, Ed25519PublicKey]) -> Signature:
    """Verify the ``signature`` member embedded in ``obj``; returns it when valid."""
    raw = obj.get(SIGNATURE_FIELD)
    if raw is None:
        raise SignatureError("object carries no signature")
    try:
        signature = Signature.model_validate(raw)
    except ValueError as exc:
        raise SignatureError(f"malformed signature member: {exc}") from None
    verify_signature(obj, signature, trusted_keys)
    return signature
