"""TMF652 CancelResourceOrder operations (handlers named after the document's operationIds)."""

from __future__ import annotations

from typing import Any

from ..query.values import utc_now_iso
from ..services import resources
from ..services.orders import CANCEL_KIND
from ..web import responses
from ..web.context import base_url, query_pairs, services


def list_cancel_resource_order(**_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.page(resources.listing(services(), CANCEL_KIND, query))


def create_cancel_resource_order(cancelResourceOrder: Any, **_params: Any) -> tuple:
    stored = resources.create(services(), CANCEL_KIND, cancelResourceOrder, base_url(), utc_now_iso())
    return responses.created(stored)


def retrieve_cancel_resource_order(id: str, **_params: Any) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.one(resources.retrieve(services(), CANCEL_KIND, id), query.fields)
