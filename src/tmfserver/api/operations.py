"""The HTTP side of the generic resource operations: each handler module names its operationIds and calls
these with its ResourceKind (parse the request, call the service, shape the response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import utc_now_iso
from ..services import resources
from ..services.resources import ResourceKind
from ..web import responses
from ..web.context import base_url, dependencies, expected_version, patch_format, query_pairs


def list_resources(kind: ResourceKind) -> tuple:
    query = resources.parse(dependencies(), query_pairs())
    return responses.page(resources.listing(dependencies(), kind, query))


def create_resource(kind: ResourceKind, body: dict) -> tuple:
    return responses.created(resources.create(dependencies(), kind, body, base_url(), utc_now_iso()))


def retrieve_resource(kind: ResourceKind, resource_id: str) -> tuple:
    query = resources.parse(dependencies(), query_pairs())
    return responses.one(resources.retrieve(dependencies(), kind, resource_id), query.fields)


def patch_resource(kind: ResourceKind, resource_id: str, body: Any) -> tuple:
    change = resources.patch_change(patch_format(), body, kind)
    stored = resources.update(
        dependencies(), kind, resource_id, change, utc_now_iso(), expected=expected_version()
    )
    return responses.one(stored)


def delete_resource(kind: ResourceKind, resource_id: str, check: Callable[[dict], None] | None = None) -> tuple:
    resources.delete(dependencies(), kind, resource_id, check=check, expected=expected_version())
    return None, 204
