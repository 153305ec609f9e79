"""The HTTP side of the generic resource operations: each handler module names its operationIds and calls
these with its ResourceKind (parse the request, call the service, shape the response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from connexion import request

from ..query.values import utc_now_iso
from ..services import resources
from ..services.resources import ResourceKind
from ..web import responses
from ..web.context import base_url, query_pairs, services


def list_resources(kind: ResourceKind) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.page(resources.listing(services(), kind, query))


def create_resource(kind: ResourceKind, body: Any) -> tuple:
    return responses.created(resources.create(services(), kind, body, base_url(), utc_now_iso()))


def retrieve_resource(kind: ResourceKind, resource_id: str) -> tuple:
    query = resources.parse(services(), query_pairs())
    return responses.one(resources.retrieve(services(), kind, resource_id), query.fields)


def patch_resource(kind: ResourceKind, resource_id: str, body: Any) -> tuple:
    change = resources.patch_change(request.content_type or "", body, kind)
    stored = resources.update(
        services(), kind, resource_id, change, utc_now_iso(), if_match=responses.if_match()
    )
    return responses.one(stored)


def delete_resource(kind: ResourceKind, resource_id: str, check: Callable[[dict], None] | None = None) -> tuple:
    resources.delete(services(), kind, resource_id, check=check, if_match=responses.if_match())
    return None, 204
