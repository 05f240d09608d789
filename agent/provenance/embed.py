"""Sign one captured file with C2PA: embedded where the format allows it, else a sidecar ``.c2pa``.

The evidence is never put at risk: the file is read once, its SHA-256 must still be the
hash the gate journaled (a file changed since capture gets no credentials), the signed
copy is written to a temporary file and renamed over the original (a crash leaves the
old or the new file, never a mix), and the written manifest is read back and must
validate. Signing uses the rig key through a callback (``Signer.sign_bytes``): the
private key is never exported, so it may live in the OS keyring.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import mimetypes
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import c2pa

from agent.durable import replace_file_atomically
from agent.errors import ScanGateError

log = logging.getLogger(__name__)

SIDECAR_SUFFIX = ".c2pa"
SIDECAR_FORMAT = "application/octet-stream"
"""The format a sidecar manifest is made for: c2pa hashes the asset's bytes whole."""
_EXTRA_TYPES = {".dng": "image/dng", ".heic": "image/heic", ".heif": "image/heif", ".avif": "image/avif"}
_BUILDER_SETTINGS = {"builder": {"thumbnail": {"enabled": False}}}
"""No thumbnail: it would put a second copy of the face into the manifest and costs ~0.4 s per 24 MP."""


class CredentialsError(ScanGateError):
    """Content Credentials could not be written for a file (the file itself is unchanged)."""


SignBytes = Callable[[bytes], bytes]


@dataclass(frozen=True)
class SigningIdentity:
    """What signs a manifest: the rig key's signing callback and its certificate chain (PEM)."""

    sign: SignBytes
    chain_pem: str


@dataclass(frozen=True)
class WrittenCredentials:
    """Where a file's manifest went."""

    mode: Literal["embedded", "sidecar"]
    manifest_label: str
    file: Path
    """The file holding the manifest: the capture (embedded) or the sidecar."""
    file_sha256: str
    """SHA-256 of that file as written."""


def embeddable_type(path: Path) -> str | None:
    """The MIME type c2pa can embed a manifest in for this file name, or None (then: a sidecar)."""
    suffix = path.suffix.lower()
    mime = _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(path.name)[0]
    if mime is None:
        return None
    return mime if mime in c2pa.Builder.get_supported_mime_types() else None


def sidecar_path(path: Path) -> Path:
    """``<file name>.c2pa`` beside the file (the whole name, so ``a.cr3`` and ``a.exr`` never collide)."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _signer(identity: SigningIdentity) -> c2pa.Signer:
    return c2pa.Signer.from_callback(identity.sign, c2pa.C2paSigningAlg.ED25519, identity.chain_pem, None)


def _active_label(reader: c2pa.Reader) -> str:
    store = json.loads(reader.json())
    label = store.get("active_manifest")
    if not isinstance(label, str):
        raise CredentialsError("the manifest just written has no active manifest")
    return label


def _check_written(reader: c2pa.Reader, what: str) -> str:
    state = reader.get_validation_state()
    if state not in ("Valid", "Trusted"):
        raise CredentialsError(f"the manifest just written for {what} does not validate ({state})")
    return _active_label(reader)


def write_credentials(
    path: Path,
    *,
    expected_sha256: str,
    manifest: Callable[[str], dict[str, Any]],
    identity: SigningIdentity,
) -> WrittenCredentials:
    """Sign ``path`` in place (embedded) or beside it (sidecar); returns where the manifest is.

    A format c2pa cannot embed in, or a file it cannot parse as its name says, gets a sidecar.

    Args:
        path: the captured file.
        expected_sha256: the hash the gate journaled for it; a file that changed since is not signed.
        manifest: builds the manifest definition for a MIME type (see assertions.manifest_definition).
        identity: the signing callback and certificate chain.

    Raises:
        CredentialsError: not written (unreadable, changed since capture, signing refused); the
            file is left exactly as it was.
    """
    try:
        data = path.read_bytes()
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise CredentialsError(f"cannot read the capture: {exc.strerror or exc}", where=str(path)) from None
    if hashlib.sha256(data).hexdigest() != expected_sha256:
        raise CredentialsError(
            "the file changed after it was captured (its SHA-256 is not the one recorded): no credentials"
            " are put on bytes other than those captured",
            where=str(path),
        )
    mime = embeddable_type(path)
    try:
        with c2pa.Context.from_dict(_BUILDER_SETTINGS) as context:
            if mime is not None:
                try:
                    return _embed(path, data, mime, mode, manifest(mime), identity, context)
                # e.g. a file named .png that is no PNG: a sidecar still binds its bytes
                except c2pa.C2paError as exc:
                    log.warning("cannot embed credentials in %s (%s): writing a sidecar", path.name, exc)
            return _sidecar(path, data, manifest(SIDECAR_FORMAT), identity, context)
    except c2pa.C2paError as exc:
        raise CredentialsError(f"C2PA signing failed: {exc}", where=str(path)) from None
    except OSError as exc:
        raise CredentialsError(
            f"cannot write the credentials: {exc.strerror or exc}", where=str(path)
        ) from None


def _embed(
    path: Path,
    data: bytes,
    mime: str,
    mode: int,
    definition: dict[str, Any],
    identity: SigningIdentity,
    context: c2pa.Context,
) -> WrittenCredentials:
    signed = io.BytesIO()
    with c2pa.Builder(definition, context) as builder, _signer(identity) as signer:
        builder.sign(signer, mime, io.BytesIO(data), signed)
    output = signed.getvalue()
    with c2pa.Reader(mime, io.BytesIO(output)) as reader:
        label = _check_written(reader, path.name)
    replace_file_atomically(path, output, mode=mode)
    return WrittenCredentials("embedded", label, path, hashlib.sha256(output).hexdigest())


def _sidecar(
    path: Path, data: bytes, definition: dict[str, Any], identity: SigningIdentity, context: c2pa.Context
) -> WrittenCredentials:
    with c2pa.Builder(definition, context) as builder, _signer(identity) as signer:
        builder.set_no_embed()
        manifest_bytes = builder.sign(signer, SIDECAR_FORMAT, io.BytesIO(data), io.BytesIO())
    with c2pa.Reader(SIDECAR_FORMAT, io.BytesIO(data), manifest_bytes) as reader:
        label = _check_written(reader, path.name)
    target = sidecar_path(path)
    replace_file_atomically(target, manifest_bytes)
    return WrittenCredentials("sidecar", label, target, hashlib.sha256(manifest_bytes).hexdigest())
