"""SQLite is durable by default: every connection syncs the WAL at each commit (`PRAGMA synchronous` = FULL,
2), so an acknowledged write survives an OS crash or power failure. TMF_SQLITE_SYNCHRONOUS=NORMAL (1) trades
that for speed, on request only."""

from __future__ import annotations

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
