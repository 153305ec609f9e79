"""SQLAlchemy models.

Every TMF resource is stored the same way (see docs/development.md "Storage"): the full JSON document in
`doc`, a few promoted columns (id, state, dates, @type) for the hottest filters and for the default order,
and one row per leaf value in `search_value` so that any attribute, nested or inside arrays, can be filtered
in SQL with an index on both SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# JSON on SQLite, JSONB on PostgreSQL.
Document = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
PrimaryKey = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class ResourceMixin:
    """Columns shared by every stored TMF resource."""

    # index=True adds a narrow (pk) index beside the table itself: SQLite then walks a deep `offset` over
    # that index instead of over the wide rows (deepest page with its count at 10^5: 66 → 1.6 ms, see
    # bench/README.md "Query benchmark" and store/search.page_statement). On PostgreSQL it duplicates the
    # primary key index (a cost on writes, left for a later migration).
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True, index=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str | None] = mapped_column("type", String(100), index=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    doc: Mapped[dict] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    # Maps a top-level document attribute to (column attribute name, kind). kind "text" compares strings,
    # "time" holds the canonical UTC instant (see query.values.canonical_instant).
    promoted: dict[str, tuple[str, str]] = {"id": ("id", "text"), "@type": ("type", "text")}
    # Name used in search_value.resource_type.
    resource_type: str = ""


class ResourceOrder(ResourceMixin, Base):
    __tablename__ = "resource_order"
    resource_type = "resourceOrder"
    state: Mapped[str | None] = mapped_column(String(40), index=True)
    order_date: Mapped[str | None] = mapped_column(String(32), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), index=True)
    promoted = {
        **ResourceMixin.promoted,
        "state": ("state", "text"),
        "orderDate": ("order_date", "time"),
        "externalId": ("external_id", "text"),
    }


class CancelResourceOrder(ResourceMixin, Base):
    __tablename__ = "cancel_resource_order"
    resource_type = "cancelResourceOrder"
    state: Mapped[str | None] = mapped_column(String(40), index=True)
    resource_order_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # Set while a cancellation waits for its requestedCancellationDate (canonical instant).
    due_at: Mapped[str | None] = mapped_column(String(32), index=True)
    promoted = {**ResourceMixin.promoted, "state": ("state", "text")}


class ShoppingCart(ResourceMixin, Base):
    __tablename__ = "shopping_cart"
    resource_type = "shoppingCart"
    promoted = {**ResourceMixin.promoted}


class SearchValue(Base):
    """One leaf of a stored document: `path` is the dotted path with array indices removed
    (`orderItem.state`), so a filter on it matches a resource where any element matches."""

    __tablename__ = "search_value"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_pk: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(Text)
    v_text: Mapped[str | None] = mapped_column(Text)
    v_num: Mapped[float | None] = mapped_column(Float)
    v_time: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        Index("ix_search_value_text", "resource_type", "path", "v_text", "resource_pk"),
        # PostgreSQL: partial, only the rows that have a number or an instant (migration 0004).
        # Why: docs/decisions/0054-partial-search-value-indexes.md
        Index(
            "ix_search_value_num",
            "resource_type",
            "path",
            "v_num",
            "resource_pk",
            postgresql_where=v_num.is_not(None),
        ),
        Index(
            "ix_search_value_time",
            "resource_type",
            "path",
            "v_time",
            "resource_pk",
            postgresql_where=v_time.is_not(None),
        ),
        Index("ix_search_value_owner", "resource_type", "resource_pk"),
    )


class StateHistory(Base):
    """Every state change of an order, an order item or a cancel request (lifecycle audit trail)."""

    __tablename__ = "state_history"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    resource_type: Mapped[str] = mapped_column(String(40))
    resource_id: Mapped[str] = mapped_column(String(64))
    entity: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    from_state: Mapped[str | None] = mapped_column(String(40))
    to_state: Mapped[str] = mapped_column(String(40))
    cause: Mapped[str] = mapped_column(String(40))
    changed_at: Mapped[str] = mapped_column(String(32))

    __table_args__ = (Index("ix_state_history_resource", "resource_type", "resource_id", "pk"),)


class Subscription(Base):
    """A `/hub` registration: events of `api` matching `query` are POSTed to `callback`."""

    __tablename__ = "subscription"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    api: Mapped[str] = mapped_column(String(20), index=True)
    callback: Mapped[str] = mapped_column(Text)
    query: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HubVersion(Base):
    """One row (id 1): a value replaced in the same transaction as every subscription insert or delete, so
    that each process can keep the subscriptions in memory and reload them only when it changed
    (store/subscriptions.py). Random, not a counter: a value never comes back (after a rollback, or tables
    emptied and the row recreated), so a cached value can never match a different set of subscriptions."""

    __tablename__ = "hub_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class OutboxEvent(Base):
    """An event, written in the same transaction as the change that caused it (transactional outbox)."""

    __tablename__ = "outbox_event"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    api: Mapped[str] = mapped_column(String(20))
    event_type: Mapped[str] = mapped_column(String(100))
    resource_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Delivery(Base):
    """One event to one subscriber: pending → delivered, or dead after the retry budget is spent."""

    __tablename__ = "delivery"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    event_pk: Mapped[int] = mapped_column(ForeignKey("outbox_event.pk", ondelete="CASCADE"))
    subscription_pk: Mapped[int] = mapped_column(BigInteger)
    callback: Mapped[str] = mapped_column(Text)
    # Deliveries of one resource to one subscriber go out in event order.
    ordering_key: Mapped[str] = mapped_column(String(140))
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float)  # epoch seconds
    lease_until: Mapped[float | None] = mapped_column(Float)
    first_attempt_at: Mapped[float | None] = mapped_column(Float)
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        Index("ix_delivery_due", "state", "next_attempt_at"),
        Index("ix_delivery_ordering", "ordering_key", "state", "pk"),
    )


class InboxEvent(Base):
    """An event received on a `/listener/*` endpoint; a repeated eventId is accepted idempotently."""

    __tablename__ = "inbox_event"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    api: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(Document)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (UniqueConstraint("api", "event_id", name="uq_inbox_event_api_event_id"),)


class IdempotencyKey(Base):
    """The first response to a POST sent with an `Idempotency-Key`, written in the same transaction as what
    the POST created; replayed to a retry with the same key and body until `expires_at`."""

    __tablename__ = "idempotency_key"
    pk: Mapped[int] = mapped_column(PrimaryKey, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(255))  # the authenticated client, "" when auth is off
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # SHA-256 (hex) of method, path and canonical body
    status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(Document)
    response_headers: Mapped[dict] = mapped_column(Document)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    __table_args__ = (UniqueConstraint("scope", "key", name="uq_idempotency_key_scope_key"),)


RESOURCE_MODELS: tuple[type[ResourceMixin], ...] = (
    ResourceOrder,
    CancelResourceOrder,
    ShoppingCart,
)

__all__ = [
    "RESOURCE_MODELS",
    "Base",
    "CancelResourceOrder",
    "Delivery",
    "HubVersion",
    "IdempotencyKey",
    "InboxEvent",
    "OutboxEvent",
    "ResourceMixin",
    "ResourceOrder",
    "SearchValue",
    "ShoppingCart",
    "StateHistory",
    "Subscription",
]
