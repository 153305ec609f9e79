"""`/hub` of every served API (registerListener / unregisterListener; v5 documents name them createHub /
hubDelete).

The same handlers serve each document; which API a request belongs to is read from its base path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from connexion import request

from ..services import notifications
from ..services.idempotency import Reply
from ..web.context import current_api, dependencies, idempotency_key


async def register_listener(data: dict) -> tuple:
    # The document requires `callback` (a string) and allows `query` (a string).
    return await _register(data, _registered)


async def _register(body: dict, respond: Callable[[dict], Reply]) -> tuple:
    deps, api, key = dependencies(), current_api(), idempotency_key()
    # The callback check resolves its host: in a thread, neither on the loop nor in the writer.
    await asyncio.to_thread(notifications.check_registration, deps, body)
    return await deps.write(lambda d: notifications.register_once(d, api, body, key, respond))


def _registered(subscription: dict) -> tuple:
    return subscription, 201, {"Location": f"{request.url.path.rstrip('/')}/{subscription['id']}"}


def _hub_registered(subscription: dict) -> tuple:
    subscription, status, headers = _registered(subscription)
    return {**subscription, "@type": "Hub", "href": headers["Location"]}, status, headers


async def unregister_listener(id: str) -> tuple:
    deps, api = dependencies(), current_api()
    await deps.write(lambda d: notifications.unregister(d, api, id))
    return None, 204


async def create_hub(body: dict) -> tuple:
    """v5 `createHub`: a `Hub` is an Entity, so the answer carries its `@type` and `href`."""
    return await _register(body, _hub_registered)


async def hub_delete(id: str) -> tuple:
    """v5 `hubDelete`."""
    return await unregister_listener(id)
