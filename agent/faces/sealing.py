"""Sealing the local template store at rest: AES-256-GCM under a key derived from a passphrase.

Face templates are biometric data (GDPR Art. 9, BIPA): the store file on disk is an
envelope that is useless without the operator's passphrase. The key is derived with
scrypt (memory-hard, so guessing passphrases offline is slow) from the passphrase and
a random salt kept in the envelope; the store is encrypted with AES-GCM under a fresh
random nonce on every write. The envelope's header (format, KDF parameters, salt) is
authenticated as associated data, so altering any of it fails like a wrong passphrase.

The passphrase comes from an environment variable (``[templates] passphrase_env``,
default ``SCANGATE_TEMPLATE_PASSPHRASE``) or, for the interactive commands, a prompt.
Without one the store is neither read nor written: the rig then has no roster and
capture stays locked.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import json
import os
import secrets
import sys
from collections.abc import Callable
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
from pydantic import Field, ValidationError

from agent.errors import TemplateStoreError
from agent.settings_base import StrictModel

ENVELOPE_FORMAT = "scangate-sealed-template-store"
SCRYPT_LOG2_N = 15
"""scrypt cost 2**15 with r=8: 32 MiB of memory, 0.3-0.6 s per derivation on a busy 2-core machine."""
SCRYPT_R = 8
SCRYPT_P = 1
MAX_SCRYPT_LOG2_N = 20
"""A file asking for more work than this is refused (a tampered file must not pin the rig)."""
DEFAULT_PASSPHRASE_ENV = "SCANGATE_TEMPLATE_PASSPHRASE"
"""The environment variable the passphrase is read from unless ``[templates] passphrase_env`` names another."""
MIN_PASSPHRASE_CHARS = 12
"""Shortest passphrase a store is sealed with (reading accepts whatever sealed it)."""
_KEY_BYTES = 32
_SALT_BYTES = 16
_NONCE_BYTES = 12


class SealedEnvelope(StrictModel):
    """The sealed store file: how the key was derived, and the encrypted store."""

    format: Literal["scangate-sealed-template-store"] = Field(description="File type marker.")
    format_version: Literal[1] = Field(description="Version of this envelope layout.")
    kdf: Literal["scrypt"] = Field(description="Key derivation function applied to the passphrase.")
    scrypt_log2_n: int = Field(ge=10, le=MAX_SCRYPT_LOG2_N, description="scrypt cost parameter, as log2(N).")
    scrypt_r: int = Field(ge=1, le=32, description="scrypt block size parameter r.")
    scrypt_p: int = Field(ge=1, le=4, description="scrypt parallelisation parameter p.")
    salt: str = Field(min_length=1, description="scrypt salt, base64 (random per write).")
    cipher: Literal["AES-256-GCM"] = Field(description="Authenticated cipher of the store.")
    nonce: str = Field(min_length=1, description="AES-GCM nonce, base64 (random per write).")
    ciphertext: str = Field(min_length=1, description="The encrypted store file with its GCM tag, base64.")

    def header(self) -> bytes:
        """The authenticated header: every field except the nonce and the ciphertext."""
        fields = self.model_dump(exclude={"nonce", "ciphertext"})
        return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _derive(passphrase: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    kdf = Scrypt(salt=salt, length=_KEY_BYTES, n=2**log2_n, r=r, p=p)
    return kdf.derive(passphrase.encode("utf-8"))


def seal(plaintext: bytes, passphrase: str, *, where: str) -> bytes:
    """Encrypt ``plaintext`` under ``passphrase``; returns the envelope file's bytes.

    Raises:
        TemplateStoreError: the passphrase is shorter than :data:`MIN_PASSPHRASE_CHARS`.
    """
    if len(passphrase) < MIN_PASSPHRASE_CHARS:
        raise TemplateStoreError(
            f"the template store passphrase is too short ({len(passphrase)} characters,"
            f" need at least {MIN_PASSPHRASE_CHARS})",
            where=where,
            hint="choose a longer passphrase (several words)",
        )
    salt, nonce = secrets.token_bytes(_SALT_BYTES), os.urandom(_NONCE_BYTES)
    envelope = SealedEnvelope(
        format=ENVELOPE_FORMAT,
        format_version=1,
        kdf="scrypt",
        scrypt_log2_n=SCRYPT_LOG2_N,
        scrypt_r=SCRYPT_R,
        scrypt_p=SCRYPT_P,
        salt=base64.b64encode(salt).decode("ascii"),
        cipher="AES-256-GCM",
        nonce=base64.b64encode(nonce).decode("ascii"),
        ciphertext="-",
    )
    key = _derive(passphrase, salt, SCRYPT_LOG2_N, SCRYPT_R, SCRYPT_P)
    sealed = AESGCM(key).encrypt(nonce, plaintext, envelope.header())
    envelope = envelope.model_copy(update={"ciphertext": base64.b64encode(sealed).decode("ascii")})
    return (json.dumps(envelope.model_dump(), indent=1) + "\n").encode("utf-8")


def unseal(data: bytes, passphrase: str, *, where: str) -> bytes:
    """Decrypt an envelope written by :func:`seal`.

    Raises:
        TemplateStoreError: the file is not an envelope, or the passphrase is wrong, or the
            file was altered (the two cannot be told apart, by design).
    """
    try:
        envelope = SealedEnvelope.model_validate_json(data)
        salt = base64.b64decode(envelope.salt, validate=True)
        nonce = base64.b64decode(envelope.nonce, validate=True)
        sealed = base64.b64decode(envelope.ciphertext, validate=True)
    except (ValidationError, binascii.Error, ValueError) as exc:
        detail = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise TemplateStoreError(
            f"the template store file is not a sealed ScanGate store ({detail})",
            where=where,
            hint="restore the file from a backup or re-enrol into a new store; it was left as is",
        ) from None
    try:
        key = _derive(passphrase, salt, envelope.scrypt_log2_n, envelope.scrypt_r, envelope.scrypt_p)
        return AESGCM(key).decrypt(nonce, sealed, envelope.header())
    except (InvalidTag, ValueError):
        raise TemplateStoreError(
            "the template store cannot be opened: the passphrase is wrong or the file was altered",
            where=where,
            hint="check the passphrase (environment variable named by [templates] passphrase_env);"
            " if it is right, restore the store from a backup",
        ) from None


def passphrase_source(variable: str, *, prompt: bool = False) -> Callable[[], str]:
    """Where the store's passphrase comes from: the environment variable ``variable``, else a prompt.

    The returned callable is asked only when the store is read or written, and remembers the
    answer. ``prompt`` allows asking on the terminal (interactive commands only; never when
    standard input is not a terminal).

    Raises (when called):
        TemplateStoreError: no passphrase was given.
    """
    remembered: list[str] = []

    def passphrase() -> str:
        if remembered:
            return remembered[0]
        value = os.environ.get(variable, "")
        if not value and prompt and sys.stdin.isatty():
            value = getpass.getpass("Template store passphrase: ")
        if not value:
            raise TemplateStoreError(
                "the template store is encrypted and no passphrase was given",
                where=f"environment variable {variable}",
                hint=f"set {variable} to the store's passphrase (or run the command in a terminal"
                " to be asked for it); capture stays locked without a roster",
            )
        remembered.append(value)
        return value

    return passphrase
