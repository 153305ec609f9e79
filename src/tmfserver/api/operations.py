"""The HTTP side of the generic resource operations: each handler module names its operationIds and awaits
these with its ResourceKind (parse the request, call the service through the app's execution, shape the
response). Request facts are read here, on the event loop; the service call runs where
`Dependencies.read`/`write` put it (store/execution.py)."""

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


async def list_resources(kind: ResourceKind) -> tuple:
    deps, pairs, api = dependencies(), query_pairs(), current_api()
    query = resources.parse(deps, pairs)
    page = await deps.read(lambda d: resources.listing(d, kind, query, api))
    return responses.page(page, pairs)


async def create_resource(kind: ResourceKind, body: dict, fields: bool = False) -> tuple:
    """`fields`: the operation declares a `fields` parameter (v5 POST): the response is projected."""
    deps = dependencies()
    projection = _fields() if fields else None
    url, now, api, key = base_url(), utc_now_iso(), current_api(), idempotency_key()
    return await deps.write(
        lambda d: resources.create_once(
            d, kind, body, url, now, api, key, lambda stored: responses.created(stored, projection)
        )
    )


async def retrieve_resource(kind: ResourceKind, resource_id: str) -> tuple:
    deps, api = dependencies(), current_api()
    query = resources.parse(deps, query_pairs())
    stored = await deps.read(lambda d: resources.retrieve(d, kind, resource_id, api, query.fields))
    return responses.one(stored, query.fields)


async def patch_resource(kind: ResourceKind, resource_id: str, body: Any, fields: bool = False) -> tuple:
    """`fields` as for create. The response says its Content-Type: the v5 document declares several."""
    deps = dependencies()
    change = resources.patch_change(patch_format(), body, kind)
    now, expected, api = utc_now_iso(), expected_version(), current_api()
    projection = _fields() if fields else None
    stored = await deps.write(
        lambda d: resources.update(d, kind, resource_id, change, now, expected=expected, api=api)
    )
    return responses.one(stored, projection, content_type=responses.JSON)


def _fields() -> Any:
    return resources.parse(dependencies(), query_pairs()).fields


async def delete_resource(
    kind: ResourceKind, resource_id: str, check: Callable[[dict], None] | None = None
) -> tuple:
    deps, expected = dependencies(), expected_version()
    await deps.write(lambda d: resources.delete(d, kind, resource_id, check=check, expected=expected))
    return None, 204
