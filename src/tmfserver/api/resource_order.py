"""TMF652 ResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from connexion import request

from ..query.values import utc_now_iso
from ..services import resources
from ..services.orders import ORDER_KIND, check_order_deletable
from ..web import responses
from ..web.context import base_url, query_pairs, services


def list_resource_order(**_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.page(resources.listing(services(), ORDER_KIND, query))


def create_resource_order(resourceOrder: Any, **_params: Any) -> tuple:
    stored = resources.create(services(), ORDER_KIND, resourceOrder, base_url(), utc_now_iso())
    return responses.created(stored)


def retrieve_resource_order(id: str, **_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.one(resources.retrieve(services(), ORDER_KIND, id), query.fields)


def patch_resource_order(id: str, resourceOrder: Any, **_params: Any) -> tuple:
    change = resources.patch_change(request.content_type or "", resourceOrder, ORDER_KIND)
    stored = resources.update(services(), ORDER_KIND, id, change, utc_now_iso(), if_match=responses.if_match())
    return responses.one(stored)


def delete_resource_order(id: str, **_params: Any) -> tuple:
    resources.delete(services(), ORDER_KIND, id, check=check_order_deletable, if_match=responses.if_match())
    return None, 204
