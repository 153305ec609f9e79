"""TMF663 ShoppingCart operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from connexion import request

from ..query.values import utc_now_iso
from ..services import resources
from ..services.carts import CART_KIND
from ..web import responses
from ..web.context import base_url, query_pairs, services


def list_shopping_cart(**_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.page(resources.listing(services(), CART_KIND, query))


def create_shopping_cart(shoppingCart: Any = None, **_params: Any) -> tuple:
    stored = resources.create(services(), CART_KIND, shoppingCart, base_url(), utc_now_iso())
    return responses.created(stored)


def retrieve_shopping_cart(id: str, **_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.one(resources.retrieve(services(), CART_KIND, id), query.fields)


def patch_shopping_cart(id: str, shoppingCart: Any, **_params: Any) -> tuple:
    change = resources.patch_change(request.content_type or "", shoppingCart, CART_KIND)
    stored = resources.update(services(), CART_KIND, id, change, utc_now_iso(), if_match=responses.if_match())
    return responses.one(stored)


def delete_shopping_cart(id: str, **_params: Any) -> tuple:
    resources.delete(services(), CART_KIND, id, if_match=responses.if_match())
    return None, 204
