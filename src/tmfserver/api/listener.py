"""`/listener/*` endpoints: every `listenTo…Event` operationId of every document resolves to `receive`,
every v5 `<resource><Kind>Event` operationId to `notified`.

Connexion has already validated the body against the event schema of that operation.
"""

from __future__ import annotations

from collections.abc import Callable

from connexion import request

from ..services import notifications
from ..web.context import current_api, dependencies


def receive(data: dict) -> tuple:
    return notifications.receive(dependencies(), current_api(), str(request.url), data), 201


def notified(body: dict) -> tuple:
    """v5 listeners answer 204 "Notified", without a body."""
    notifications.receive(dependencies(), current_api(), str(request.url), body)
    return None, 204


def __getattr__(name: str) -> Callable:
    # The documents name one operation per event type, all behaving alike: v4 listenToShoppingCartCreateEvent
    # (201 with a body), v5 shoppingCartCreateEvent (204).
    if name.startswith("listen_to_") and name.endswith("_event"):
        return receive
    if name.endswith("_event") and not name.startswith("_"):
        return notified
    raise AttributeError(name)
