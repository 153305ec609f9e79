"""Transactional outbox: events and their per-subscriber deliveries, written in the caller's transaction.

Fan-out happens at write time: each event gets one `delivery` row per subscription of its API whose query
matches, so what a subscriber receives is decided when the change commits, and a crash between commit and
delivery loses nothing. Dispatchers claim due deliveries with a lease (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; SQLite write transactions are exclusive), so several dispatcher processes never deliver the
same attempt concurrently.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, aliased

from ..query.match import matches
from ..query.parse import QueryError
from .models import Delivery, OutboxEvent
from .subscriptions import HUB_VERSION, Subscriber, subscribers

_INSERT_EVENT = OutboxEvent.__table__.insert().returning(OutboxEvent.__table__.c.pk, HUB_VERSION)
INSERT_DELIVERIES = Delivery.__table__.insert()


# Why: docs/decisions/0020-transactional-outbox-at-least-once.md
# Why: docs/decisions/0046-core-write-path-and-cached-subscriptions.md
def publish(session: Session, api: str, resource_id: str, envelope: dict, now: float) -> None:
    """The event row and one delivery row per matching subscription of `api` (Core statements on the
    session's connection: no ORM objects). The subscriptions come from the process's cache, checked against
    the `hub_version` that the event's INSERT returns (store/subscriptions.py). On PostgreSQL a unit of work
    sends its events with its other inserts instead (store/deferred_inserts.py)."""
    connection = session.connection()
    event_pk, hub_version = connection.execute(_INSERT_EVENT, event_row(api, resource_id, envelope)).one()
    rows = deliveries_after_insert(session, event_pk, hub_version, api, resource_id, envelope, now)
    if rows:
        connection.execute(INSERT_DELIVERIES, rows)


def event_row(api: str, resource_id: str, envelope: dict) -> dict[str, Any]:
    """The `outbox_event` row of one event (its `payload`: the envelope)."""
    return {
        "event_id": envelope["eventId"],
        "api": api,
        "event_type": envelope["eventType"],
        "resource_id": resource_id,
        "payload": envelope,
        "created_at": datetime.now(UTC),
    }


def deliveries_after_insert(
    session: Session,
    event_pk: int,
    hub_version: int | None,
    api: str,
    resource_id: str,
    envelope: dict,
    now: float,
) -> list[dict[str, Any]]:
    """The delivery rows of an event inserted in the session's transaction, given the `hub_version` its
    INSERT returned: the subscriptions that transaction sees (`subscribers`), matched by `fan_out`."""
    candidates = subscribers(session, api, hub_version)
    return [{"event_pk": event_pk, **row} for row in fan_out(candidates, resource_id, envelope, now)]


def fan_out(
    candidates: Iterable[Subscriber], resource_id: str, envelope: dict, now: float
) -> list[dict[str, Any]]:
    """The delivery rows (but their `event_pk`) of one event: one per subscription whose query matches it."""
    rows = []
    for subscriber in candidates:
        if subscriber.query is None:
            continue  # validated at registration; never let one bad row block the write
        try:
            wanted = matches(envelope, subscriber.query)
        except QueryError:
            wanted = False
        if wanted:
            rows.append(
                {
                    "subscription_pk": subscriber.pk,
                    "callback": subscriber.callback,
                    "ordering_key": f"{subscriber.pk}:{resource_id}",
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                }
            )
    return rows


@dataclass(frozen=True)
class ClaimedDelivery:
    pk: int
    callback: str
    payload: dict
    attempts: int
    first_attempt_at: float | None
    ordering_key: str


def any_due(session: Session, now: float) -> bool:
    """Whether some delivery is due (one indexed read). The dispatcher asks before it claims: the claim is a
    write transaction, which on SQLite would take the database's one write lock five times a second from the
    request writer (store/batch_writer.py) while nothing is due."""
    statement = (
        select(Delivery.pk)
        .where(
            Delivery.state == "pending",
            Delivery.next_attempt_at <= now,
            (Delivery.lease_until.is_(None)) | (Delivery.lease_until <= now),
        )
        .limit(1)
    )
    return session.execute(statement).first() is not None


def claim_due(
    session: Session, now: float, lease_seconds: float, batch: int, run_length: int = 20
) -> list[ClaimedDelivery]:
    """Lease due deliveries: up to `batch` heads — each the oldest undelivered delivery of its (subscriber,
    resource) — and behind each head up to `run_length - 1` of its due successors, in order. A dispatcher
    sends one head's run sequentially, so a burst of events on one resource does not need a pass each."""
    earlier = aliased(Delivery)
    blocked = exists().where(
        and_(
            earlier.ordering_key == Delivery.ordering_key,
            earlier.state == "pending",
            earlier.pk < Delivery.pk,
        )
    )
    statement = (
        select(Delivery, OutboxEvent.payload)
        .join(OutboxEvent, OutboxEvent.pk == Delivery.event_pk)
        .where(
            Delivery.state == "pending",
            Delivery.next_attempt_at <= now,
            (Delivery.lease_until.is_(None)) | (Delivery.lease_until <= now),
            ~blocked,
        )
        .order_by(Delivery.next_attempt_at, Delivery.pk)
        .limit(batch)
        .with_for_update(of=Delivery, skip_locked=True)  # PostgreSQL; SQLite renders none
    )
    runs: dict[str, list[ClaimedDelivery]] = {}
    for delivery, payload in session.execute(statement):
        runs[delivery.ordering_key] = [_lease(delivery, payload, now, lease_seconds)]
    if runs and run_length > 1:
        successors = (
            select(Delivery, OutboxEvent.payload)
            .join(OutboxEvent, OutboxEvent.pk == Delivery.event_pk)
            .where(Delivery.ordering_key.in_(list(runs)), Delivery.state == "pending")
            .order_by(Delivery.ordering_key, Delivery.pk)
            .with_for_update(of=Delivery, skip_locked=True)
        )
        stopped: set[str] = set()
        for delivery, payload in session.execute(successors):
            run = runs[delivery.ordering_key]
            if delivery.pk == run[0].pk or delivery.ordering_key in stopped:
                continue
            leased = delivery.lease_until is not None and delivery.lease_until > now
            if len(run) >= run_length or delivery.next_attempt_at > now or leased:
                stopped.add(delivery.ordering_key)  # keep each run contiguous: order is per resource
                continue
            run.append(_lease(delivery, payload, now, lease_seconds))
    session.flush()
    return [claimed for run in runs.values() for claimed in run]


def _lease(delivery: Delivery, payload: dict, now: float, lease_seconds: float) -> ClaimedDelivery:
    delivery.lease_until = now + lease_seconds
    if delivery.first_attempt_at is None:
        delivery.first_attempt_at = now
    return ClaimedDelivery(
        delivery.pk,
        delivery.callback,
        payload,
        delivery.attempts,
        delivery.first_attempt_at,
        delivery.ordering_key,
    )


def release(session: Session, pks: list[int]) -> None:
    """Give back leased deliveries that were not attempted (their run stopped at a failure)."""
    if pks:
        session.execute(update(Delivery).where(Delivery.pk.in_(pks)).values(lease_until=None))


def record_success(session: Session, pk: int) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.pk == pk)
        .values(state="delivered", attempts=Delivery.attempts + 1, lease_until=None, last_error=None)
    )


def record_failure(session: Session, pk: int, error: str, next_attempt_at: float | None) -> None:
    """`next_attempt_at` None: the retry budget is spent, the delivery is dead-lettered."""
    values = {"attempts": Delivery.attempts + 1, "lease_until": None, "last_error": error[:2000]}
    if next_attempt_at is None:
        values["state"] = "dead"
    else:
        values["next_attempt_at"] = next_attempt_at
    session.execute(update(Delivery).where(Delivery.pk == pk).values(**values))


def dead_letters(session: Session, limit: int = 100) -> list[Delivery]:
    return list(
        session.scalars(select(Delivery).where(Delivery.state == "dead").order_by(Delivery.pk).limit(limit))
    )


def replay(session: Session, now: float, pks: list[int] | None = None) -> int:
    """Put dead deliveries (all, or the given ones) back in the queue with a fresh retry budget."""
    statement = update(Delivery).where(Delivery.state == "dead")
    if pks:
        statement = statement.where(Delivery.pk.in_(pks))
    result = session.execute(
        statement.values(
            state="pending", next_attempt_at=now, first_attempt_at=None, attempts=0, lease_until=None
        )
    )
    return result.rowcount or 0
