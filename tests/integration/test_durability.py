"""SQLite is durable by default: every connection syncs the WAL at each commit (`PRAGMA synchronous` = FULL,
2), so an acknowledged write survives an OS crash or power failure. TMF_SQLITE_SYNCHRONOUS=NORMAL (1) trades
that for speed, on request only."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from tmfserver.bootstrap import wire
from tmfserver.settings import Settings

FULL, NORMAL = 2, 1


@pytest.mark.parametrize(("setting", "expected"), [(None, FULL), ("NORMAL", NORMAL), ("FULL", FULL)])
def test_sqlite_synchronous(tmp_path: Path, setting: str | None, expected: int) -> None:
    overrides = {} if setting is None else {"sqlite_synchronous": setting}
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'durable.db'}", **overrides)
    engine = wire(settings).deps.engine
    try:
        for _ in range(2):  # each pooled connection, not only the first
            with engine.connect() as connection:
                assert connection.execute(text("PRAGMA synchronous")).scalar() == expected
                assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        engine.dispose()


def test_anything_else_is_refused() -> None:
    with pytest.raises(ValueError):
        Settings(sqlite_synchronous="OFF")


@pytest.mark.parametrize(("setting", "expected"), [(None, "on"), ("off", "off")])
def test_postgresql_synchronous_commit(
    backend: str, database_url: str, setting: str | None, expected: str
) -> None:
    """Every connection of both PostgreSQL pools (the background engine and the requests' async engine) has
    `synchronous_commit` as set, whatever the server's default."""
    if backend != "postgresql":
        pytest.skip("PostgreSQL only")
    overrides = {} if setting is None else {"postgresql_synchronous_commit": setting}
    deps = wire(Settings(database_url=database_url, **overrides)).deps
    try:
        with deps.engine.connect() as connection:
            assert connection.execute(text("SHOW synchronous_commit")).scalar() == expected

        async def through_the_request_engine() -> str:
            return await deps.read(lambda d: _show(d.engine))

        assert asyncio.run(through_the_request_engine()) == expected
    finally:
        asyncio.run(deps.execution.stop())
        deps.engine.dispose()


def _show(engine) -> str:
    with engine.connect() as connection:
        return connection.execute(text("SHOW synchronous_commit")).scalar()
