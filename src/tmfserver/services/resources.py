"""Generic operations on a stored TMF resource: one implementation for every resource type.

A `ResourceKind` says what differs per resource (model, names, server-owned fields, domain hooks); the
functions here run the transaction, call the hooks and shape results. Handlers call these.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import json_merge_patch
from ulid import ULID

from ..errors import ApiError, BadRequest, NotFound
from ..query.parse import Query, QueryError, QueryLimits, parse_query
from ..query.projection import project
from ..store.models import ResourceMixin
from ..store.unit_of_work import UnitOfWork, unit_of_work
from ..web.context import Services

# create hook: (document, context) -> document to store
CreateHook = Callable[[dict, "WriteContext"], dict]
# update hook: (stored document, candidate document, context) -> document to store
UpdateHook = Callable[[dict, dict, "WriteContext"], dict]


@dataclass(frozen=True)
class ResourceKind:
    model: type[ResourceMixin]
    name: str  # as in TMF messages and events: "resourceOrder"
    base_path: str  # "/tmf-api/resourceOrderingManagement/v4"
    collection: str  # path segment: "resourceOrder"
    default_type: str  # default @type: "ResourceOrder"
    server_owned: frozenset[str] = frozenset({"id", "href"})  # overwritten on create, never an error
    immutable: frozenset[str] = frozenset({"id", "href"})  # a patch touching them is a 400
    on_create: CreateHook | None = None
    on_update: UpdateHook | None = None
    columns: Callable[[dict], dict[str, Any]] = field(default=lambda _doc: {})

    def href(self, base_url: str, resource_id: str) -> str:
        return f"{base_url}{self.base_path}/{self.collection}/{resource_id}"


@dataclass
class WriteContext:
    """What a domain hook may use inside the transaction."""

    uow: UnitOfWork
    services: Services
    now: str
    resource_id: str


@dataclass(frozen=True)
class Stored:
    document: dict
    version: int


@dataclass(frozen=True)
class Page:
    documents: list[dict]
    total: int
    query: Query


def query_limits(services: Services) -> QueryLimits:
    settings = services.settings
    return QueryLimits(
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
        max_conditions=settings.max_filter_conditions,
        max_regex_length=settings.max_regex_length,
    )


def parse(services: Services, pairs: list[tuple[str, str]]) -> Query:
    try:
        return parse_query(pairs, query_limits(services))
    except QueryError as exc:
        raise BadRequest(str(exc)) from None


def _require_object(body: Any, kind: ResourceKind) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(f"the body must be a JSON object describing a {kind.name}")
    return body


def create(services: Services, kind: ResourceKind, body: Any, base_url: str, now: str) -> Stored:
    document = {
        key: value for key, value in _require_object(body, kind).items() if key not in kind.server_owned
    }
    resource_id = str(ULID())
    document = {"id": resource_id, "href": kind.href(base_url, resource_id), **document}
    document.setdefault("@type", kind.default_type)
    with unit_of_work(services.sessions, write=True) as uow:
        context = WriteContext(uow, services, now, resource_id)
        if kind.on_create:
            document = kind.on_create(document, context)
        row = uow.repository(kind.model).add(document, **kind.columns(document))
        return Stored(row.doc, row.version)


def retrieve(services: Services, kind: ResourceKind, resource_id: str) -> Stored:
    with unit_of_work(services.sessions, write=False) as uow:
        row = uow.repository(kind.model).get(resource_id)
        if row is None:
            raise NotFound(kind.name, resource_id)
        return Stored(row.doc, row.version)


def listing(services: Services, kind: ResourceKind, query: Query) -> Page:
    with unit_of_work(services.sessions, write=False) as uow:
        rows, total = uow.repository(kind.model).page(query)
        return Page([project(row.doc, query.fields) for row in rows], total, query)


def update(
    services: Services,
    kind: ResourceKind,
    resource_id: str,
    change: Callable[[dict], dict],
    now: str,
) -> Stored:
    """Apply `change` (stored document → candidate) under a row lock, then the domain hook."""
    with unit_of_work(services.sessions, write=True) as uow:
        repository = uow.repository(kind.model)
        row = repository.get(resource_id, for_update=True)
        if row is None:
            raise NotFound(kind.name, resource_id)
        stored = copy.deepcopy(row.doc)
        candidate = change(copy.deepcopy(stored))
        if not isinstance(candidate, dict):
            raise BadRequest(f"the patched {kind.name} is not a JSON object")
        touched = sorted(k for k in kind.immutable if candidate.get(k) != stored.get(k))
        if touched:
            raise BadRequest(f"{', '.join(touched)} cannot be changed")
        if kind.on_update:
            candidate = kind.on_update(stored, candidate, WriteContext(uow, services, now, resource_id))
        row = repository.replace(row, candidate, **kind.columns(candidate))
        return Stored(row.doc, row.version)


def merge_patch(patch: Any) -> Callable[[dict], dict]:
    if not isinstance(patch, dict):
        raise BadRequest("a JSON Merge Patch body must be a JSON object")
    return lambda document: json_merge_patch.merge(document, patch)


def delete(
    services: Services,
    kind: ResourceKind,
    resource_id: str,
    check: Callable[[dict], None] | None = None,
) -> None:
    with unit_of_work(services.sessions, write=True) as uow:
        repository = uow.repository(kind.model)
        row = repository.get(resource_id, for_update=True)
        if row is None:
            raise NotFound(kind.name, resource_id)
        if check:
            check(row.doc)
        repository.delete(row)


JSON_PATCH = "application/json-patch+json"


def json_patch(operations: Any, immutable: frozenset[str]) -> Callable[[dict], dict]:
    """RFC 6902, atomic: the whole list applies to a copy or nothing does. A failed `test` is a 409."""
    import jsonpatch

    if not isinstance(operations, list):
        raise BadRequest("a JSON Patch body must be an array of operations")
    for operation in operations:
        if not isinstance(operation, dict):
            raise BadRequest("each JSON Patch operation must be an object")
        for key in ("path", "from"):
            pointer = operation.get(key)
            if isinstance(pointer, str):
                top = pointer.split("/")[1].replace("~1", "/").replace("~0", "~") if "/" in pointer else ""
                if top in immutable or (pointer == "" and operation.get("op") != "test"):
                    raise BadRequest(f"JSON Patch may not touch '{pointer or '/'}'")
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException) as exc:
        raise BadRequest(f"invalid JSON Patch: {exc}") from None

    def change(document: dict) -> dict:
        try:
            return patch.apply(document, in_place=False)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise ApiError(409, f"JSON Patch test failed: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise BadRequest(f"JSON Patch cannot be applied: {exc}") from None
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise BadRequest(f"JSON Patch cannot be applied: {exc}") from None

    return change


def patch_change(content_type: str, body: Any, kind: ResourceKind) -> Callable[[dict], dict]:
    if content_type.split(";")[0].strip().lower() == JSON_PATCH:
        return json_patch(body, kind.immutable)
    return merge_patch(body)
