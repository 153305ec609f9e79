"""Extension operations (openapi/extensions/TMF652-extensions.json): read-only lifecycle audit trail."""

from __future__ import annotations

from ..services import orders
from ..services.resources import ResourceKind
from ..web.context import dependencies


async def list_resource_order_state_history(id: str) -> tuple:
    return await _history(orders.ORDER_KIND, id), 200


async def list_cancel_resource_order_state_history(id: str) -> tuple:
    return await _history(orders.CANCEL_KIND, id), 200


async def _history(kind: ResourceKind, resource_id: str) -> list[dict]:
    return await dependencies().read(lambda d: orders.state_history(d, kind, resource_id))
