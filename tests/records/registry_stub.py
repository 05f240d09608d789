"""A small real HTTP session-record store on 127.0.0.1 that a test can switch down and up.

It behaves like the registry's ``POST /v1/session-records`` where the outbox
cares: bearer token, idempotent by record hash (a repeat answers 200 with
``"intake": "duplicate"``), and it can be told to lose its answer after
storing, to answer slowly, to reject a sequence (422) or to report a conflict (409).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from agent.signing import canonical_json


@dataclass
class StubBehaviour:
    """What the stub does; tests change it while it runs."""

    token: str = "rig-token"
    lose_answer_for: set[int] = field(default_factory=set)
    """Sequences stored but answered with 500, once each (the answer is lost)."""
    reject: set[int] = field(default_factory=set)
    conflict: set[int] = field(default_factory=set)
    delay_s: float = 0.0


class RegistryStub:
    """Start with :meth:`up`, stop with :meth:`down` (then connections are refused)."""

    def __init__(self) -> None:
        self.behaviour = StubBehaviour()
        self.stored: list[dict[str, Any]] = []
        self.hashes: list[str] = []
        self.posts = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = self._reserve_port()

    @staticmethod
    def _reserve_port() -> int:
        probe = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
        port = int(probe.server_address[1])
        probe.server_close()
        return port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                status, answer = stub._handle(self.path, self.headers.get("Authorization"), body)
                self._answer(status, answer)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _handle(self, path: str, authorization: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
        behaviour = self.behaviour
        if behaviour.delay_s:
            time.sleep(behaviour.delay_s)
        with self._lock:
            self.posts += 1
            if path != "/v1/session-records":
                return 404, {"error": "not found"}
            if authorization != f"Bearer {behaviour.token}":
                return 401, {"error": "unauthorized"}
            record = json.loads(body)
            record_hash = hashlib.sha256(canonical_json(record)).hexdigest()
            sequence = record["sequence"]
            if record_hash in self.hashes:
                return 200, {"record_hash": record_hash, "intake": "duplicate"}
            if sequence in behaviour.reject:
                return 422, {
                    "error": "invalid_input",
                    "message": f"record {sequence} does not fit the schema",
                }
            if sequence in behaviour.conflict:
                return 409, {"error": "conflict", "message": f"a different record {sequence} is held"}
            self.stored.append(record)
            self.hashes.append(record_hash)
            if sequence in behaviour.lose_answer_for:
                behaviour.lose_answer_for.discard(sequence)
                return 500, {"error": "internal", "message": "stored, but the answer got lost"}
            return 201, {"record_hash": record_hash, "intake": "stored"}

    def sequences(self) -> list[int]:
        with self._lock:
            return [int(record["sequence"]) for record in self.stored]
