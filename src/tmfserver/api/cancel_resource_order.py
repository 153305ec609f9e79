"""TMF652 CancelResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..services.orders import CANCEL_KIND
from . import operations


async def list_cancel_resource_order() -> tuple:
    return await operations.list_resources(CANCEL_KIND)


async def create_cancel_resource_order(cancelResourceOrder: Any) -> tuple:
    return await operations.create_resource(CANCEL_KIND, cancelResourceOrder)


async def retrieve_cancel_resource_order(id: str) -> tuple:
    return await operations.retrieve_resource(CANCEL_KIND, id)
