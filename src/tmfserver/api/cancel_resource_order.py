"""TMF652 CancelResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..services.orders import CANCEL_KIND
from . import operations


def list_cancel_resource_order() -> tuple:
    return operations.list_resources(CANCEL_KIND)


def create_cancel_resource_order(cancelResourceOrder: Any) -> tuple:
    return operations.create_resource(CANCEL_KIND, cancelResourceOrder)


def retrieve_cancel_resource_order(id: str) -> tuple:
    return operations.retrieve_resource(CANCEL_KIND, id)
