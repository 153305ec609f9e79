"""`/listener/*` endpoints: every `listenTo…Event` operationId of every document resolves to `receive`.

Connexion has already validated the body against the event schema of that operation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connexion import request

from ..services import notifications
from ..web.context import current_api, dependencies


def receive(data: dict, **_params: Any) -> tuple:
    return notifications.receive(dependencies(), current_api(), str(request.url), data), 201


def __getattr__(name: str) -> Callable:
    # The documents name one operation per event type (listenToResourceOrderCreateEvent, …); all behave alike.
    if name.startswith("listen_to_") and name.endswith("_event"):
        return receive
    raise AttributeError(name)
