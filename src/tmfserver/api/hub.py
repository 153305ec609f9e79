"""`/hub` of every served API (registerListener / unregisterListener; v5 documents name them createHub /
hubDelete).

The same handlers serve each document; which API a request belongs to is read from its base path.
"""

from __future__ import annotations

from connexion import request

from ..services import notifications
from ..web.context import current_api, dependencies, idempotency_key


def register_listener(data: dict) -> tuple:
    # The document requires `callback` (a string) and allows `query` (a string).
    return notifications.register_once(dependencies(), current_api(), data, idempotency_key(), _registered)


def _registered(subscription: dict) -> tuple:
    return subscription, 201, {"Location": f"{request.url.path.rstrip('/')}/{subscription['id']}"}


def _hub_registered(subscription: dict) -> tuple:
    subscription, status, headers = _registered(subscription)
    return {**subscription, "@type": "Hub", "href": headers["Location"]}, status, headers


def unregister_listener(id: str) -> tuple:
    notifications.unregister(dependencies(), current_api(), id)
    return None, 204


def create_hub(body: dict) -> tuple:
    """v5 `createHub`: a `Hub` is an Entity, so the answer carries its `@type` and `href`."""
    return notifications.register_once(dependencies(), current_api(), body, idempotency_key(), _hub_registered)


def hub_delete(id: str) -> tuple:
    """v5 `hubDelete`."""
    return unregister_listener(id)
