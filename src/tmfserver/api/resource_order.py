"""TMF652 ResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..services.orders import ORDER_KIND, check_order_deletable
from . import operations


def list_resource_order() -> tuple:
    return operations.list_resources(ORDER_KIND)


def create_resource_order(resourceOrder: Any) -> tuple:
    return operations.create_resource(ORDER_KIND, resourceOrder)


def retrieve_resource_order(id: str) -> tuple:
    return operations.retrieve_resource(ORDER_KIND, id)


def patch_resource_order(id: str, resourceOrder: Any) -> tuple:
    return operations.patch_resource(ORDER_KIND, id, resourceOrder)


def delete_resource_order(id: str) -> tuple:
    # In-flight orders are cancelled, not deleted (409).
    return operations.delete_resource(ORDER_KIND, id, check=check_order_deletable)
