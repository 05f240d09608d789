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
import json
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


# Fast path: for the subset of values checked by _in_fast_domain, the standard
# library's C JSON encoder (sorted keys, compact separators, no ASCII escaping)
# produces exactly the RFC 8785 bytes, about three times faster than rfc8785.
# Why the subset is safe (tested against rfc8785 and the RFC's examples):
# - keys are ASCII, so code-point order equals RFC 8785's UTF-16 code-unit order;
# - strings: both escape only '"', '\\' and U+0000..U+001F, with the same short forms
#   (\b \t \n \f \r) and lowercase \u00xx otherwise; lone surrogates fail the
#   UTF-8 encoding and fall through to rfc8785, which rejects them;
# - integers within +-(2**53 - 1) print as plain decimals in both;
# - a finite non-integral float with 1e-4 <= |x| < 1e16 prints in fixed notation
#   with the shortest round-trip digits in both Python's repr and ECMAScript.
# Everything else (other types, non-ASCII keys, other floats) goes to rfc8785.
_FAST_ENCODER = json.JSONEncoder(
    ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False, check_circular=False
)
_SAFE_INTEGER = 2**53 - 1
_FAST_FLOAT_MIN = 1e-4
_FAST_FLOAT_MAX = 1e16


def _in_fast_domain(value: Any) -> bool:
    kind = type(value)
    if kind is str or value is None or kind is bool:
        return True
    if kind is int:
        return bool(-_SAFE_INTEGER <= value <= _SAFE_INTEGER)
    if kind is float:
        magnitude = abs(value)
        return bool(_FAST_FLOAT_MIN <= magnitude < _FAST_FLOAT_MAX and not value.is_integer())
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _in_fast_domain(item):
                return False
        return True
    if kind is list:
        return all(_in_fast_domain(item) for item in value)
    return False


def _fast_domain_checked(obj: Any) -> bool:
    try:
        return _in_fast_domain(obj)
    except RecursionError:
        raise CanonicalJsonError("cannot canonicalise object: nested too deeply (or circular)") from None


def _canonical_slow(obj: Any) -> bytes:
    try:
        return rfc8785.dumps(obj)
    except (rfc8785.CanonicalizationError, RecursionError) as exc:
        raise CanonicalJsonError(f"cannot canonicalise object: {exc}") from None


def _canonical_fast(obj: Any) -> bytes | None:
    try:
        return _FAST_ENCODER.encode(obj).encode("utf-8")
    except UnicodeEncodeError:
        return None  # lone surrogate: let rfc8785 report it


def canonical_json(obj: Any, *, fast_domain: bool | None = None) -> bytes:
    """RFC 8785 canonical JSON of a JSON-compatible object.

    Args:
        fast_domain: what :func:`loads_for_canonical` reported for ``obj`` (skips
            re-walking the object); None to have it checked here.

    Raises:
        CanonicalJsonError: NaN/infinity, an integer beyond +-(2**53 - 1), a lone
            surrogate, a non-string key, or a type JSON cannot express.
    """
    if fast_domain is None:
        fast_domain = _fast_domain_checked(obj)
    if fast_domain:
        fast = _canonical_fast(obj)
        if fast is not None:
            return fast
    return _canonical_slow(obj)


def loads_for_canonical(data: bytes) -> tuple[Any, bool]:
    """Parse UTF-8 JSON text strictly, noting whether the value is in the fast domain.

    Stricter than :func:`json.loads`: rejects NaN/Infinity literals. Returns the
    value and whether :func:`canonical_json` may use its fast path on it (the
    floats, integers and keys are checked while parsing, so no second walk over
    the object is needed).

    Raises:
        ValueError: not UTF-8 or not JSON.
    """
    text = data.decode("utf-8")
    in_domain = True

    def parse_float(literal: str) -> float:
        nonlocal in_domain
        value = float(literal)
        if not _FAST_FLOAT_MIN <= abs(value) < _FAST_FLOAT_MAX or value.is_integer():
            in_domain = False
        return value

    def parse_int(literal: str) -> int:
        nonlocal in_domain
        value = int(literal)
        if not -_SAFE_INTEGER <= value <= _SAFE_INTEGER:
            in_domain = False
        return value

    def reject_constant(literal: str) -> Any:
        raise ValueError(f"{literal} is not valid JSON")

    decoder = json.JSONDecoder(parse_float=parse_float, parse_int=parse_int, parse_constant=reject_constant)
    value = decoder.decode(text)
    if in_domain and not text.isascii():
        in_domain = _fast_domain_checked(value)  # non-ASCII text: the keys need a look
    return value, in_domain


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

    def sign_bytes(self, data: bytes) -> bytes:
        """The raw 64-byte Ed25519 signature over ``data`` (for C2PA claims; the key never leaves)."""
        return self._private_key.sign(data)

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
        raw = _b64url_decode(signature.value)
        if _b64url(raw) != signature.value:
            # several base64 spellings decode to the same bytes; accept only the canonical
            # one, so the signed object's text (and hash) cannot vary under a valid signature
            raise ValueError("non-canonical base64url")
        public_key.verify(raw, object_digest(obj))
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
