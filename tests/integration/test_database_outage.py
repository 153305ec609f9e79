"""A database that cannot serve is a 503 with Retry-After, never a 500 or a hang; the background loops wait it
out with one log line each way; `serve`/`migrate` wait for it at start, then say in one line what is missing.

What is translated and what is not is checked against real driver errors (SQLite and psycopg), not
hand-built exceptions. The PostgreSQL restart under load is in test_postgresql_outage.py.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import QueuePool

from tests.e2e._support import ORDERS, assert_tmf_error
from tests.live_server import free_port
from tmfserver.app import create_app
from tmfserver.bootstrap import wire
from tmfserver.cli import migrate
from tmfserver.services.background import BackgroundWork
from tmfserver.settings import Settings
from tmfserver.store.db import IDLE_BEFORE_PING_SECONDS, make_engine
from tmfserver.store.errors import DatabaseUnavailable, Outage, database_errors, unavailability

from .test_cli import tmfserver

ORDER = {"orderItem": [{"id": "1", "action": "add"}]}


def error_of(engine, statement: str) -> SQLAlchemyError:
    with pytest.raises(SQLAlchemyError) as caught, engine.connect() as connection:
        connection.exec_driver_sql(statement)
    return caught.value


# --- which failures are an outage ----------------------------------------------------------------------


def test_sqlite_failures_of_the_file_are_outages_and_failures_of_the_statement_are_not(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})  # no busy wait
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (a INTEGER PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO t VALUES (1)")

    assert unavailability(error_of(engine, "SELECT * FROM no_such_table")) is None  # an OperationalError too
    assert unavailability(error_of(engine, "INSERT INTO t VALUES (1)")) is None  # IntegrityError

    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the (zero) busy timeout
    try:
        locked = error_of(engine, "INSERT INTO t VALUES (2)")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked" in unavailability(locked)

    read_only = create_engine(f"sqlite:///{path}")
    event.listen(read_only, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA query_only=ON"))
    assert "readonly database" in unavailability(error_of(read_only, "INSERT INTO t VALUES (3)"))

    missing = create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'db.sqlite'}")
    assert "unable to open database file" in unavailability(error_of(missing, "SELECT 1"))
    for each in (engine, read_only, missing):
        each.dispose()


def test_an_exhausted_pool_and_a_refused_postgresql_connection_are_outages(tmp_path: Path) -> None:
    pooled = create_engine(
        f"sqlite:///{tmp_path / 'p.db'}", poolclass=QueuePool, pool_size=1, max_overflow=0, pool_timeout=0.1
    )
    with (
        pooled.connect(),  # the only connection, held
        pytest.raises(DatabaseUnavailable, match="no pooled connection free"),
        database_errors(),
    ):
        pooled.connect()
    pooled.dispose()

    refused = create_engine(f"postgresql+psycopg://tmf:secret@127.0.0.1:{free_port()}/x")
    error = error_of(refused, "SELECT 1")
    assert "Connection refused" in unavailability(error)
    refused.dispose()


def test_a_postgresql_statement_error_is_not_an_outage(backend: str, database_url: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL run only (the SQLite counterpart is above)")
    engine = create_engine(database_url)
    try:
        assert unavailability(error_of(engine, "SELECT * FROM no_such_table")) is None
        assert unavailability(error_of(engine, "SELEKT 1")) is None
    finally:
        engine.dispose()


# --- the API answers 503 with Retry-After -------------------------------------------------------------


@pytest.fixture
def own_database(backend: str, database_url: str, tmp_path: Path) -> str:
    """A migrated SQLite file of this test's own, or the suite's PostgreSQL schema."""
    if backend == "postgresql":
        return database_url
    url = f"sqlite:///{tmp_path / 'own.db'}"
    migrate(url)
    return url


def test_a_request_that_finds_no_free_connection_is_a_503_after_the_pool_timeout(own_database: str) -> None:
    settings = Settings(
        database_url=own_database,
        db_pool_size=1,
        db_max_overflow=0,
        db_pool_timeout_seconds=0.5,
        db_retry_after_seconds=7,
        background_workers=False,
        validate_responses=True,
    )
    app = create_app(settings)
    with app.test_client() as client:
        created = client.post(ORDERS, json=ORDER)
        assert created.status_code == 201, created.text
        order = created.json()["id"]
        with _holding_the_only_connection(app, client):
            for request in (lambda: client.get(f"{ORDERS}/{order}"), lambda: client.post(ORDERS, json=ORDER)):
                started = time.monotonic()
                response = request()
                waited = time.monotonic() - started
                body = assert_tmf_error(response, 503)
                assert response.headers["retry-after"] == "7"
                assert body["code"] == "503" and body["reason"] == "Service Unavailable"
                assert "try again in 7 s" in body["message"] and "pool" not in body["message"]  # no internals
                assert 0.5 <= waited < 5, waited
        assert client.get(f"{ORDERS}/{order}").status_code == 200  # the pool has its connection back
    app.deps.engine.dispose()


@contextmanager
def _holding_the_only_connection(app, client) -> Iterator[None]:
    """Hold the one connection of the pool that requests use: on PostgreSQL the async engine's
    (store/execution.py), checked out in the app's event loop; on SQLite the engine's."""
    async_engine = getattr(app.deps.execution, "async_engine", None)
    if async_engine is None:
        with app.deps.engine.connect():
            yield
        return
    connection = client.portal.call(async_engine.connect().start)
    try:
        yield
    finally:
        client.portal.call(connection.close)


class QueryOnly:
    """Makes the SQLite database refuse writes for a while, with SQLite's own SQLITE_READONLY error.

    What it simulates: a database file, directory or mount that became read-only under a running server. The
    file's permissions cannot be used for that here: the tests run as root, which ignores them, and pooled
    connections keep the file open read-write anyway. `PRAGMA query_only` (set on each connection as the
    pool hands it out) makes SQLite itself refuse every write of that connection with SQLITE_READONLY
    ("attempt to write a readonly database"), the error a read-only file gives, while reads go on."""

    def __init__(self, engine) -> None:
        self.on = False
        event.listen(engine, "checkout", self._apply)

    def _apply(self, dbapi_connection, _record, _proxy) -> None:
        dbapi_connection.execute(f"PRAGMA query_only={'ON' if self.on else 'OFF'}")


def test_a_read_only_sqlite_database_refuses_writes_with_503_and_serves_reads(backend: str, tmp_path) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite run only")
    url = f"sqlite:///{tmp_path / 'read-only.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, background_workers=False, validate_responses=True))
    read_only = QueryOnly(app.deps.engine)
    with app.test_client() as client:
        stored = client.post(ORDERS, json=ORDER).json()
        read_only.on = True
        refused = client.post(ORDERS, json=ORDER)
        assert_tmf_error(refused, 503)
        assert refused.headers["retry-after"] == "5"  # TMF_DB_RETRY_AFTER_SECONDS' default
        patched = client.patch(
            f"{ORDERS}/{stored['id']}",
            json={"description": "never"},
            headers={"Content-Type": "application/merge-patch+json"},
        )
        assert_tmf_error(patched, 503)
        assert client.get(f"{ORDERS}/{stored['id']}").json() == stored  # reads go on, nothing half-written
        assert [order["id"] for order in client.get(ORDERS).json()] == [stored["id"]]

        read_only.on = False
        again = client.post(ORDERS, json=ORDER)
        assert again.status_code == 201, again.text
        assert len(client.get(ORDERS).json()) == 2
    app.deps.engine.dispose()


# --- the background loops back off and log the outage once ---------------------------------------------


def test_outage_backoff_doubles_up_to_the_cap_with_jitter_and_logs_each_way_once(caplog) -> None:
    log = logging.getLogger("tmfserver.test-outage")
    low = Outage(log, base=0.2, cap=1.0, jitter=lambda: 0.0)
    high = Outage(log, base=0.2, cap=1.0, jitter=lambda: 0.999999)
    with caplog.at_level(logging.INFO, logger=log.name):
        assert [round(low.failed("gone"), 3) for _ in range(6)] == [0.1, 0.2, 0.4, 0.5, 0.5, 0.5]
        assert [round(high.failed("gone"), 3) for _ in range(6)] == [0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
        low.succeeded()
        low.succeeded()
        assert round(low.failed("gone again"), 3) == 0.1  # a new outage starts from the base
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages.count(("WARNING", "database unavailable; pausing and retrying with backoff")) == 3
    assert messages.count(("INFO", "database available again")) == 1
    assert not [r for r in caplog.records if r.exc_info]


def test_dispatcher_and_scheduler_wait_out_an_unreachable_database_and_resume(tmp_path: Path, caplog) -> None:
    """The database directory is missing (SQLite: unable to open the file) while both loops run, then the
    database appears; each loop logs one WARNING, no traceback, and one INFO when it resumes."""
    directory = tmp_path / "later"
    url = f"sqlite:///{directory / 'db.sqlite'}"
    settings = Settings(database_url=url, db_backoff_cap_seconds=0.4, callback_allow_private=True)
    deps = wire(settings).deps  # creates the directory (make_engine), taken away again below
    shutil.rmtree(directory)
    work = BackgroundWork(deps)
    loggers = ("tmfserver.dispatcher", "tmfserver.background")
    with caplog.at_level(logging.DEBUG, logger="tmfserver"):
        work.start()
        try:
            time.sleep(2.5)  # several attempts each, at up to 0.4 s apart
            assert work.alive()
            staging = tmp_path / "staging"
            migrate(f"sqlite:///{staging / 'db.sqlite'}")
            staging.rename(directory)  # the database appears at once, with its tables
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and (work.dispatcher.outage.ongoing or work.outage.ongoing):
                time.sleep(0.05)
        finally:
            work.stop()
            deps.engine.dispose()
    records = [r for r in caplog.records if r.name in loggers]
    for name in loggers:
        mine = [(r.levelname, r.getMessage()) for r in records if r.name == name]
        assert mine == [
            ("WARNING", "database unavailable; pausing and retrying with backoff"),
            ("INFO", "database available again"),
        ], (name, mine)
    warning = next(r for r in records if r.levelname == "WARNING")
    assert "unable to open database file" in warning.error
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    failed_attempts = [r.failed_attempts for r in records if r.levelname == "INFO"]
    assert all(n >= 2 for n in failed_attempts), failed_attempts  # it kept trying, with pauses


# --- serve and migrate wait for the database at start --------------------------------------------------


@pytest.mark.parametrize("command", ["migrate", "serve"])
def test_start_against_an_unreachable_database_waits_then_exits_with_one_line(command: str, tmp_path) -> None:
    port = free_port()  # nothing listens there
    url = f"postgresql+psycopg://tmf:s3cret-pw@127.0.0.1:{port}/tmf"
    env = {"DATABASE_URL": url, "TMF_DB_WAIT_SECONDS": "2", "TMF_LOG_FORMAT": "json", "PORT": str(free_port())}
    started = time.monotonic()
    result = tmfserver(command, env=env, cwd=tmp_path)
    took = time.monotonic() - started
    assert result.returncode == 1, result.stderr
    assert 2 <= took < 20, took
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(
        f"tmfserver: database unreachable at postgresql+psycopg://tmf:********@127.0.0.1:{port}/tmf after 2 s: "
    ), lines
    assert "Connection refused" in lines[-1]
    assert len(lines) == 2, lines  # the WARNING that it waits, the last line
    assert '"database unreachable; waiting up to 2 s"' in lines[0]
    assert "s3cret-pw" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_a_pooled_postgresql_connection_dropped_while_idle_is_replaced_at_checkout(
    backend: str, database_url: str
) -> None:
    """store/db.ping_connections_left_idle: a connection idle in the pool for a second is pinged at checkout
    and replaced when the server dropped it (a restart, a failover, an idle timeout); one handed on sooner is
    not pinged, and its failure is an outage error like any other."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    admin = create_engine(database_url, isolation_level="AUTOCOMMIT")

    def backend_pid() -> int:
        with engine.connect() as connection:
            return connection.execute(text("SELECT pg_backend_pid()")).scalar()

    def drop(pid: int) -> None:
        with admin.connect() as connection:
            assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()

    try:
        first = backend_pid()
        drop(first)
        time.sleep(IDLE_BEFORE_PING_SECONDS + 0.2)
        second = backend_pid()  # pinged, found dead, replaced: no error
        assert second != first
        drop(second)
        with pytest.raises(DatabaseUnavailable), database_errors():  # handed on at once: not pinged
            backend_pid()
        assert backend_pid() not in (first, second)  # the pool was renewed after that error
    finally:
        engine.dispose()
        admin.dispose()
