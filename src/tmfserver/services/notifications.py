"""Hub subscriptions and the listener inbox: the notification side of every served API."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from ulid import ULID

from ..errors import BadRequest, NotFound
from ..notify.callbacks import UnsafeCallback, check_callback
from ..query.parse import QueryError
from ..store.models import InboxEvent, Subscription
from ..store.outbox import parse_subscription_query
from ..store.unit_of_work import unit_of_work
from ..web.context import Services


def _shape(subscription: Subscription) -> dict[str, Any]:
    body = {"id": subscription.id, "callback": subscription.callback}
    if subscription.query is not None:
        body["query"] = subscription.query
    return body


def register(services: Services, api: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("callback"), str):
        raise BadRequest("callback is required")
    callback, query = body["callback"], body.get("query")
    if query is not None and not isinstance(query, str):
        raise BadRequest("query must be a string")
    try:
        parse_subscription_query(query)
    except QueryError as exc:
        raise BadRequest(f"query: {exc}") from None
    try:
        check_callback(callback, allow_private=services.settings.callback_allow_private)
    except UnsafeCallback as exc:
        raise BadRequest(str(exc)) from None
    with unit_of_work(services.sessions, write=True) as uow:
        subscription = Subscription(
            id=str(ULID()), api=api, callback=callback, query=query, created_at=datetime.now(UTC)
        )
        uow.session.add(subscription)
        uow.session.flush()
        return _shape(subscription)


def _find(uow, api: str, subscription_id: str) -> Subscription:
    subscription = uow.session.scalars(
        select(Subscription).where(Subscription.api == api, Subscription.id == subscription_id)
    ).one_or_none()
    if subscription is None:
        raise NotFound("hub subscription", subscription_id)
    return subscription


def unregister(services: Services, api: str, subscription_id: str) -> None:
    """Deleting a subscription stops future fan-out; deliveries already queued still go out."""
    with unit_of_work(services.sessions, write=True) as uow:
        uow.session.delete(_find(uow, api, subscription_id))


def receive(services: Services, api: str, listener: str, event: Any) -> dict[str, Any]:
    """Store a received event in the inbox; a repeated eventId is accepted without a second row."""
    if not isinstance(event, dict):
        raise BadRequest("an event must be a JSON object")
    event_id = event.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        raise BadRequest("eventId is required")
    row = {
        "api": api,
        "event_id": event_id,
        "event_type": event.get("eventType") if isinstance(event.get("eventType"), str) else None,
        "payload": event,
        "received_at": datetime.now(UTC),
    }
    try:
        with unit_of_work(services.sessions, write=True) as uow:
            uow.session.execute(insert(InboxEvent), [row])
    except IntegrityError:
        pass  # already received: idempotent
    return {"id": event_id, "callback": listener}
