"""Run the registry in a background thread on loopback (tests and the embedded demo registry)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from registry.app import create_app
from registry.auth_limit import FailedAuthLimits
from registry.db import Database, is_initialised
from registry.errors import RegistryError
from registry.setup import initialise
from registry.template_seal import TemplateKey, TemplateKeySource

log = logging.getLogger(__name__)
STARTUP_TIMEOUT_S = 20.0


class _AnswerClock:
    """ASGI wrapper noting when the server last finished sending an HTTP answer (monotonic).

    Rehearsals measure "capture locks within the maximum age of the last confirmation"
    from the registry's side with it, not only from the rig's own record.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.last_answer_at: float | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def noting_send(message: Message) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                self.last_answer_at = time.monotonic()

        await self._app(scope, receive, noting_send)


class EmbeddedRegistry:
    """A registry server running in a daemon thread; use as a context manager or call stop()."""

    def __init__(
        self,
        server: uvicorn.Server,
        thread: threading.Thread,
        database: Database,
        url: str,
        answer_clock: _AnswerClock,
    ) -> None:
        self._server = server
        self._thread = thread
        self._answer_clock = answer_clock
        self.database = database
        self.url = url
        """Base URL, e.g. 'http://127.0.0.1:54321' (no trailing slash)."""

    @property
    def last_answer_at(self) -> float | None:
        """When the server last finished an HTTP answer (``time.monotonic()``); None before the first."""
        return self._answer_clock.last_answer_at

    def stop(self, timeout: float = 10.0, *, graceful: bool = True) -> None:
        """Stop the server and wait for its thread.

        Graceful: open requests are finished first. A client that keeps reusing a keep-alive
        connection (a rig rechecking its consent every second does) keeps a graceful stop
        waiting and goes on being answered, so after ``timeout`` seconds the server is forced
        to stop and given ``timeout`` seconds more. ``graceful=False`` forces it at once, as
        a crash or a lost network would.

        Raises:
            RegistryError: the server was still running after that.
        """
        self._server.should_exit = True
        self._server.force_exit = not graceful
        self._thread.join(timeout)
        if self._thread.is_alive():
            state = self._server.server_state
            log.warning(
                "the embedded registry at %s did not stop within %g s (%d task(s) open; open requests: %s):"
                " forcing it",
                self.url,
                timeout,
                len(state.tasks),
                "; ".join(_describe(connection) for connection in state.connections) or "none",
            )
            self._server.force_exit = True
            self._thread.join(timeout)
        if self._thread.is_alive():
            raise RegistryError(
                f"the embedded registry at {self.url} did not stop, even when forced",
                hint="a request may be stuck in the application; the server thread is still running",
            )

    def __enter__(self) -> EmbeddedRegistry:
        return self

    def __exit__(
        self, _type: type[BaseException] | None, _exc: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class _DropCancelledRequests(logging.Filter):
    """Drops uvicorn's "Exception in ASGI application" for requests cancelled by a forced stop.

    A cancelled request is the stop doing its work, not a fault of the application; the
    rehearsal that cuts the registry off would otherwise print a traceback per open request.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return False
        # the lifespan task reports its cancellation as a formatted traceback in the message
        return not record.getMessage().rstrip().endswith("CancelledError")


_DROP_CANCELLED = _DropCancelledRequests()


def _describe(connection: object) -> str:
    """What an open server connection is doing, for the log (uvicorn's protocol objects)."""
    cycle = getattr(connection, "cycle", None)
    if cycle is None:
        return "idle connection"
    scope = getattr(cycle, "scope", {})
    state = (
        "response complete"
        if getattr(cycle, "response_complete", False)
        else "response started"
        if getattr(cycle, "response_started", False)
        else "no response yet"
    )
    return f"{scope.get('method', '?')} {scope.get('path', '?')} ({state})"


def start_embedded_registry(
    db_url: str | Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    initialise_if_needed: bool = True,
    max_body_bytes: int | None = None,
    template_key: TemplateKey | None = None,
    failed_auth_limit: int | None = None,
    failed_auth_window_s: float = 60.0,
    failed_auth_block_s: float = 60.0,
) -> EmbeddedRegistry:
    """Start a registry on ``host:port`` (port 0: a free port) serving ``db_url``.

    Initialises the database first when it is empty (and ``initialise_if_needed``). The
    failed-authentication limit is the server's default unless ``failed_auth_limit`` is given
    (0 switches it off; tests that refuse many tokens on purpose raise it).
    ``template_key`` seals face templates; give an ephemeral one
    (:meth:`TemplateKey.generate`) for a registry whose database is thrown away
    after the run: what it leaves on disk can then never be opened. Without it the
    configured key file is used (and created by the initialisation).

    Raises:
        RegistryError: the database cannot be used or the server did not start.
    """
    database = Database.open(db_url, TemplateKeySource(template_key) if template_key else None)
    if initialise_if_needed and not is_initialised(database.engine):
        initialise(database, admin_label="embedded registry")
    failed_auth = (
        FailedAuthLimits()
        if failed_auth_limit is None
        else FailedAuthLimits(failed_auth_limit, failed_auth_window_s, failed_auth_block_s)
    )
    app = (
        create_app(database, failed_auth=failed_auth)
        if max_body_bytes is None
        else create_app(database, max_body_bytes=max_body_bytes, failed_auth=failed_auth)
    )
    # the client address is the TCP peer: no X-Forwarded-For from anyone (it would evade the limit)
    logging.getLogger("uvicorn.error").addFilter(_DROP_CANCELLED)  # once: the same filter object
    answer_clock = _AnswerClock(app)
    config = uvicorn.Config(
        answer_clock,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="scangate-registry", daemon=True)
    thread.start()
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RegistryError(
                f"the embedded registry did not start on {host}:{port}", hint="is the port free?"
            )
        time.sleep(0.01)
    bound_port = server.servers[0].sockets[0].getsockname()[1]
    return EmbeddedRegistry(server, thread, database, f"http://{host}:{bound_port}", answer_clock)
