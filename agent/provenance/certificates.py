"""The rig's C2PA certificate chain: fetched from the registry, checked, cached for offline starts.

The registry issues each registered rig key a certificate chained to the production's CA
(registry/rig_ca.py). The rig fetches it lazily, on the signing worker's thread, the first
time it signs (never on the capture path), and again when it nears its end. A chain is
used only if its leaf certifies *this* rig key, is in its validity period and was issued
by the CA certificate that follows it. The last good chain is saved (a certificate is
public data) so a rig that starts while the registry is down still signs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.durable import replace_file_atomically
from agent.errors import ScanGateError
from agent.private_files import private_dir
from agent.signing import raw_public_bytes
from agent.wire.provenance import RigCertificate

log = logging.getLogger(__name__)

CERTIFICATE_CACHE_NAME = "rig-certificate-chain.pem"
"""The saved chain, beside the rig key file (public data, kept owner-only like the folder)."""
REFRESH_BEFORE = timedelta(days=7)
"""Fetch a new chain when the current one ends within this (the registry renews 30 days before)."""
RETRY_AFTER_S = 60.0
"""After a failed fetch, wait this long before asking the registry again (signing meanwhile says why)."""


class CertificateUnavailableError(ScanGateError):
    """The rig has no usable C2PA certificate right now (captures go on; credentials are not written)."""


@dataclass(frozen=True)
class RigChain:
    """A checked chain: the rig certificate then the CA certificate, PEM."""

    chain_pem: str
    serial: str
    not_after: datetime


def check_chain(chain_pem: str, public_key: Ed25519PublicKey, now: datetime, *, where: str) -> RigChain:
    """``chain_pem`` if it certifies ``public_key`` now and its leaf was issued by the CA after it.

    Raises:
        CertificateUnavailableError: saying what is wrong with the chain.
    """
    try:
        certificates = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except ValueError as exc:
        raise CertificateUnavailableError(f"not a PEM certificate chain: {exc}", where=where) from None
    if len(certificates) != 2:
        raise CertificateUnavailableError(
            f"expected the rig certificate and the CA certificate, got {len(certificates)}", where=where
        )
    leaf, ca = certificates
    leaf_key = leaf.public_key()
    if not isinstance(leaf_key, Ed25519PublicKey) or raw_public_bytes(leaf_key) != raw_public_bytes(
        public_key
    ):
        raise CertificateUnavailableError(
            "the certificate is for another key than this rig's",
            where=where,
            hint="register the rig's current key with the registry (scangate keys show; registry add-rig-key)",
        )
    if not leaf.not_valid_before_utc <= now < leaf.not_valid_after_utc:
        raise CertificateUnavailableError(
            f"the rig certificate is valid from {leaf.not_valid_before_utc} to {leaf.not_valid_after_utc},"
            f" not now ({now})",
            where=where,
        )
    ca_key = ca.public_key()
    try:
        if leaf.issuer != ca.subject or not isinstance(ca_key, Ed25519PublicKey):
            raise InvalidSignature
        ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes)
    except InvalidSignature:
        raise CertificateUnavailableError(
            "the rig certificate was not issued by the CA certificate that follows it", where=where
        ) from None
    return RigChain(chain_pem, format(leaf.serial_number, "x"), leaf.not_valid_after_utc)


class ChainSource(Protocol):
    """Where the signing worker gets the rig's current chain."""

    def current(self) -> RigChain:
        """A chain valid now (raises CertificateUnavailableError saying why there is none)."""
        ...


class CertificateSource:
    """The rig's current chain, from the registry, else the saved copy (thread-safe)."""

    def __init__(
        self,
        fetch: Callable[[], RigCertificate] | None,
        public_key: Ed25519PublicKey,
        cache_path: Path | None,
        clock: Callable[[], datetime],
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Args: how to ask the registry (None: no registry), the rig's public key, where to save the
        chain (None: nowhere), the rig's wall clock and a monotonic clock (retry spacing)."""
        self._fetch = fetch
        self._public_key = public_key
        self._cache_path = cache_path
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._chain: RigChain | None = None
        self._last_problem: str | None = None
        self._next_fetch = 0.0

    def current(self) -> RigChain:
        """A chain valid now for this rig key.

        Raises:
            CertificateUnavailableError: none (no registry, the registry refused, the saved copy
                is missing or no longer valid), saying why.
        """
        with self._lock:
            now = self._clock()
            chain = self._chain
            if chain is not None and now < chain.not_after - REFRESH_BEFORE:
                return chain
            if self._monotonic() >= self._next_fetch:
                self._try_fetch(now)
            chain = self._chain or self._saved(now)
            if chain is not None and now < chain.not_after:
                self._chain = chain
                return chain
            raise CertificateUnavailableError(
                self._last_problem or "no rig certificate: this rig has no registry to get one from",
                hint="the registry issues one when the rig key is registered (docs/provenance.md)",
            )

    def _try_fetch(self, now: datetime) -> None:
        if self._fetch is None:
            return
        try:
            answer = self._fetch()
            chain = check_chain(
                answer.chain_pem, self._public_key, now, where="the registry's rig certificate"
            )
        except ScanGateError as exc:
            self._last_problem = f"no rig certificate from the registry: {exc.what}"
            self._next_fetch = self._monotonic() + RETRY_AFTER_S
            log.warning("%s", self._last_problem)
            return
        self._chain, self._last_problem = chain, None
        if self._cache_path is not None:
            try:
                private_dir(self._cache_path.parent)
                # owner-only like everything in the key folder, although a certificate is public data
                replace_file_atomically(self._cache_path, chain.chain_pem.encode("ascii"))
            except OSError as exc:
                log.warning("could not save the rig certificate to %s: %s", self._cache_path, exc)

    def _saved(self, now: datetime) -> RigChain | None:
        if self._cache_path is None or not self._cache_path.exists():
            return None
        try:
            return check_chain(
                self._cache_path.read_text("ascii"), self._public_key, now, where=str(self._cache_path)
            )
        except (OSError, UnicodeDecodeError) as exc:
            self._last_problem = f"{self._last_problem or 'no rig certificate'}; saved copy unreadable: {exc}"
        except CertificateUnavailableError as exc:
            self._last_problem = f"{self._last_problem or 'no rig certificate'}; saved copy: {exc.what}"
        return None
