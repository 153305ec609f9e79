"""TMF663 ShoppingCart operations (handlers named after the document's operationIds), for v4 and v5 alike:
the API a request addressed picks the representation (services/carts.py CART_AS_V4, CART_AS_V5). `fields` on
POST and PATCH is declared by v5 only; Connexion passes it to the handler only where it is declared."""

from __future__ import annotations

from typing import Any

from ..services.carts import CART_KIND
from . import operations


async def list_shopping_cart() -> tuple:
    return await operations.list_resources(CART_KIND)


async def create_shopping_cart(shoppingCart: Any = None, body: Any = None, fields: Any = None) -> tuple:
    # Swagger 2 names the body after its parameter (shoppingCart); OpenAPI 3 passes it as `body`.
    return await operations.create_resource(
        CART_KIND, body if shoppingCart is None else shoppingCart, fields is not None
    )


async def retrieve_shopping_cart(id: str) -> tuple:
    return await operations.retrieve_resource(CART_KIND, id)


async def patch_shopping_cart(id: str, shoppingCart: Any = None, body: Any = None, fields: Any = None) -> tuple:
    return await operations.patch_resource(
        CART_KIND, id, body if shoppingCart is None else shoppingCart, fields is not None
    )


async def delete_shopping_cart(id: str) -> tuple:
    return await operations.delete_resource(CART_KIND, id)
