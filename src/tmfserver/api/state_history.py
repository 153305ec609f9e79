"""Extension operations (openapi/extensions/TMF652-extensions.json): read-only lifecycle audit trail."""

from __future__ import annotations

from ..services import orders
from ..web.context import dependencies


def list_resource_order_state_history(id: str) -> tuple:
    return orders.state_history(dependencies(), orders.ORDER_KIND, id), 200


def list_cancel_resource_order_state_history(id: str) -> tuple:
    return orders.state_history(dependencies(), orders.CANCEL_KIND, id), 200
