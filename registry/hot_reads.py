"""The rig's hot read path: SELECTs compiled once, run on a pooled DBAPI connection.

Profiling ``GET /v1/consents`` (docs/performance.md, "Goal 4") showed that building a
statement, generating its cache key, running it through an ORM Session and loading
rows into objects cost ~25 times the queries themselves. A :class:`PreparedSelect`
is an ordinary SQLAlchemy ``select()`` over the mapped tables, compiled to the
driver's SQL once per dialect; :class:`RawReads` runs it on a cursor of a connection
taken from the engine's pool, converting parameters and results with the same
SQLAlchemy type processors an ORM query uses (aware UTC datetimes, dates on SQLite).
:class:`SessionReads` runs the same statement inside an ORM Session's transaction,
so code that already has a session reads the same rows the same way.

Nothing is cached but compiled SQL: every call reads the database.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from sqlalchemy import Dialect, Engine, Select
from sqlalchemy.orm import Session

from registry.db_liveness import ConnectionLiveness

Row = tuple[Any, ...]
_Processor = Callable[[Any], Any] | None
T = TypeVar("T")


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]
    literals: dict[str, Any]
    """Values fixed in the statement (e.g. a status compared with a constant)."""
    binds: Mapping[str, _Processor]
    results: tuple[_Processor, ...]


class PreparedSelect:
    """A SELECT whose driver SQL and type processors are worked out once per dialect."""

    def __init__(self, statement: Select[*tuple[Any, ...]]) -> None:
        self.statement = statement
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def compiled(self, dialect: Dialect) -> _Compiled:
        """The statement as the driver of ``dialect`` takes it."""
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        with self._lock:
            compiled = self.statement.compile(dialect=dialect)
            names = tuple(compiled.positiontup or ()) if dialect.positional else tuple(compiled.binds)
            literals = {
                name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required
            }
            binds = {
                name: bind.type.dialect_impl(dialect).bind_processor(dialect)
                for name, bind in compiled.binds.items()
            }
            results = tuple(
                column.type.dialect_impl(dialect).result_processor(dialect, None)
                for column in self.statement.selected_columns
            )
            found = _Compiled(compiled.string, dialect.positional, names, literals, binds, results)
            self._compiled[dialect.name] = found
            return found


class Reads(Protocol):
    """Something that runs prepared SELECTs inside one read transaction."""

    def rows(self, query: PreparedSelect, **params: Any) -> list[Row]:
        """Every row of ``query`` with ``params``, values converted as the ORM would."""
        ...


class RawReads:
    """Prepared SELECTs on one DBAPI cursor (see :meth:`HotReads.transaction`)."""

    def __init__(self, cursor: Any, dialect: Dialect) -> None:
        self._cursor = cursor
        self._dialect = dialect

    def rows(self, query: PreparedSelect, **params: Any) -> list[Row]:
        """Every row of ``query`` with ``params``."""
        compiled = query.compiled(self._dialect)
        values = {**compiled.literals, **params}
        for name, process in compiled.binds.items():
            if process is not None and values.get(name) is not None:
                values[name] = process(values[name])
        self._cursor.execute(
            compiled.sql,
            tuple(values[name] for name in compiled.names) if compiled.positional else values,
        )
        processors = compiled.results
        return [
            tuple(value if p is None else p(value) for p, value in zip(processors, row, strict=True))
            for row in self._cursor.fetchall()
        ]


class SessionReads:
    """Prepared SELECTs run through an ORM Session (inside its transaction)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def rows(self, query: PreparedSelect, **params: Any) -> list[Row]:
        """Every row of ``query`` with ``params``."""
        return [tuple(row) for row in self._session.connection().execute(query.statement, params)]


class HotReads:
    """Read transactions on pooled DBAPI connections of ``engine`` (the same pool as the ORM's).

    On a database server, ``liveness`` lets these reads skip the checkout ping on a connection
    used a moment ago; :meth:`run` retries once when the connection turns out dead.
    """

    def __init__(self, engine: Engine, liveness: ConnectionLiveness | None = None) -> None:
        self._engine = engine
        self._liveness = liveness
        self._sqlite = engine.dialect.name == "sqlite"

    def run(self, work: Callable[[RawReads], T]) -> T:
        """``work``'s answer, its reads made in one :meth:`transaction`.

        If the pooled connection was dead (the database server dropped it), ``work`` runs again,
        once, on a connection the pool has just checked: reads have no effects to repeat.
        """
        try:
            with self.transaction() as reads:
                return work(reads)
        except _DeadConnectionError:
            if self._liveness is not None:
                self._liveness.disconnect_seen()
            with self.transaction() as reads:
                return work(reads)

    @contextmanager
    def transaction(self) -> Iterator[RawReads]:
        """Reads on one pooled connection, with a Session's consistency at a fraction of its cost.

        SQLite: one deferred transaction (``BEGIN`` ... ``ROLLBACK``), so every read sees one
        snapshot, as in a Session. A database server (PostgreSQL): autocommit, so each read is
        one round trip instead of three (``BEGIN``, the query, ``ROLLBACK``); under PostgreSQL's
        READ COMMITTED every statement of a Session's transaction takes its own snapshot anyway,
        so the reads see exactly what they would have seen there.

        Raises :class:`_DeadConnectionError` (for :meth:`run`) when the connection was found dead.
        """
        if self._liveness is None:
            connection = self._engine.raw_connection()
        else:
            with self._liveness.hot_checkout():
                connection = self._engine.raw_connection()
        dialect = self._engine.dialect
        dbapi_connection = connection.dbapi_connection
        assert dbapi_connection is not None  # a connection fresh from the pool is open
        cursor = None
        try:
            cursor = connection.cursor()
            if self._sqlite:
                # The engine turns off sqlite3's own transaction handling (registry.db).
                cursor.execute("BEGIN")
            else:
                dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
            yield RawReads(cursor, dialect)
        except dialect.loaded_dbapi.Error as exc:
            if self._sqlite or not dialect.is_disconnect(exc, dbapi_connection, cursor):
                raise
            connection.invalidate(exc)  # never back to the pool
            raise _DeadConnectionError(str(exc)) from exc
        finally:
            if connection.is_valid:
                try:
                    if self._sqlite:
                        connection.rollback()
                    else:
                        dialect.reset_isolation_level(dbapi_connection)
                finally:
                    connection.close()  # back to the pool (which rolls back whatever is left)


class _DeadConnectionError(Exception):
    """A hot-path read met a connection the database server had dropped."""
