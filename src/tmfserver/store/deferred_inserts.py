"""PostgreSQL: the inserts of a unit of work that nothing in it reads back, sent together in one statement.

A writing unit of work on PostgreSQL keeps back the new resource (with its search rows), its events and its
state history, and sends them as data-modifying CTEs of one statement: when it commits, or first thing when
it needs the database for anything else. A create that needs nothing else (no lock, no read in a domain
hook, no Idempotency-Key) then commits as that one statement in autocommit, atomic on its own: one round
trip, where BEGIN, the resource, the event, the history and COMMIT took five.

Fan-out needs the subscriptions as the writing statement sees them. In a transaction, the events' INSERT
returns `hub_version` and the deliveries follow as today (outbox.publish). Alone, the statement carries the
deliveries worked out from this process's cached subscriptions, and writes only while `hub_version` still
holds the value they were loaded at (the `guard` CTE); if it changed, the statement writes nothing and the
unit of work sends everything in a transaction instead, which reloads the subscriptions.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    Select,
    Table,
    Text,
    bindparam,
    cast,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from .models import Delivery, HubVersion, OutboxEvent, ResourceMixin, StateHistory
from .outbox import INSERT_DELIVERIES, deliveries_after_insert, event_row, fan_out
from .repository import insert_search_rows
from .subscriptions import HUB_VERSION, HUB_VERSION_ID, cache_for

_event = OutboxEvent.__table__
_history = StateHistory.__table__
_delivery = Delivery.__table__
_hub = HubVersion.__table__

_EVENT_COLUMNS = ("event_id", "api", "event_type", "resource_id", "payload", "created_at")
_HISTORY_COLUMNS = (
    "resource_type",
    "resource_id",
    "entity",
    "entity_id",
    "from_state",
    "to_state",
    "cause",
    "changed_at",
)
_DELIVERY_COLUMNS = ("event_id", "subscription_pk", "callback", "ordering_key", "next_attempt_at")
_ARRAY_TYPES: dict[str, Any] = {
    "created_at": DateTime(timezone=True),
    "subscription_pk": BigInteger(),
    "next_attempt_at": Float(),
}


@dataclass(frozen=True)
class _Shape:
    """What one statement writes; its SQL text depends on nothing else (one array per column), so psycopg
    converts it once and PostgreSQL keeps it prepared."""

    table: Table | None  # the new resource's table, if there is one
    events: bool
    history: bool
    deliveries: bool  # carried by the statement (alone); in a transaction they follow it
    guarded: bool  # alone: write only while hub_version holds `hub_expected`


def _unnest(prefix: str, names: tuple[str, ...]) -> Any:
    """`unnest` of one array parameter per column (`{prefix}_{name}`), as a derived table named `prefix`."""
    arrays = (
        bindparam(f"{prefix}_{name}", type_=postgresql.ARRAY(_ARRAY_TYPES.get(name, Text()))) for name in names
    )
    return func.unnest(*arrays).table_valued(*names).render_derived(name=prefix)


@functools.cache
def _statement(shape: _Shape) -> Select:
    guard = None
    if shape.guarded:
        hub = _hub.c
        expected = bindparam("hub_expected", type_=BigInteger())
        guard = select(hub.version).where(hub.id == HUB_VERSION_ID, hub.version == expected).cte("guard")

    def source(derived: Any) -> Any:
        return derived if guard is None else guard.join(derived, true())

    ctes: list[Any] = []
    if shape.table is not None:
        columns = [c for c in shape.table.c if c.name != "pk"]
        values = select(*(bindparam(c.name, type_=c.type) for c in columns))
        if guard is not None:
            values = values.select_from(guard)
        resource = shape.table.insert().from_select(columns, values).returning(shape.table.c.pk).cte("resource")
        ctes += [resource, insert_search_rows(resource.c.pk, resource).cte("leaves")]
    events = None
    if shape.events:
        ev = _unnest("ev", _EVENT_COLUMNS)
        c = _event.c
        events = (
            _event.insert()
            .from_select(
                [c.event_id, c.api, c.event_type, c.resource_id, c.payload, c.created_at],
                select(
                    ev.c.event_id,
                    ev.c.api,
                    ev.c.event_type,
                    ev.c.resource_id,
                    cast(ev.c.payload, postgresql.JSONB),
                    ev.c.created_at,
                ).select_from(source(ev)),
            )
            .returning(c.pk, c.event_id)
            .cte("events")
        )
        ctes.append(events)
    if shape.history:
        hist = _unnest("hist", _HISTORY_COLUMNS)
        columns = [_history.c[name] for name in _HISTORY_COLUMNS]
        ctes.append(
            _history.insert()
            .from_select(
                columns, select(*(hist.c[name] for name in _HISTORY_COLUMNS)).select_from(source(hist))
            )
            .cte("history")
        )
    if shape.deliveries and events is not None:
        dl = _unnest("dl", _DELIVERY_COLUMNS)
        d = _delivery.c
        ctes.append(
            _delivery.insert()
            .from_select(
                [
                    d.event_pk,
                    d.subscription_pk,
                    d.callback,
                    d.ordering_key,
                    d.state,
                    d.attempts,
                    d.next_attempt_at,
                ],
                select(
                    events.c.pk,
                    dl.c.subscription_pk,
                    dl.c.callback,
                    dl.c.ordering_key,
                    literal("pending"),
                    literal(0),
                    dl.c.next_attempt_at,
                ).select_from(events.join(dl, dl.c.event_id == events.c.event_id)),
            )
            .cte("deliveries")
        )
    if guard is not None:
        answer = select(guard.c.version)  # a row: written; none: hub_version changed, nothing written
    elif events is not None:
        answer = select(events.c.pk, events.c.event_id, HUB_VERSION)
    else:
        answer = select(literal(1))
    return answer.add_cte(*ctes)


@dataclass(frozen=True)
class _Event:
    api: str
    resource_id: str
    envelope: dict
    now: float  # epoch seconds: a delivery's first attempt is due at once


def _columns(rows: list[dict[str, Any]], prefix: str, names: tuple[str, ...]) -> dict[str, list[Any]]:
    return {f"{prefix}_{name}": [row[name] for row in rows] for name in names}


# Why: docs/decisions/0055-postgresql-create-as-one-statement.md
@dataclass
class DeferredInserts:
    session: Session
    resource: tuple[type[ResourceMixin], dict[str, Any]] | None = None  # model, parameters
    events: list[_Event] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.resource is not None or bool(self.events) or bool(self.history)

    def add_resource(self, model: type[ResourceMixin], parameters: dict[str, Any]) -> None:
        """A new resource row and its search rows (`parameters`: the row's columns and the search rows'
        arrays, repository.DocumentRepository._leaf_parameters)."""
        if self.resource is not None:  # one per statement
            self.send_in_transaction()
        self.resource = (model, parameters)

    def add_event(self, api: str, resource_id: str, envelope: dict, now: float) -> None:
        self.events.append(_Event(api, resource_id, envelope, now))

    def add_history(self, rows: list[dict[str, Any]]) -> None:
        self.history.extend(rows)

    def send_at_commit(self) -> None:
        """What is kept back, when the unit of work commits: alone in autocommit if nothing else used the
        session, else (or if the hub changed) in the session's transaction, which the caller commits."""
        if self and (self.session.in_transaction() or not self.send_alone()):
            self.send_in_transaction()

    def send_in_transaction(self) -> None:
        """Send what is kept back in the session's transaction (begun here if it is not yet), then the
        deliveries of its events: the events' INSERT returns `hub_version`, as outbox.publish."""
        if not self:
            return
        connection = self.session.connection()
        events = {event.envelope["eventId"]: event for event in self.events}
        statement, parameters = self._compose(guarded=False, deliveries=[])
        self._forget()
        rows = connection.execute(statement, parameters).all()
        deliveries = []
        for event_pk, event_id, hub_version in rows if events else ():
            event = events[event_id]
            deliveries += deliveries_after_insert(
                self.session, event_pk, hub_version, event.api, event.resource_id, event.envelope, event.now
            )
        if deliveries:
            connection.execute(INSERT_DELIVERIES, deliveries)

    def send_alone(self) -> bool:
        """Commit what is kept back as one statement in autocommit (the session has no transaction), with
        the deliveries of this process's cached subscriptions. False, with nothing written and nothing
        forgotten, when no subscriptions are cached or `hub_version` holds another value than theirs."""
        engine = self.session.get_bind()
        snapshot = cache_for(engine).cached()
        if snapshot is None:
            return False
        deliveries = []
        for event in self.events:
            event_id = event.envelope["eventId"]
            for delivery in fan_out(snapshot.of(event.api), event.resource_id, event.envelope, event.now):
                deliveries.append({"event_id": event_id, **delivery})
        statement, parameters = self._compose(guarded=True, deliveries=deliveries)
        parameters["hub_expected"] = snapshot.version
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            written = autocommit.execute(statement, parameters).first() is not None
        if written:
            self._forget()
        return written

    def _forget(self) -> None:
        self.resource, self.events, self.history = None, [], []

    def _compose(self, *, guarded: bool, deliveries: list[dict[str, Any]]) -> tuple[Select, dict[str, Any]]:
        """The statement and its parameters for what is kept back."""
        shape = _Shape(
            table=self.resource[0].__table__ if self.resource else None,
            events=bool(self.events),
            history=bool(self.history),
            deliveries=bool(deliveries),
            guarded=guarded,
        )
        parameters: dict[str, Any] = dict(self.resource[1]) if self.resource else {}
        if self.events:
            # The payload goes as JSON text, cast to jsonb in the statement (one text array for all events).
            rows = [
                {**row, "payload": json.dumps(row["payload"])}
                for row in (event_row(event.api, event.resource_id, event.envelope) for event in self.events)
            ]
            parameters.update(_columns(rows, "ev", _EVENT_COLUMNS))
        if self.history:
            parameters.update(_columns(self.history, "hist", _HISTORY_COLUMNS))
        if deliveries:
            parameters.update(_columns(deliveries, "dl", _DELIVERY_COLUMNS))
        return _statement(shape), parameters
