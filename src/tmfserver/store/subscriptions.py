"""Hub subscriptions and the listener inbox: the rows behind every API's `/hub` and `/listener/*`.

`publish()` needs the subscriptions of an API on every event. They are kept in memory per process (one
cache per engine) and reloaded only when the `hub_version` row — replaced in the same transaction as every
subscription insert or delete — holds another value than the one they were loaded at.
"""

from __future__ import annotations

import secrets
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from urllib.parse import parse_qsl

from sqlalchemy import Connection, Engine, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..client_messages import quoted
from ..query.parse import Query, QueryError, parse_query
from .models import HubVersion, InboxEvent, Subscription

HUB_VERSION_ID = 1  # the one row of hub_version
_hub_version = HubVersion.__table__
_subscription = Subscription.__table__
_READ_VERSION = select(_hub_version.c.version).where(_hub_version.c.id == HUB_VERSION_ID)
# The version as a column of another statement: the outbox's event INSERT returns it, which saves the
# write path a round trip (outbox.publish).
HUB_VERSION = _READ_VERSION.scalar_subquery().label("hub_version")
_LOAD = select(
    _subscription.c.pk, _subscription.c.api, _subscription.c.callback, _subscription.c.query
).order_by(_subscription.c.pk)
# Key of session.info: the snapshot read by the transaction under way (read once per unit of work).
_READ_IN_TRANSACTION = "tmf_hub_subscribers"


def parse_subscription_query(raw: str | None) -> Query:
    """A hub `query` is a TMF630 query string (a leading `?` is tolerated). QueryError if malformed."""
    text = (raw or "").strip().lstrip("?")
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text))
    except ValueError:
        shown = quoted(raw or "")
        raise QueryError(f"'{shown}' is not a query string (name=value pairs joined by '&')") from None
    return parse_query([(k.strip(), v.strip()) for k, v in pairs])


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A subscription as fan-out needs it, its query parsed once per load."""

    pk: int
    callback: str
    query: Query | None  # None: a stored query that does not parse (validated at registration): never matches


@dataclass(frozen=True)
class HubSnapshot:
    """Every subscription at one `hub_version` value, by API. Immutable: threads share it without locks."""

    version: int | None
    by_api: Mapping[str, tuple[Subscriber, ...]]

    def of(self, api: str) -> tuple[Subscriber, ...]:
        return self.by_api.get(api, ())


def _subscriber(pk: int, callback: str, raw: str | None) -> Subscriber:
    try:
        return Subscriber(pk, callback, parse_subscription_query(raw))
    except QueryError:
        return Subscriber(pk, callback, None)


# Why: docs/decisions/0046-core-write-path-and-cached-subscriptions.md
class SubscriberCache:
    """The subscriptions of one database as this process last loaded them, with the `hub_version` value they
    were loaded at. Thread-safe: a snapshot is immutable and replaced by one reference assignment."""

    def __init__(self) -> None:
        self._snapshot: HubSnapshot | None = None

    def current(self, connection: Connection, version: int | None) -> HubSnapshot:
        """The subscriptions visible to `connection`'s transaction, given the `hub_version` it read (the
        `HUB_VERSION` column of one of its statements): a reload (two more statements) only when the version
        differs from the cached one."""
        snapshot = self._snapshot
        if snapshot is not None and version is not None and snapshot.version == version:
            return snapshot
        return self._load(connection, version)

    def cached(self) -> HubSnapshot | None:
        """The subscriptions as last loaded, whatever the database holds now, or None; a cached set always
        has its `hub_version` value (store/deferred_inserts.py writes only while the row still holds it)."""
        return self._snapshot

    def _load(self, connection: Connection, version: int | None) -> HubSnapshot:
        by_api: dict[str, list[Subscriber]] = {}
        for pk, api, callback, raw in connection.execute(_LOAD):
            by_api.setdefault(api, []).append(_subscriber(pk, callback, raw))
        snapshot = HubSnapshot(version, MappingProxyType({api: tuple(s) for api, s in by_api.items()}))
        # On PostgreSQL (READ COMMITTED) each statement has its own snapshot: the subscriptions belong to
        # `version` only if the version did not change meanwhile. A value is never reused, so equal = unchanged.
        if version is None:
            self._snapshot = None  # no hub_version row: nothing to check a cached set against
        elif connection.execute(_READ_VERSION).scalar_one_or_none() == version:
            self._snapshot = snapshot
        return snapshot


_caches: weakref.WeakKeyDictionary[Engine, SubscriberCache] = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(engine: Engine) -> SubscriberCache:
    cache = _caches.get(engine)
    if cache is None:
        with _caches_lock:
            cache = _caches.setdefault(engine, SubscriberCache())
    return cache


def subscribers(session: Session, api: str, version: int | None) -> tuple[Subscriber, ...]:
    """`api`'s subscriptions as the session's transaction sees them: `version` is the `hub_version` this
    transaction read (`HUB_VERSION`). The first one read in a transaction holds for all its events: they
    fan out to the same subscriptions."""
    transaction = session.get_transaction()
    read = session.info.get(_READ_IN_TRANSACTION)
    if read is None or read[0] is not transaction:
        connection = session.connection()
        read = (transaction, cache_for(connection.engine).current(connection, version))
        session.info[_READ_IN_TRANSACTION] = read
    return read[1].of(api)


def hub_changed(session: Session) -> None:
    """Give `hub_version` a fresh value in the session's transaction (with every subscription insert or
    delete): every process reloads the subscriptions at its next event. The upsert recreates a missing row."""
    values = {"id": HUB_VERSION_ID, "version": secrets.randbits(62)}
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = dialect.insert(_hub_version).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=[_hub_version.c.id], set_={"version": statement.excluded.version}
    )
    session.connection().execute(statement)
    session.info.pop(_READ_IN_TRANSACTION, None)


class SubscriptionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, subscription_id: str, api: str, callback: str, query: str | None) -> Subscription:
        subscription = Subscription(
            id=subscription_id, api=api, callback=callback, query=query, created_at=datetime.now(UTC)
        )
        self.session.add(subscription)
        self.session.flush()
        hub_changed(self.session)
        return subscription

    def get(self, api: str, subscription_id: str) -> Subscription | None:
        statement = select(Subscription).where(Subscription.api == api, Subscription.id == subscription_id)
        return self.session.scalars(statement).one_or_none()

    def delete(self, subscription: Subscription) -> None:
        self.session.delete(subscription)
        self.session.flush()
        hub_changed(self.session)

    def receive(self, api: str, event_id: str, event_type: str | None, payload: dict) -> bool:
        """Store a received event; False when this API's inbox already holds its eventId."""
        row = {
            "api": api,
            "event_id": event_id,
            "event_type": event_type,
            "payload": payload,
            "received_at": datetime.now(UTC),
        }
        try:
            with self.session.begin_nested():
                self.session.execute(insert(InboxEvent), [row])
        except IntegrityError:
            return False
        return True
