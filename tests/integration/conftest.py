"""Tier `integration`: the parts below HTTP -- query engine, repository, outbox and dispatcher on the database
(`engine`), the spec build, the registry -- and the CLI and server as processes (crash safety, graceful
shutdown, concurrency). The in-process tests are in `make test-fast`; those with a `tmfserver` process, a
subprocess or a notification Receiver are `live` (tests/conftest.py) and run in `make test` only.

Fixtures for tests that talk to the database directly (no HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from tmfserver.store.db import make_engine


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the suite's migrated database (SQLite or PostgreSQL, per --db)."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
