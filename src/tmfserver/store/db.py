"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ..query.parse import compile_regex


# Why: docs/decisions/0026-re2-for-regex-filters.md
def _regexp(pattern: str | None, value: str | None) -> bool | None:
    """SQLite REGEXP with RE2: linear time, so no client pattern can hang a worker."""
    if pattern is None or value is None:
        return None
    return compile_regex(pattern).search(value) is not None


def _configure_sqlite(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes in WAL mode
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
    # Replaces the Python-`re` REGEXP that SQLAlchemy installs.
    dbapi_connection.create_function("regexp", 2, _regexp, deterministic=True)


def make_engine(database_url: str, pool_size: int = 5, max_overflow: int = 10) -> Engine:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        pool: dict = {}
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            # Keep every connection the pool may hand out: overflow connections would be opened (and their
            # PRAGMAs run) and closed again on every burst of more than pool_size concurrent requests.
            pool = {"pool_size": pool_size + max_overflow, "max_overflow": 0}
        engine = create_engine(url, connect_args={"check_same_thread": False}, **pool)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=max_overflow, pool_pre_ping=True)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
