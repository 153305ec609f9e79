"""Alembic environment: one migration history for SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from logging.config import fileConfig

from alembic import context

from tmfserver.settings import Settings
from tmfserver.store.db import make_engine
from tmfserver.store.models import Base

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata
log = logging.getLogger("tmfserver.migrations")


def log_applied(ctx, step, heads, run_args) -> None:
    """Alembic's on_version_apply hook: one record per applied migration, the revisions it went from and to
    (None: an empty database)."""
    facts = {
        "from_revision": ",".join(step.source_revision_ids) or None,
        "to_revision": ",".join(step.destination_revision_ids) or None,
        "direction": "upgrade" if step.is_upgrade else "downgrade",
        "description": step.up_revision.doc if step.up_revision else None,
    }
    log.info("migration applied", extra=facts)


def _database_url() -> str:
    return config.attributes.get("database_url") or Settings().database_url


def run_migrations_offline() -> None:
    context.configure(url=_database_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(_database_url())
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        version_table_schema=config.attributes.get("schema"),
        on_version_apply=log_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
