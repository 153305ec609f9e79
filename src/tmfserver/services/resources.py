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
import jsonpatch
from ulid import ULID

from ..client_messages import body_problem, json_patch_operation, json_patch_problem
from ..domain import events
from ..domain.lifecycle import StateChange
from ..errors import ApiError, BadRequest, NotFound
from ..query.parse import Query, QueryError, QueryLimits, parse_query
from ..query.projection import RequiredKeys, project
from ..query.values import utc_now_iso
from ..store.models import ResourceMixin
from ..store.repository import read_document
from ..store.unit_of_work import UnitOfWork, unit_of_work
from ..web.context import Services

# create hook: (document, context) -> (document to store, its state changes)
CreateHook = Callable[[dict, "WriteContext"], tuple[dict, list[StateChange]]]
# update hook: (stored document, candidate document, context) -> (document to store, its state changes)
UpdateHook = Callable[[dict, dict, "WriteContext"], tuple[dict, list[StateChange]]]


@dataclass(frozen=True)
class ResourceKind:
    model: type[ResourceMixin]
    api: str  # served document: "TMF652"
    name: str  # as in TMF messages and events: "resourceOrder"
    event_resource: str  # prefix of event types: "ResourceOrder"
    base_path: str  # "/tmf-api/resourceOrderingManagement/v4"
    collection: str  # path segment: "resourceOrder"
    server_owned: frozenset[str] = frozenset({"id", "href"})  # overwritten on create, never an error
    immutable: frozenset[str] = frozenset({"id", "href"})  # a patch touching them is a 400
    on_create: CreateHook | None = None
    on_update: UpdateHook | None = None
    columns: Callable[[dict], dict[str, Any]] = field(default=lambda _doc: {})
    # Event kinds the document defines for this resource (domain/events.py names).
    events: frozenset[str] = frozenset({events.CREATE, events.ATTRIBUTE_VALUE_CHANGE, events.DELETE})
    # Entering one of these states also raises an InformationRequired event.
    information_required_states: frozenset[str] = frozenset()

    @property
    def default_type(self) -> str:
        return self.event_resource

    def href(self, base_url: str, resource_id: str) -> str:
        return f"{base_url}{self.base_path}/{self.collection}/{resource_id}"


@dataclass
class WriteContext:
    """What a domain hook may use inside the transaction."""

    uow: UnitOfWork
    services: Services
    now: str
    resource_id: str


def emit(uow: UnitOfWork, kind: ResourceKind, event_kind: str, document: dict, now: str, **extra: Any) -> None:
    if event_kind in kind.events:
        envelope = events.envelope(kind.event_resource, kind.name, event_kind, document, now, **extra)
        uow.publish(kind.api, document["id"], envelope)


def record_changes(
    uow: UnitOfWork, kind: ResourceKind, document: dict, changes: list[StateChange], now: str
) -> None:
    """Audit trail and state events for `changes` of one resource, in the same transaction."""
    uow.record_history(kind.name, document["id"], changes, now)
    for change in changes:
        if change.entity != kind.name or change.from_state is None:
            continue
        # Each step of a walk (e.g. assessingCancellation → pendingCancellation → cancelled) is announced
        # with the resource as stored and `state` set to that step.
        snapshot = {**document, "state": change.to_state}
        emit(uow, kind, events.STATE_CHANGE, snapshot, now)
        if change.to_state in kind.information_required_states:
            emit(uow, kind, events.INFORMATION_REQUIRED, snapshot, now)


def store_update(
    uow: UnitOfWork,
    kind: ResourceKind,
    row: ResourceMixin,
    document: dict,
    changes: list[StateChange],
    now: str,
) -> ResourceMixin:
    previous = row.doc
    row = uow.repository(kind.model).replace(row, document, **kind.columns(document))
    changed = [f for f in events.changed_fields(previous, document) if f not in ("state", "completionDate")]
    if changed:
        emit(uow, kind, events.ATTRIBUTE_VALUE_CHANGE, document, now, field_path=changed)
    record_changes(uow, kind, document, changes, now)
    return row


@dataclass(frozen=True)
class Stored:
    document: dict
    version: int
    shape: RequiredKeys | None = None  # what `fields` must keep for the document to stay schema-valid


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
        changes: list[StateChange] = []
        if kind.on_create:
            document, changes = kind.on_create(document, WriteContext(uow, services, now, resource_id))
        row = uow.repository(kind.model).add(document, **kind.columns(document))
        emit(uow, kind, events.CREATE, document, now)
        record_changes(uow, kind, document, changes, now)
        return Stored(row.doc, row.version)


def retrieve(services: Services, kind: ResourceKind, resource_id: str) -> Stored:
    row = read_document(services.engine, kind.model, resource_id)
    if row is None:
        raise NotFound(kind.name, resource_id)
    return Stored(row.doc, row.version, services.required_keys.get(kind.name))


def listing(services: Services, kind: ResourceKind, query: Query) -> Page:
    with unit_of_work(services.sessions, write=False) as uow:
        rows, total = uow.repository(kind.model).page(query)
        shape = services.required_keys.get(kind.name)
        return Page([project(row.doc, query.fields, shape) for row in rows], total, query)


def etag(version: int) -> str:
    """A strong validator: the row version changes with every stored change."""
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int) -> None:
    """RFC 9110 If-Match with strong comparison; a mismatch means the client's copy is stale (412)."""
    if if_match is None:
        return
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" not in candidates and etag(version) not in candidates:
        raise ApiError(412, f"If-Match {if_match} does not match the current ETag {etag(version)}")


def _locked(uow: UnitOfWork, kind: ResourceKind, resource_id: str, if_match: str | None) -> ResourceMixin:
    """The row to change, locked for the rest of the transaction, after the client's If-Match."""
    row = uow.repository(kind.model).get(resource_id, for_update=True)
    if row is None:
        raise NotFound(kind.name, resource_id)
    check_if_match(if_match, row.version)
    return row


def update(
    services: Services,
    kind: ResourceKind,
    resource_id: str,
    change: Callable[[dict], dict],
    now: str,
    if_match: str | None = None,
) -> Stored:
    """Apply `change` (stored document → candidate) under a row lock, then the domain hook."""
    with unit_of_work(services.sessions, write=True) as uow:
        row = _locked(uow, kind, resource_id, if_match)
        stored = copy.deepcopy(row.doc)
        candidate = change(copy.deepcopy(stored))
        if not isinstance(candidate, dict):
            raise BadRequest(f"the patched {kind.name} is not a JSON object")
        validator = services.document_validators.get(kind.name)
        if validator is not None:
            error = next(iter(validator.iter_errors(candidate)), None)
            if error is not None:
                raise BadRequest(body_problem(error, what=f"the patched {kind.name}"))
        touched = sorted(k for k in kind.immutable if candidate.get(k) != stored.get(k))
        if touched:
            raise BadRequest(f"{', '.join(touched)} cannot be changed")
        changes: list[StateChange] = []
        if kind.on_update:
            candidate, changes = kind.on_update(
                stored, candidate, WriteContext(uow, services, now, resource_id)
            )
        row = store_update(uow, kind, row, candidate, changes, now)
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
    if_match: str | None = None,
) -> None:
    with unit_of_work(services.sessions, write=True) as uow:
        row = _locked(uow, kind, resource_id, if_match)
        if check:
            check(row.doc)
        emit(uow, kind, events.DELETE, row.doc, utc_now_iso())
        uow.repository(kind.model).delete(row)


JSON_PATCH = "application/json-patch+json"


def json_patch(operations: Any, immutable: frozenset[str]) -> Callable[[dict], dict]:
    """RFC 6902, atomic: the whole list applies to a copy or nothing does. A failed `test` is a 409."""
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
    # One JsonPatch per operation, so that a failure names its operation (jsonpatch's own texts hold reprs
    # of the document and of Python types: they are not shown).
    steps = []
    for index, operation in enumerate(operations):
        try:
            steps.append(jsonpatch.JsonPatch([operation]))
        except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException):
            raise BadRequest(
                f"{json_patch_operation(index, operation)}: 'path' and 'from' must be JSON Pointers such as "
                "/note/0"
            ) from None

    def change(document: dict) -> dict:
        result: Any = copy.deepcopy(document)  # atomic: all operations apply to a copy, or none does
        for index, (operation, step) in enumerate(zip(operations, steps, strict=True)):
            label = json_patch_operation(index, operation)
            try:
                result = step.apply(result, in_place=True)
            except jsonpatch.JsonPatchTestFailed:
                raise ApiError(409, f"{label}: the value there is not the tested value") from None
            except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException):
                raise BadRequest(f"{label}: {json_patch_problem(operation, missing_location=True)}") from None
            except (jsonpatch.JsonPatchException, TypeError, ValueError, KeyError, IndexError):
                raise BadRequest(f"{label}: {json_patch_problem(operation, missing_location=False)}") from None
        return result

    return change


def patch_change(content_type: str, body: Any, kind: ResourceKind) -> Callable[[dict], dict]:
    if content_type.split(";")[0].strip().lower() == JSON_PATCH:
        return json_patch(body, kind.immutable)
    return merge_patch(body)
