"""A unit of work owns one database transaction: what changed and its audit trail commit together."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..domain.lifecycle import StateChange
from . import outbox
from .models import ResourceMixin, StateHistory
from .repository import DocumentRepository


def use_immediate_transactions_on_sqlite(engine: Engine) -> None:
    """SQLite upgrades a read transaction to a write lazily and fails with SQLITE_BUSY when two writers race.

    Taking the write lock at BEGIN (`BEGIN IMMEDIATE`) for units of work that write makes them wait on
    `busy_timeout` instead, so concurrent writers serialise and never lose an update.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _manual_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        immediate = connection.get_execution_options().get("tmf_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class UnitOfWork:
    def __init__(self, session: Session) -> None:
        self.session = session

    def publish(self, api: str, resource_id: str, envelope: dict) -> None:
        outbox.publish(self.session, api, resource_id, envelope, time.time())

    def repository(self, model: type[ResourceMixin]) -> DocumentRepository:
        return DocumentRepository(self.session, model)

    def record_history(
        self, resource_type: str, resource_id: str, changes: list[StateChange], now: str
    ) -> None:
        if not changes:
            return
        self.session.execute(
            insert(StateHistory),
            [
                {
                    "resource_type": resource_type,
                    "resource_id": resource_id,
                    "entity": change.entity,
                    "entity_id": change.entity_id,
                    "from_state": change.from_state,
                    "to_state": change.to_state,
                    "cause": change.cause,
                    "changed_at": now,
                }
                for change in changes
            ],
        )

    def history(self, resource_type: str, resource_id: str) -> list[StateHistory]:
        return list(
            self.session.scalars(
                select(StateHistory)
                .where(
                    StateHistory.resource_type == resource_type,
                    StateHistory.resource_id == resource_id,
                )
                .order_by(StateHistory.pk)
            )
        )


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool) -> Iterator[UnitOfWork]:
    with factory() as session:
        session.connection(execution_options={"tmf_write": write})
        try:
            yield UnitOfWork(session)
            if write:
                session.commit()
            else:
                session.rollback()
        except BaseException:
            session.rollback()
            raise
