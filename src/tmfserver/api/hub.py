"""`/hub` of every served API (registerListener / unregisterListener).

The same handlers serve each document; which API a request belongs to is read from its base path.
"""

from __future__ import annotations

from typing import Any

from connexion import request

from ..services import notifications
from ..web.context import services

API_BY_BASE_PATH = {
    "/tmf-api/resourceOrderingManagement/v4": "TMF652",
    "/tmf-api/shoppingCart/v4": "TMF663",
}


def current_api() -> str:
    path = request.url.path
    for base_path, api in API_BY_BASE_PATH.items():
        if path.startswith(base_path + "/"):
            return api
    raise LookupError(f"{path} belongs to no served API")


def register_listener(data: Any, **_params: Any) -> tuple:
    subscription = notifications.register(services(), current_api(), data)
    return subscription, 201, {"Location": f"{request.url.path.rstrip('/')}/{subscription['id']}"}


def unregister_listener(id: str, **_params: Any) -> tuple:
    notifications.unregister(services(), current_api(), id)
    return None, 204
