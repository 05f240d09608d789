"""When a pooled database-server connection is pinged before use, and what happens when it is dead.

SQLAlchemy's ``pool_pre_ping`` sends a round trip on every checkout. On the rig's hot path
(a consent lookup is one query) that ping was half of the lookup's round trips. Here the
ping is kept on every checkout except hot-path reads (:mod:`registry.hot_reads`), which skip
it on a connection that was in use within :data:`IDLE_PING_AFTER_S` and no older than the last
disconnect seen. A hot-path read that still meets a dead connection (the database server
restarted under load) records the disconnect, so every connection checked out before it is
pinged on its next checkout, and retries once: no request fails for a connection the server
dropped, and no ping is sent while connections are busy.

This is SQLAlchemy's documented pessimistic-disconnect recipe (a ``checkout`` listener that
raises :class:`~sqlalchemy.exc.DisconnectionError`, on which the pool replaces the connection)
with the ping made conditional.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError

IDLE_PING_AFTER_S = 5.0
"""A hot-path checkout pings a connection unused for longer than this (firewalls and database
servers drop idle connections; a busy one was shown alive moments ago)."""

_LAST_USED = "scangate_last_used"


class ConnectionLiveness:
    """Pings pooled connections of ``engine`` before use, except on fresh hot-path checkouts."""

    def __init__(self, engine: Engine, idle_ping_after_s: float = IDLE_PING_AFTER_S) -> None:
        self.idle_ping_after_s = idle_ping_after_s
        self._engine = engine
        self._hot = threading.local()
        self._disconnect_seen_at = 0.0
        event.listen(engine, "connect", self._connected)
        event.listen(engine, "checkout", self._checkout)
        event.listen(engine, "checkin", self._checkin)
        event.listen(engine, "handle_error", self._error)

    @contextmanager
    def hot_checkout(self) -> Iterator[None]:
        """Checkouts in this block (this thread) skip the ping on a connection used just now."""
        self._hot.active = True
        try:
            yield
        finally:
            self._hot.active = False

    def disconnect_seen(self) -> None:
        """A connection was found dead: ping every connection used before now at its next checkout."""
        self._disconnect_seen_at = time.monotonic()

    def _connected(self, dbapi_connection: Any, record: Any) -> None:
        record.info[_LAST_USED] = time.monotonic()

    def _checkin(self, dbapi_connection: Any, record: Any) -> None:
        if dbapi_connection is not None:
            record.info[_LAST_USED] = time.monotonic()

    def _checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        last_used = record.info.get(_LAST_USED, 0.0)
        recently_used = time.monotonic() - last_used <= self.idle_ping_after_s
        if getattr(self._hot, "active", False) and recently_used and last_used > self._disconnect_seen_at:
            return
        dialect = self._engine.dialect
        try:
            alive = dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as exc:
            if not dialect.is_disconnect(exc, dbapi_connection, None):
                raise
            alive = False
        if not alive:  # the pool replaces it with a new connection
            raise DisconnectionError("the pooled connection did not answer a ping")

    def _error(self, context: ExceptionContext) -> None:
        if context.is_disconnect:
            self.disconnect_seen()
