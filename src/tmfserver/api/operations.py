"""The HTTP side of the generic resource operations: each handler module names its operationIds and calls
these with its ResourceKind (parse the request, call the service, shape the response)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..clock import utc_now_iso
from ..services import resources
from ..services.resources import ResourceKind
from ..web import responses
from ..web.context import (
    base_url,
    current_api,
    dependencies,
    expected_version,
    idempotency_key,
    patch_format,
    query_pairs,
)

# The API a request addressed (by its base path) picks the representation: TMF663 v4 and v5 share the carts.


def list_resources(kind: ResourceKind) -> tuple:
    query = resources.parse(dependencies(), query_pairs())
    return responses.page(resources.listing(dependencies(), kind, query, current_api()))


def create_resource(kind: ResourceKind, body: dict, fields: bool = False) -> tuple:
    """`fields`: the operation declares a `fields` parameter (v5 POST): the response is projected."""
    projection = _fields() if fields else None
    return resources.create_once(
        dependencies(),
        kind,
        body,
        base_url(),
        utc_now_iso(),
        current_api(),
        idempotency_key(),
        lambda stored: responses.created(stored, projection),
    )


def retrieve_resource(kind: ResourceKind, resource_id: str) -> tuple:
    query = resources.parse(dependencies(), query_pairs())
    return responses.one(resources.retrieve(dependencies(), kind, resource_id, current_api()), query.fields)


def patch_resource(kind: ResourceKind, resource_id: str, body: Any, fields: bool = False) -> tuple:
    """`fields` as for create. The response says its Content-Type: the v5 document declares several."""
    change = resources.patch_change(patch_format(), body, kind)
    stored = resources.update(
        dependencies(), kind, resource_id, change, utc_now_iso(), expected=expected_version(), api=current_api()
    )
    return responses.one(stored, _fields() if fields else None, content_type=responses.JSON)


def _fields() -> Any:
    return resources.parse(dependencies(), query_pairs()).fields


def delete_resource(kind: ResourceKind, resource_id: str, check: Callable[[dict], None] | None = None) -> tuple:
    resources.delete(dependencies(), kind, resource_id, check=check, expected=expected_version())
    return None, 204
