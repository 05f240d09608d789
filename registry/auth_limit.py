"""Rate limiting of failed authentication, per client address (ASGI middleware).

After ``limit`` answers of 401 (missing, unknown, revoked or expired token) to one client
address within ``window_s`` seconds, every request from that address is answered 429 with
``Retry-After`` for ``block_s`` seconds, before any token is looked up. Requests of clients
without failures cost one dictionary lookup; nothing is written to the database.

The counts live in the memory of one server process: with ``--workers N`` each worker
counts on its own (a client may get up to N x limit failures before all refuse it), and a
restart forgets them. "Client address" is the TCP peer, or the address a trusted proxy
forwarded (``serve --forwarded-allow-ips``; see docs/security.md).
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agent.wire import ErrorBody, ErrorCode, ErrorDetail
from registry.errors import InvalidInputError

if TYPE_CHECKING:  # the CLI imports this module for its defaults without loading the server stack
    from registry.http_errors import ASGIApp, Message, Receive, Scope, Send

FAILED_AUTH_ENV_VAR = "SCANGATE_REGISTRY_FAILED_AUTH"
MAX_TRACKED_CLIENTS = 10_000
"""Addresses remembered at once; beyond it the oldest are forgotten (bounded memory under a flood)."""


@dataclass(frozen=True)
class FailedAuthLimits:
    """How many failed authentications one client address may have, and what happens then."""

    limit: int = 20
    """Failures within the window that trigger a block; 0 switches the limit off."""
    window_s: float = 60.0
    """The window failures are counted in, in seconds."""
    block_s: float = 60.0
    """How long a blocked address is answered 429, in seconds."""

    def to_env(self) -> str:
        """The limits as the value of $SCANGATE_REGISTRY_FAILED_AUTH (for worker processes)."""
        return f"{self.limit},{self.window_s:g},{self.block_s:g}"

    @classmethod
    def from_env(cls) -> FailedAuthLimits:
        """The limits from $SCANGATE_REGISTRY_FAILED_AUTH ("LIMIT,WINDOW_S,BLOCK_S"), else the defaults."""
        text = os.environ.get(FAILED_AUTH_ENV_VAR, "").strip()
        if not text:
            return cls()
        try:
            limit, window, block = text.split(",")
            return cls(limit=int(limit), window_s=float(window), block_s=float(block))
        except ValueError:
            raise InvalidInputError(
                f"{FAILED_AUTH_ENV_VAR}={text!r} is not LIMIT,WINDOW_S,BLOCK_S",
                hint="start the server with `scangate registry serve`, which sets it",
            ) from None


class FailedAuthLimiter:
    """ASGI middleware answering 429 to client addresses with a burst of failed authentications."""

    def __init__(
        self, app: ASGIApp, limits: FailedAuthLimits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self.limits = limits
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limits.limit <= 0:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        address = str(client[0]) if client else "unknown"
        blocked_until = self._blocked.get(address)
        if blocked_until is not None:
            left = blocked_until - self._clock()
            if left > 0:
                await self._refuse(send, address, left)
                return
            del self._blocked[address]
        status = 0

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watching_send)
        if status == 401:
            self._failed(address)

    def _failed(self, address: str) -> None:
        now = self._clock()
        failures = self._failures.pop(address, None) or deque()
        failures.append(now)
        while failures and failures[0] <= now - self.limits.window_s:
            failures.popleft()
        if len(failures) >= self.limits.limit:
            self._blocked[address] = now + self.limits.block_s
            return
        self._failures[address] = failures  # re-inserted: the dict stays ordered oldest-first
        for table in (self._failures, self._blocked):
            while len(table) > MAX_TRACKED_CLIENTS:
                del table[next(iter(table))]

    async def _refuse(self, send: Send, address: str, left_s: float) -> None:
        retry = max(1, math.ceil(left_s))
        message = (
            f"too many failed authentications from {address} ({self.limits.limit} within"
            f" {self.limits.window_s:g} s): requests from this address are refused for {retry} s more"
            " (hint: check the bearer token: missing, unknown, revoked and expired tokens all count)"
        )
        error = ErrorBody(error=ErrorDetail(code=ErrorCode.TOO_MANY_REQUESTS, message=message, detail=None))
        body = json.dumps(error.model_dump(mode="json")).encode("utf-8")
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(retry).encode()),
        ]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
