"""Bearer tokens and badge PINs: generated at random, stored only as hashes.

Tokens carry 256 bits of randomness, so a plain SHA-256 digest is enough to
store them (no offline guessing is feasible) and lets every request find its
token with one indexed lookup. PINs are short, so they are stored as salted
scrypt hashes, and the fallback endpoint locks a badge after repeated failures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Literal

RIG_TOKEN_PREFIX = "sgr_"
ADMIN_TOKEN_PREFIX = "sga_"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def new_token(kind: Literal["rig", "admin"]) -> str:
    """A fresh bearer token; the prefix says what it is for (handy when one leaks into a log)."""
    prefix = RIG_TOKEN_PREFIX if kind == "rig" else ADMIN_TOKEN_PREFIX
    return prefix + secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """SHA-256 hex of a token, as stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token_id() -> str:
    """A short public id to name (and revoke) a token by."""
    return "tok-" + secrets.token_hex(8)


def new_pin(digits: int = 6) -> str:
    """A random numeric PIN."""
    return "".join(secrets.choice("0123456789") for _ in range(digits))


def new_badge_code() -> str:
    """A random badge code, easy to read aloud: groups of uppercase letters and digits."""
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(3))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    """Salted scrypt hash of a PIN: 'scrypt$N$r$p$salt$hash' (base64 parts)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_pin(pin: str, stored: str) -> bool:
    """True when ``pin`` matches a hash made by :func:`hash_pin` (constant-time compare)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            pin.encode("utf-8"),
            salt=base64.b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)
