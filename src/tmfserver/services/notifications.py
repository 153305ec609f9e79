"""Hub subscriptions and the listener inbox: the notification side of every served API.

The documents' validation guarantees the bodies' shape (an object with a string `callback`; an event object);
what is checked here is what the documents cannot say."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ulid import ULID

from ..notify.callbacks import UnsafeCallback, check_callback
from ..query.parse import QueryError
from ..store.models import Subscription
from ..store.subscriptions import parse_subscription_query
from .dependencies import Dependencies
from .exceptions import InvalidRequest, NotFound
from .idempotency import Reply, RequestKey, run_once


def _shape(subscription: Subscription) -> dict[str, Any]:
    body = {"id": subscription.id, "callback": subscription.callback}
    if subscription.query is not None:
        body["query"] = subscription.query
    return body


def register(deps: Dependencies, api: str, callback: str, query: str | None) -> dict[str, Any]:
    _check(deps, callback, query)
    with deps.unit_of_work(write=True) as uow:
        return _shape(uow.subscriptions.add(str(ULID()), api, callback, query))


def register_once(
    deps: Dependencies,
    api: str,
    body: dict,
    request_key: RequestKey | None,
    respond: Callable[[dict[str, Any]], Reply],
) -> Reply:
    """`register` of the body's `callback` and `query`, answered by `respond(subscription)`; with a client's
    `Idempotency-Key`, at most once per key (services/idempotency.py). The caller has checked the body with
    `check_registration` (outside the write: it resolves the callback's host)."""
    callback, query = body["callback"], body.get("query")
    return run_once(
        deps,
        request_key,
        body,
        lambda uow: respond(_shape(uow.subscriptions.add(str(ULID()), api, callback, query))),
    )


def check_registration(deps: Dependencies, body: dict) -> None:
    """InvalidRequest unless the body's `query` parses and its `callback` is allowed (a DNS lookup)."""
    _check(deps, body["callback"], body.get("query"))


def _check(deps: Dependencies, callback: str, query: str | None) -> None:
    try:
        parse_subscription_query(query)
    except QueryError as exc:
        raise InvalidRequest(f"query: {exc}") from None
    try:
        check_callback(callback, allow_private=deps.settings.callback_allow_private)
    except UnsafeCallback as exc:
        raise InvalidRequest(str(exc)) from None


def unregister(deps: Dependencies, api: str, subscription_id: str) -> None:
    """Deleting a subscription stops future fan-out; deliveries already queued still go out."""
    with deps.unit_of_work(write=True) as uow:
        subscription = uow.subscriptions.get(api, subscription_id)
        if subscription is None:
            raise NotFound("hub subscription", subscription_id)
        uow.subscriptions.delete(subscription)


def receive(deps: Dependencies, api: str, listener: str, event: dict) -> dict[str, Any]:
    """Store a received event in the inbox; a repeated eventId is accepted without a second row."""
    event_id = event.get("eventId")
    if not isinstance(event_id, str) or not event_id:
        raise InvalidRequest("eventId is required")
    event_type = event.get("eventType") if isinstance(event.get("eventType"), str) else None
    with deps.unit_of_work(write=True) as uow:
        uow.subscriptions.receive(api, event_id, event_type, event)  # already received: idempotent
    return {"id": event_id, "callback": listener}
