"""TMF663 ShoppingCart operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..services.carts import CART_KIND
from . import operations


def list_shopping_cart(**_params: Any) -> tuple:
    return operations.list_resources(CART_KIND)


def create_shopping_cart(shoppingCart: Any = None, **_params: Any) -> tuple:
    return operations.create_resource(CART_KIND, shoppingCart)


def retrieve_shopping_cart(id: str, **_params: Any) -> tuple:
    return operations.retrieve_resource(CART_KIND, id)


def patch_shopping_cart(id: str, shoppingCart: Any, **_params: Any) -> tuple:
    return operations.patch_resource(CART_KIND, id, shoppingCart)


def delete_shopping_cart(id: str, **_params: Any) -> tuple:
    return operations.delete_resource(CART_KIND, id)
