"""How ``scangate registry serve`` may listen: HTTPS itself, or plain HTTP on loopback or behind a TLS proxy.

Rig and admin tokens travel in every request, so plain HTTP beyond this machine
is refused unless the operator states that a TLS-terminating proxy sits in front
(``--behind-tls-proxy``; logged at start). The certificate and key are checked
here, before uvicorn starts, so a bad file is one clear message rather than a
traceback from inside the server; the listening socket is bound here too, so
"serving on ..." is printed only once the port is really ours.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

from agent.errors import ScanGateError
from agent.netaddr import is_loopback_host

log = logging.getLogger(__name__)

PROXY_WARNING = (
    "serving plain HTTP on %s:%d as stated by --behind-tls-proxy: TLS is expected from the proxy in"
    " front; every request between the proxy and this server travels unencrypted, tokens included"
)


class ServeSetupError(ScanGateError):
    """``serve`` cannot start as asked: insecure address, unusable TLS files, or a port in use."""


@dataclass(frozen=True)
class ListenPlan:
    """Where and how the registry listens."""

    host: str
    port: int
    tls_cert: Path | None
    tls_key: Path | None
    behind_tls_proxy: bool

    @property
    def scheme(self) -> str:
        """'https' when the server speaks TLS itself, else 'http'."""
        return "https" if self.tls_cert is not None else "http"

    @property
    def url(self) -> str:
        """The base URL announced at start."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


def plan_listening(
    host: str, port: int, tls_cert: Path | None, tls_key: Path | None, *, behind_tls_proxy: bool
) -> ListenPlan:
    """Check the transport options; the plan, or ServeSetupError saying what to do.

    Raises:
        ServeSetupError: only one of cert/key, TLS together with --behind-tls-proxy, unusable
            TLS files, or a non-loopback address without TLS or --behind-tls-proxy.
    """
    if (tls_cert is None) != (tls_key is None):
        missing = "--tls-key" if tls_key is None else "--tls-cert"
        raise ServeSetupError(
            f"{missing} is missing: TLS needs both the certificate and its private key",
            hint="give --tls-cert FILE --tls-key FILE together",
        )
    if tls_cert is not None and behind_tls_proxy:
        raise ServeSetupError(
            "give either --tls-cert/--tls-key (the registry speaks HTTPS itself) or --behind-tls-proxy"
            " (a proxy in front speaks HTTPS and the registry plain HTTP), not both",
        )
    if tls_cert is not None and tls_key is not None:
        check_tls_files(tls_cert, tls_key)
    elif not behind_tls_proxy and not is_loopback_host(host):
        raise ServeSetupError(
            f"refusing to serve plain HTTP on the non-loopback address {host}: rig and admin tokens"
            " would cross the network unencrypted",
            where="--host",
            hint="serve HTTPS with --tls-cert FILE --tls-key FILE, or, if a TLS-terminating reverse"
            " proxy sits in front, say so with --behind-tls-proxy (see docs/security.md)",
        )
    return ListenPlan(host, port, tls_cert, tls_key, behind_tls_proxy)


def check_tls_files(cert: Path, key: Path) -> None:
    """Load the certificate chain and key as the server will; ServeSetupError when they do not work."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    for path, what in ((cert, "certificate"), (key, "private key")):
        try:
            path.read_bytes()
        except OSError as exc:
            raise ServeSetupError(
                f"cannot read the TLS {what}: {exc.strerror or exc}",
                where=str(path),
                hint="check the path and that the service user may read it",
            ) from None

    def no_passphrase() -> bytes:
        # without a callback OpenSSL would prompt on the terminal for an encrypted key
        raise ServeSetupError(
            "the TLS private key is encrypted with a passphrase",
            where=str(key),
            hint="give an unencrypted key readable only by the service user (mode 0600)",
        )

    try:
        context.load_cert_chain(cert, key, password=no_passphrase)
    except ssl.SSLError as exc:
        reason = exc.reason or str(exc)
        if "KEY_VALUES_MISMATCH" in str(exc).upper():
            raise ServeSetupError(
                "the TLS private key does not match the certificate",
                where=f"{cert} / {key}",
                hint="give the key that belongs to this certificate",
            ) from None
        raise ServeSetupError(
            f"the TLS certificate or key cannot be used ({reason})",
            where=f"{cert} / {key}",
            hint="--tls-cert takes a PEM certificate (chain), --tls-key its PEM private key",
        ) from None


def bind_listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` and listening (TCP_NODELAY set, inheritable by workers).

    Raises:
        ServeSetupError: the address is in use, not on this machine, or not permitted.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Accepted sockets inherit TCP_NODELAY; without it every keep-alive answer waits ~40 ms
        # for a delayed ACK (uvicorn binds with protocol 0, so asyncio does not set it).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        raise ServeSetupError(
            f"cannot listen on {host}:{port}: {reason}",
            where="--host/--port",
            hint="stop the other server on that port or choose another with --port",
        ) from None
    sock.set_inheritable(True)
    return sock
