"""TMF652 ResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..services.orders import ORDER_KIND, check_order_deletable
from . import operations


async def list_resource_order() -> tuple:
    return await operations.list_resources(ORDER_KIND)


async def create_resource_order(resourceOrder: Any) -> tuple:
    return await operations.create_resource(ORDER_KIND, resourceOrder)


async def retrieve_resource_order(id: str) -> tuple:
    return await operations.retrieve_resource(ORDER_KIND, id)


async def patch_resource_order(id: str, resourceOrder: Any) -> tuple:
    return await operations.patch_resource(ORDER_KIND, id, resourceOrder)


async def delete_resource_order(id: str) -> tuple:
    # In-flight orders are cancelled, not deleted (409).
    return await operations.delete_resource(ORDER_KIND, id, check=check_order_deletable)
