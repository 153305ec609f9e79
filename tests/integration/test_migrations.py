"""One Alembic history: it builds the schema from nothing and matches the models exactly."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text

from tests.conftest import DEFAULT_PG_URL, _postgres_schema_url
from tmfserver.bootstrap import wire
from tmfserver.cli import alembic_config, migrate
from tmfserver.clock import utc_now_iso
from tmfserver.services import resources
from tmfserver.services.orders import ORDER_KIND
from tmfserver.settings import Settings
from tmfserver.store.models import Base, Delivery, HubVersion, Subscription


def test_upgrade_head_matches_the_models(database_url: str) -> None:
    # `database_url` was migrated with `alembic upgrade head` from an empty database by the fixture.
    engine = create_engine(database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() is not None
        differences = compare_metadata(context, Base.metadata)
        assert differences == []
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert {t.name for t in Base.metadata.sorted_tables} <= tables


@pytest.fixture
def empty_database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A database of its own, empty: a SQLite file, or a new PostgreSQL schema (dropped afterwards)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'at-0002.db'}"
        return
    base = os.environ.get("TMF_TEST_PG_URL", DEFAULT_PG_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    schema = f"tmf_migrate_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(base, schema)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_a_database_at_0002_with_subscriptions_migrates_to_head(empty_database_url: str) -> None:
    """0003 adds `hub_version` with its one row; subscriptions stored before it still receive events."""
    command.upgrade(alembic_config(empty_database_url), "0002")
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            Subscription.__table__.insert(),
            {
                "id": "before-0003",
                "api": "TMF652",
                "callback": "http://127.0.0.1:9/old",
                "query": None,
                "created_at": datetime.now(UTC),
            },
        )
    migrate(empty_database_url)  # what `tmfserver migrate` runs
    with engine.connect() as connection:
        head = ScriptDirectory.from_config(alembic_config(empty_database_url)).get_current_head()
        assert MigrationContext.configure(connection).get_current_revision() == head
        assert len(connection.execute(select(HubVersion.version)).all()) == 1
    engine.dispose()
    deps = wire(Settings(database_url=empty_database_url, background_workers=False)).deps
    resources.create(deps, ORDER_KIND, {"orderItem": [{"id": "1", "action": "add"}]}, "http://t", utc_now_iso())
    with deps.engine.connect() as connection:
        assert list(connection.scalars(select(Delivery.callback))) == ["http://127.0.0.1:9/old"]
    deps.engine.dispose()


def test_the_number_and_instant_indexes_of_search_value_are_partial_on_postgresql(
    database_url: str, backend: str
) -> None:
    """0004: only search rows with a number (an instant) are in the number (instant) index."""
    if backend != "postgresql":
        pytest.skip("SQLite keeps full indexes")
    engine = create_engine(database_url)
    with engine.connect() as connection:
        indexes = {index["name"]: index for index in inspect(connection).get_indexes("search_value")}
    engine.dispose()
    where = {name: index["dialect_options"].get("postgresql_where") for name, index in indexes.items()}
    assert where["ix_search_value_num"] == "(v_num IS NOT NULL)"
    assert where["ix_search_value_time"] == "(v_time IS NOT NULL)"
    assert where["ix_search_value_text"] is None
