"""One Alembic history: it builds the schema from nothing and matches the models exactly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from tmfserver.store.models import Base


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
