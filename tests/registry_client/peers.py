"""A real HTTP proxy on loopback in front of the real registry, that misbehaves on request.

Tests set ``proxy.fault`` to make one path answer badly (slow, HTTP 500,
malformed JSON, schema violation, oversized, trickling, redirect, ...), or set
``proxy.rewrite_response`` / ``proxy.rewrite_request`` to tamper with what
passes through. Everything else is forwarded unchanged to the upstream
registry over a real socket. Optionally served over TLS.
"""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Fault:
    """How to misbehave on requests whose path starts with ``path``.

    kinds: 'slow' (wait ``seconds`` before answering), 'status' (answer ``status``
    with a JSON error body), 'malformed' (200, not JSON), 'schema' (200, JSON of
    the wrong shape), 'oversized' (200, ``size`` bytes with Content-Length),
    'oversized_chunked' (200, ``size`` bytes, chunked, no length), 'trickle'
    (200, one byte every ``seconds``), 'redirect' (302 elsewhere), 'close'
    (drop the connection without an answer).
    """

    kind: str
    path: str = "/"
    status: int = 500
    seconds: float = 0.0
    size: int = 0
    times: int | None = None  # misbehave this many times, then forward normally


RequestRewrite = Callable[[str, dict[str, str]], tuple[str, dict[str, str]]]
ResponseRewrite = Callable[[str, Any], Any]


class _Handler(BaseHTTPRequestHandler):
    server: _ProxyServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        proxy = self.server.proxy
        path = urlsplit(self.path).path
        with proxy.lock:
            proxy.requests[path] += 1
            proxy.seen_headers.append(dict(self.headers))
            fault = proxy.fault
            remaining = fault.times if fault is not None and path.startswith(fault.path) else None
            if fault is not None and remaining is not None:
                if remaining <= 0:
                    fault = None
                else:
                    fault.times = remaining - 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if fault is not None and path.startswith(fault.path) and self._misbehave(fault):
            return
        self._forward(body)

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {"Content-Type": "application/json"}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _misbehave(self, fault: Fault) -> bool:
        kind = fault.kind
        if kind == "slow":
            time.sleep(fault.seconds)
            return False  # then answer normally (the client has given up by then)
        if kind == "status":
            error = {
                "wire_version": "scangate.registry/1",
                "error": {"code": "internal_error", "message": "boom"},
            }
            self._send(fault.status, json.dumps(error).encode())
        elif kind == "malformed":
            self._send(200, b'{"wire_version": "scangate.registry/1", "consents": [')
        elif kind == "schema":
            self._send(200, json.dumps({"wire_version": "scangate.registry/1", "surprise": True}).encode())
        elif kind == "oversized":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(fault.size))
            self.end_headers()
            self._write_quietly(b"[" + b"0," * (fault.size // 2 - 1) + b"0]")
        elif kind == "oversized_chunked":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b" " * 65536
            sent = 0
            while sent < fault.size:
                if not self._write_quietly(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                    break
                sent += len(chunk)
            self._write_quietly(b"0\r\n\r\n")
        elif kind == "trickle":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            for _ in range(1000):
                if not self._write_quietly(b" "):
                    break
                time.sleep(fault.seconds)
        elif kind == "redirect":
            self._send(302, b"", {"Location": "http://127.0.0.1:9/elsewhere"})
        elif kind == "close":
            self.close_connection = True
            self.connection.close()
        else:
            raise ValueError(f"unknown fault {kind!r}")
        return True

    def _write_quietly(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except OSError:  # the client gave up (as it should)
            self.close_connection = True
            return False

    def _forward(self, body: bytes) -> None:
        proxy = self.server.proxy
        target = self.path
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if proxy.rewrite_request is not None:
            target, headers = proxy.rewrite_request(target, headers)
        upstream = urlsplit(proxy.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "127.0.0.1", upstream.port, timeout=30)
        try:
            connection.request(self.command, target, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            status = answer.status
            content_type = answer.getheader("Content-Type", "application/json")
        finally:
            connection.close()
        if proxy.rewrite_response is not None and status == 200:
            value = proxy.rewrite_response(urlsplit(target).path, json.loads(data))
            data = json.dumps(value).encode()
        self._send(status, data, {"Content-Type": content_type})


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    proxy: TamperingProxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        # The client under test hangs up on purpose (timeouts, resets): not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class TamperingProxy:
    """The proxy (see module docstring). Use as a context manager."""

    def __init__(self, upstream: str, *, tls: ssl.SSLContext | None = None) -> None:
        self.upstream = upstream
        self.lock = threading.Lock()
        self.fault: Fault | None = None
        self.rewrite_request: RequestRewrite | None = None
        self.rewrite_response: ResponseRewrite | None = None
        self.requests: Counter[str] = Counter()
        self.seen_headers: list[dict[str, str]] = []
        self._server = _ProxyServer(("127.0.0.1", 0), _Handler)
        self._server.proxy = self
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{'localhost' if tls else '127.0.0.1'}:{port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tampering-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> TamperingProxy:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.close()


def closed_port_url() -> str:
    """The URL of a loopback port nobody listens on (connection refused)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
