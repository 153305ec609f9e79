"""A unit of work owns one database transaction: what changed and its audit trail commit together."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from datetime import datetime

from sqlalchemy import Row, and_, bindparam, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..domain.lifecycle import StateChange
from . import outbox
from .db import SINGLE_READ
from .deferred_inserts import DeferredInserts
from .errors import database_errors
from .idempotency import IdempotencyRepository
from .models import CancelResourceOrder, ResourceMixin, ResourceOrder, StateHistory
from .repository import DocumentRepository, DocumentRow
from .subscriptions import SubscriptionRepository

_history = StateHistory.__table__
_INSERT_HISTORY = _history.insert()
_HISTORY = (
    select(_history)
    .where(
        _history.c.resource_type == bindparam("resource_type"),
        _history.c.resource_id == bindparam("resource_id"),
    )
    .order_by(_history.c.pk)
)


# Why: docs/decisions/0022-sqlite-begin-immediate-and-row-locks.md
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
        options = connection.get_execution_options()
        if options.get(SINGLE_READ, False):
            return  # one SELECT: SQLite's own implicit transaction is enough (repository.read_document)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get("tmf_write", False) else "BEGIN")


class UnitOfWork:
    def __init__(self, session: Session, deferred: DeferredInserts | None = None) -> None:
        self._session = session
        # PostgreSQL: inserts kept back and sent together (store/deferred_inserts.py); None on SQLite.
        self.deferred = deferred

    @property
    def session(self) -> Session:
        """The session, for a statement of its own: the inserts kept back so far are sent first, so that
        the statement sees them and the order of the writes is kept."""
        if self.deferred:
            self.deferred.send_in_transaction()
        return self._session

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run `action` once the transaction this unit of work belongs to has committed (in a batch of the
        SQLite writer: the batch's commit, not the end of this unit of work)."""
        session = self.session
        session.connection()  # PostgreSQL: a transaction of the session, whose commit runs `action`

        def committed(_session: Session) -> None:
            if session.in_nested_transaction():  # a savepoint released (reported as a commit too)
                return
            event.remove(session, "after_commit", committed)
            action()

        event.listen(session, "after_commit", committed)

    def publish(self, api: str, resource_id: str, envelope: dict) -> None:
        if self.deferred is not None:
            self.deferred.add_event(api, resource_id, envelope, time.time())
        else:
            outbox.publish(self._session, api, resource_id, envelope, time.time())

    def repository(self, model: type[ResourceMixin]) -> DocumentRepository:
        return DocumentRepository(self.session, model, self.deferred)

    @property
    def subscriptions(self) -> SubscriptionRepository:
        return SubscriptionRepository(self.session)

    @property
    def idempotency(self) -> IdempotencyRepository:
        return IdempotencyRepository(self.session)

    def record_history(
        self, resource_type: str, resource_id: str, changes: list[StateChange], now: str
    ) -> None:
        if not changes:
            return
        rows = [
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
        ]
        if self.deferred is not None:
            self.deferred.add_history(rows)
        else:
            self._session.connection().execute(_INSERT_HISTORY, rows)

    def history(self, resource_type: str, resource_id: str) -> list[Row]:
        """The resource's state_history rows (attributes named as the columns), oldest first."""
        parameters = {"resource_type": resource_type, "resource_id": resource_id}
        return list(self.session.connection().execute(_HISTORY, parameters))

    # Claims for the background work: `with_for_update(skip_locked=True)` lets several processes share the
    # work on PostgreSQL; SQLite renders no FOR UPDATE (its write transactions are exclusive already).

    def claim_due_cancellations(self, instant: str, limit: int) -> list[DocumentRow]:
        """Cancel requests whose requestedCancellationDate (canonical instant) has come, oldest first."""
        c = CancelResourceOrder.__table__.c
        where = and_(c.due_at.is_not(None), c.due_at <= instant)
        return self.repository(CancelResourceOrder).claim(where, c.due_at, limit)

    def claim_idle_orders(self, states: Iterable[str], idle_since: datetime, limit: int) -> list[DocumentRow]:
        """Orders in one of `states` unchanged since `idle_since`, oldest first."""
        c = ResourceOrder.__table__.c
        where = and_(c.state.in_(tuple(states)), c.updated_at <= idle_since)
        return self.repository(ResourceOrder).claim(where, c.pk, limit)

    def cancel_request_ids(self, order_id: str) -> list[str]:
        """Ids of the cancel requests that reference an order."""
        statement = select(CancelResourceOrder.id).where(CancelResourceOrder.resource_order_id == order_id)
        return list(self.session.scalars(statement))


# The transaction of the SQLite writer's current batch (store/batch_writer.py), while one of its jobs runs.
BATCH_SESSION: ContextVar[Session | None] = ContextVar("tmf_batch_session", default=None)


@contextmanager
def unit_of_work(factory: sessionmaker[Session], *, write: bool) -> Iterator[UnitOfWork]:
    """One transaction, committed when `write` (else rolled back). A database that cannot serve — at the
    connection, any statement or the commit — raises `errors.DatabaseUnavailable` (see there).

    Inside a job of the SQLite batch writer, it is a savepoint of the batch's transaction instead: released
    on success (committed with the batch), rolled back alone on an error, so one failing request fails
    alone."""
    batch = BATCH_SESSION.get()
    if batch is not None:
        with database_errors(), batch.begin_nested():
            yield UnitOfWork(batch)
        return
    with database_errors(), factory() as session:
        deferred = None
        if write and session.get_bind().dialect.name == "postgresql":
            deferred = DeferredInserts(session)  # the transaction begins at its first statement, if any
        else:
            session.connection(execution_options={"tmf_write": write})
        try:
            yield UnitOfWork(session, deferred)
            if not write:
                session.rollback()
            else:
                if deferred is not None:
                    deferred.send_at_commit()
                session.commit()  # nothing to commit when the inserts went alone
        except BaseException:
            # A connection that is gone cannot roll back (the error being raised says why); the pool drops it.
            with suppress(SQLAlchemyError):
                session.rollback()
            raise
