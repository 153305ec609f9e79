"""`/listener/*` endpoints: every `listenTo…Event` operationId of every document resolves to `receive`,
every v5 `<resource><Kind>Event` operationId to `notified`.

Connexion has already validated the body against the event schema of that operation.
"""

from __future__ import annotations

from collections.abc import Callable

from connexion import request

from ..services import notifications
from ..web.context import current_api, dependencies


async def receive(data: dict) -> tuple:
    return await _receive(data), 201


async def notified(body: dict) -> tuple:
    """v5 listeners answer 204 "Notified", without a body."""
    await _receive(body)
    return None, 204


async def _receive(event: dict) -> dict:
    deps, api, listener = dependencies(), current_api(), str(request.url)
    return await deps.write(lambda d: notifications.receive(d, api, listener, event))


def __getattr__(name: str) -> Callable:
    # The documents name one operation per event type, all behaving alike: v4 listenToShoppingCartCreateEvent
    # (201 with a body), v5 shoppingCartCreateEvent (204).
    if name.startswith("listen_to_") and name.endswith("_event"):
        return receive
    if name.endswith("_event") and not name.startswith("_"):
        return notified
    raise AttributeError(name)
