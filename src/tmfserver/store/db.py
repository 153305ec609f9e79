"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, Executable, create_engine, event, text
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine
from sqlalchemy.orm import Session, sessionmaker

from ..query.parse import compile_regex
from .errors import DatabaseUnavailable, database_errors


# Why: docs/decisions/0026-re2-for-regex-filters.md
def _regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite REGEXP with RE2: linear time, so no client pattern can hang a worker."""
    if pattern is None or value is None:
        return None
    return compile_regex(pattern).search(value) is not None


def _sqlite_configurator(synchronous: str) -> Callable[[Any, Any], None]:
    """PRAGMAs of every SQLite connection. `synchronous`: FULL (the default) syncs the WAL at every commit, so
    an acknowledged write survives an OS crash or power failure; NORMAL syncs at checkpoints only (durable
    across process crashes, not power failures) — docs/operating.md, TMF_SQLITE_SYNCHRONOUS."""

    def configure(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS[synchronous]}")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
        # Replaces the Python-`re` REGEXP that SQLAlchemy installs.
        dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)

    return configure


# Execution option of a connection that runs one read statement and nothing else (repository.read_document):
# no transaction around it (SQLite: no BEGIN, see unit_of_work.use_immediate_transactions_on_sqlite).
SINGLE_READ = "tmf_single_read"


def single_read(connection: Connection) -> Connection:
    """`connection` set up for one read statement without a transaction around it: one statement is atomic
    on its own, and the BEGIN and ROLLBACK cost more than a primary-key SELECT (on PostgreSQL two round
    trips). PostgreSQL: autocommit; SQLite: the server's BEGIN is skipped."""
    if connection.dialect.name == "postgresql":
        return connection.execution_options(isolation_level="AUTOCOMMIT")
    return connection.execution_options(**{SINGLE_READ: True})


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled once for one dialect, to run on the driver's own cursor (`fetch_one`,
    `fetch_all`): its SQL in the driver's parameter style, the values bound into the statement itself, and for
    a positional style the order of the parameters."""

    sql: str
    values: dict[str, Any]
    positions: tuple[str, ...] | None  # None: named parameters (psycopg)

    def parameters(self, values: dict[str, Any]) -> Any:
        merged = {**self.values, **values} if values else self.values
        return merged if self.positions is None else tuple(merged[name] for name in self.positions)


@functools.lru_cache(maxsize=1024)
def driver_statement(statement: Executable, dialect: Dialect) -> DriverStatement | None:
    """`statement` compiled for the driver, or None when one of its values needs SQLAlchemy's type conversion
    on the way in (a number on SQLite, say): that statement must go through `Connection.execute`. Values the
    statement leaves open (`bindparam("name")` without one) are given to `fetch_one`/`fetch_all`."""
    compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
    if any(bind.type.dialect_impl(dialect).bind_processor(dialect) for bind in compiled.binds.values()):
        return None
    positions = tuple(compiled.positiontup or ()) if compiled.positional else None
    return DriverStatement(str(compiled), dict(compiled.params), positions)


# Why: docs/decisions/0051-reads-on-the-driver-cursor.md
def fetch_one(connection: Connection, statement: DriverStatement, values: dict[str, Any]) -> tuple | None:
    """The first row of one read statement, run on the DBAPI cursor of `connection` (a `single_read` one, or
    one inside a transaction, which the statement joins) without SQLAlchemy's execution context, result and
    row objects: the columns come as the driver returns them, so only for columns that need no type
    conversion (strings, integers, JSON as text). A driver error leaves as SQLAlchemy's `DBAPIError` (so
    `errors.database_errors` sees it), and a lost connection is invalidated, as `Connection.execute` does."""
    return _on_driver(connection, statement, values, all_rows=False)


def fetch_all(connection: Connection, statement: DriverStatement) -> list[tuple]:
    """Every row of a read statement, as `fetch_one`."""
    return _on_driver(connection, statement, {}, all_rows=True)


def _on_driver(
    connection: Connection, statement: DriverStatement, values: dict[str, Any], *, all_rows: bool
) -> Any:
    dialect = connection.dialect
    dbapi_connection = connection.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement.sql, statement.parameters(values))
        return cursor.fetchall() if all_rows else cursor.fetchone()
    except dialect.loaded_dbapi.Error as error:
        lost = dialect.is_disconnect(error, dbapi_connection, cursor)
        if lost:
            connection.invalidate(error)
        base = dialect.loaded_dbapi.Error
        raise DBAPIError.instance(
            statement.sql, values, error, base, dialect=dialect, connection_invalidated=lost
        ) from error
    finally:
        with contextlib.suppress(Exception):  # a cursor of a lost connection may fail to close
            cursor.close()


SQLITE_SYNCHRONOUS = {"FULL": "FULL", "NORMAL": "NORMAL"}  # the only values a setting may put in the PRAGMA
POSTGRESQL_SYNCHRONOUS_COMMIT = {"on": "on", "off": "off"}


def _postgresql_configurator(synchronous_commit: str) -> Callable[[Any, Any], None]:
    """`synchronous_commit` of every PostgreSQL connection, set when it opens: `on` (the default) makes a
    commit wait until its WAL is flushed, so an acknowledged write survives a database server crash, whatever
    the server's own default is (docs/operating.md, TMF_POSTGRESQL_SYNCHRONOUS_COMMIT)."""
    value = POSTGRESQL_SYNCHRONOUS_COMMIT[synchronous_commit]

    def configure(dbapi_connection: Any, _record: Any) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True  # a SET outside any transaction, not left open
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET SESSION synchronous_commit TO {value}")
        cursor.close()
        dbapi_connection.autocommit = autocommit

    return configure


def make_engine(
    database_url: str,
    pool_size: int = 5,
    max_overflow: int = 10,
    *,
    connect_timeout_seconds: int = 5,
    pool_timeout_seconds: float = 10.0,
    sqlite_synchronous: str = "FULL",
    postgresql_synchronous_commit: str = "on",
) -> Engine:
    """An engine whose every wait is bounded, so that a request during a database outage fails (503) instead
    of hanging: opening a PostgreSQL connection (`connect_timeout`), waiting for a free pooled connection
    (`pool_timeout`), and on SQLite waiting for another writer (`busy_timeout`)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pool: dict = {}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # Keep every connection the pool may hand out: overflow connections would be opened (and their
            # PRAGMAs run) and closed again on every burst of more than pool_size concurrent requests.
            pool = {
                "pool_size": pool_size + max_overflow,
                "max_overflow": 0,
                "pool_timeout": pool_timeout_seconds,
            }
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _sqlite_configurator(sqlite_synchronous))
        return engine
    options = _postgresql_options(pool_size, max_overflow, connect_timeout_seconds, pool_timeout_seconds)
    engine = create_engine(url, **options)
    _configure_postgresql(engine, postgresql_synchronous_commit)
    return engine


def _configure_postgresql(engine: Engine, synchronous_commit: str) -> None:
    event.listen(engine, "connect", _postgresql_configurator(synchronous_commit))
    ping_connections_left_idle(engine)
    # An executemany INSERT without RETURNING (a resource's search rows, its state history) as one
    # multi-row INSERT per page of rows, as SQLAlchemy already does for psycopg2, instead of psycopg's
    # executemany (a Bind/Execute per row): 8-12 % less server CPU per create (bench/README.md, "PostgreSQL:
    # executemany as one multi-row INSERT").
    engine.dialect.use_insertmanyvalues_wo_returning = True


def _postgresql_options(
    pool_size: int, max_overflow: int, connect_timeout_seconds: int, pool_timeout_seconds: float
) -> dict[str, Any]:
    return {
        "pool_size": pool_size,
        "max_overflow": max_overflow,
        "pool_timeout": pool_timeout_seconds,
        "connect_args": {"connect_timeout": connect_timeout_seconds},
    }


def make_async_engine(
    database_url: str,
    pool_size: int = 5,
    max_overflow: int = 10,
    *,
    connect_timeout_seconds: int = 5,
    pool_timeout_seconds: float = 10.0,
    postgresql_synchronous_commit: str = "on",
) -> AsyncEngine:
    """PostgreSQL through psycopg's async mode, for the request handlers (store/execution.py), with the same
    bounded waits as `make_engine`."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError(f"no async engine for {url.get_backend_name()}")
    # Every connection the pool may open is kept: under a burst of more than pool_size concurrent requests,
    # overflow connections would be opened and closed again on every request (profiled: a connect and a
    # close per GET). Requests beyond that wait (pool_timeout), without blocking the loop.
    options = _postgresql_options(pool_size + max_overflow, 0, connect_timeout_seconds, pool_timeout_seconds)
    engine = create_async_engine(url, **options)
    _configure_postgresql(engine.sync_engine, postgresql_synchronous_commit)
    return engine


IDLE_BEFORE_PING_SECONDS = 1.0


def ping_connections_left_idle(engine: Engine, idle_seconds: float = IDLE_BEFORE_PING_SECONDS) -> None:
    """SQLAlchemy's `pool_pre_ping`, for connections that sat in the pool at least `idle_seconds`: one a
    server restart or failover dropped is noticed at checkout and replaced, so the first request after a
    quiet restart succeeds. A connection handed on within a second (every one, under load) is not pinged:
    the ping was a round trip per request, ~20 % of a PostgreSQL GET's CPU (bench/README.md). If the server
    went in that second, the request fails as in any outage (503) and SQLAlchemy renews the whole pool."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["tmf_checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("tmf_checked_in_at")
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces this connection and checks out another
            raise DisconnectionError(f"an idle pooled connection failed its ping: {error}") from error


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def wait_until_reachable(
    database_url: str,
    seconds: float,
    *,
    connect_timeout_seconds: int = 5,
    on_first_failure: Callable[[DatabaseUnavailable], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Return once `SELECT 1` answers; retry (every 0.5 s, doubling up to 5 s) for at most `seconds`, then
    raise the last `DatabaseUnavailable`. Errors that are not an outage (errors.unavailability) are raised at
    once. PostgreSQL refusing the connection itself (an unknown role or database, a wrong password) counts as
    unavailable: psycopg gives such refusals no SQLSTATE to tell them from a server that is starting, and a
    database still being provisioned is worth the wait; the final error names the cause."""
    engine = make_engine(database_url, 1, 0, connect_timeout_seconds=connect_timeout_seconds)
    deadline = time.monotonic() + seconds
    pause = 0.5
    try:
        while True:
            try:
                with database_errors(), engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return
            except DatabaseUnavailable as error:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                if on_first_failure is not None and pause == 0.5:
                    on_first_failure(error)
                sleep(min(pause, left))
                pause = min(pause * 2, 5.0)
    finally:
        engine.dispose()
