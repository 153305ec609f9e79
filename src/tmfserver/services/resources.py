"""Generic operations on a stored TMF resource: one implementation for every resource type.

A `ResourceKind` says what differs per resource (model, definition, server-owned fields, domain hooks); the
functions here run the transaction, call the hooks and shape results. They take plain values (the base URL
for hrefs, the time, the versions the client expects, the kind of patch) and raise `services.exceptions`.
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import json_merge_patch
import jsonpatch
from ulid import ULID

from ..clock import utc_now_iso
from ..domain import events
from ..domain.lifecycle import StateChange
from ..query.parse import Query, QueryError, QueryLimits, parse_query
from ..query.projection import RequiredKeys, project
from ..store.models import ResourceMixin
from ..store.repository import read_document
from ..store.unit_of_work import UnitOfWork
from .dependencies import Dependencies
from .exceptions import Conflict, InvalidRequest, NotFound, PreconditionFailed

# create hook: (document, context) -> (document to store, its state changes)
CreateHook = Callable[[dict, "WriteContext"], tuple[dict, list[StateChange]]]
# update hook: (stored document, candidate document, context) -> (document to store, its state changes)
UpdateHook = Callable[[dict, dict, "WriteContext"], tuple[dict, list[StateChange]]]


@dataclass(frozen=True)
class ResourceKind:
    model: type[ResourceMixin]
    # Its definition in the served document ("ResourceOrder"): the schema a patched document must meet, the
    # prefix of its event types and the default `@type`.
    definition: str
    server_owned: frozenset[str] = frozenset({"id", "href"})  # overwritten on create, never an error
    immutable: frozenset[str] = frozenset({"id", "href"})  # a patch touching them is refused
    on_create: CreateHook | None = None
    on_update: UpdateHook | None = None
    columns: Callable[[dict], dict[str, Any]] = field(default=lambda _doc: {})
    # Event kinds the document defines for this resource (domain/events.py names).
    events: frozenset[str] = frozenset({events.CREATE, events.ATTRIBUTE_VALUE_CHANGE, events.DELETE})
    # Entering one of these states also raises an InformationRequired event.
    information_required_states: frozenset[str] = frozenset()

    @property
    def name(self) -> str:
        """As in TMF messages, events and the collection path: "resourceOrder"."""
        return self.model.resource_type


class PatchFormat(enum.Enum):
    MERGE_PATCH = "merge"  # RFC 7386 (application/merge-patch+json, and application/json)
    JSON_PATCH = "json-patch"  # RFC 6902 (application/json-patch+json)


@dataclass(frozen=True)
class ExpectedVersion:
    """The stored versions a client's condition accepts (If-Match, parsed by the web layer)."""

    versions: frozenset[int] = frozenset()
    any: bool = False  # `*`: any stored version

    def check(self, version: int) -> None:
        if not self.any and version not in self.versions:
            raise PreconditionFailed(version)


@dataclass
class WriteContext:
    """One write transaction: what a domain hook may use, and the bookkeeping every stored change needs."""

    uow: UnitOfWork
    deps: Dependencies
    now: str
    resource_id: str | None = None

    def emit(self, kind: ResourceKind, event_kind: str, document: dict, **extra: Any) -> None:
        if event_kind in kind.events:
            envelope = events.envelope(kind.definition, kind.name, event_kind, document, self.now, **extra)
            self.uow.publish(self.deps.placement(kind.name).api, document["id"], envelope)

    def record_changes(self, kind: ResourceKind, document: dict, changes: list[StateChange]) -> None:
        """Audit trail and state events for `changes` of one resource, in the same transaction."""
        self.uow.record_history(kind.name, document["id"], changes, self.now)
        for change in changes:
            if change.entity != kind.name or change.from_state is None:
                continue
            # Each step of a walk (e.g. assessingCancellation → pendingCancellation → cancelled) is announced
            # with the resource as stored and `state` set to that step.
            snapshot = {**document, "state": change.to_state}
            self.emit(kind, events.STATE_CHANGE, snapshot)
            if change.to_state in kind.information_required_states:
                self.emit(kind, events.INFORMATION_REQUIRED, snapshot)

    def store_update(
        self, kind: ResourceKind, row: ResourceMixin, document: dict, changes: list[StateChange]
    ) -> ResourceMixin:
        previous = row.doc
        row = self.uow.repository(kind.model).replace(row, document, **kind.columns(document))
        changed = [f for f in events.changed_fields(previous, document) if f not in ("state", "completionDate")]
        if changed:
            self.emit(kind, events.ATTRIBUTE_VALUE_CHANGE, document, field_path=changed)
        self.record_changes(kind, document, changes)
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


def query_limits(deps: Dependencies) -> QueryLimits:
    settings = deps.settings
    return QueryLimits(
        default_limit=settings.default_limit,
        max_limit=settings.max_limit,
        max_conditions=settings.max_filter_conditions,
        max_regex_length=settings.max_regex_length,
    )


def parse(deps: Dependencies, pairs: list[tuple[str, str]]) -> Query:
    try:
        return parse_query(pairs, query_limits(deps))
    except QueryError as exc:
        raise InvalidRequest(str(exc)) from None


def href(deps: Dependencies, kind: ResourceKind, base_url: str, resource_id: str) -> str:
    return f"{base_url}{deps.placement(kind.name).base_path}/{kind.name}/{resource_id}"


def create(deps: Dependencies, kind: ResourceKind, body: dict, base_url: str, now: str) -> Stored:
    """Store a new resource (the body is a JSON object: the document's validation guarantees it)."""
    document = {key: value for key, value in body.items() if key not in kind.server_owned}
    resource_id = str(ULID())
    document = {"id": resource_id, "href": href(deps, kind, base_url, resource_id), **document}
    document.setdefault("@type", kind.definition)
    with deps.unit_of_work(write=True) as uow:
        context = WriteContext(uow, deps, now, resource_id)
        changes: list[StateChange] = []
        if kind.on_create:
            document, changes = kind.on_create(document, context)
        row = uow.repository(kind.model).add(document, **kind.columns(document))
        context.emit(kind, events.CREATE, document)
        context.record_changes(kind, document, changes)
        return Stored(row.doc, row.version)


def retrieve(deps: Dependencies, kind: ResourceKind, resource_id: str) -> Stored:
    with deps.database():
        row = read_document(deps.engine, kind.model, resource_id)
    if row is None:
        raise NotFound(kind.name, resource_id)
    return Stored(row.doc, row.version, deps.placement(kind.name).required)


def listing(deps: Dependencies, kind: ResourceKind, query: Query) -> Page:
    with deps.unit_of_work(write=False) as uow:
        rows, total = uow.repository(kind.model).page(query)
        shape = deps.placement(kind.name).required
        return Page([project(row.doc, query.fields, shape) for row in rows], total, query)


def _locked(
    uow: UnitOfWork, kind: ResourceKind, resource_id: str, expected: ExpectedVersion | None
) -> ResourceMixin:
    """The row to change, locked for the rest of the transaction, after the client's expected version."""
    row = uow.repository(kind.model).get(resource_id, for_update=True)
    if row is None:
        raise NotFound(kind.name, resource_id)
    if expected is not None:
        expected.check(row.version)
    return row


def update(
    deps: Dependencies,
    kind: ResourceKind,
    resource_id: str,
    change: Callable[[dict], dict],
    now: str,
    expected: ExpectedVersion | None = None,
) -> Stored:
    """Apply `change` (stored document → candidate) under a row lock, then the domain hook."""
    with deps.unit_of_work(write=True) as uow:
        row = _locked(uow, kind, resource_id, expected)
        stored = copy.deepcopy(row.doc)
        candidate = change(copy.deepcopy(stored))
        if not isinstance(candidate, dict):
            raise InvalidRequest(f"the patched {kind.name} is not a JSON object")
        validator = deps.placement(kind.name).validator
        if validator is not None:
            error = next(iter(validator.iter_errors(candidate)), None)
            if error is not None:
                where = "/".join(str(part) for part in error.absolute_path) or "/"
                raise InvalidRequest(f"the patched {kind.name} is not valid at {where}: {error.message}")
        touched = sorted(k for k in kind.immutable if candidate.get(k) != stored.get(k))
        if touched:
            raise InvalidRequest(f"{', '.join(touched)} cannot be changed")
        changes: list[StateChange] = []
        context = WriteContext(uow, deps, now, resource_id)
        if kind.on_update:
            candidate, changes = kind.on_update(stored, candidate, context)
        row = context.store_update(kind, row, candidate, changes)
        return Stored(row.doc, row.version)


def delete(
    deps: Dependencies,
    kind: ResourceKind,
    resource_id: str,
    check: Callable[[dict], None] | None = None,
    expected: ExpectedVersion | None = None,
) -> None:
    with deps.unit_of_work(write=True) as uow:
        row = _locked(uow, kind, resource_id, expected)
        if check:
            check(row.doc)
        WriteContext(uow, deps, utc_now_iso(), resource_id).emit(kind, events.DELETE, row.doc)
        uow.repository(kind.model).delete(row)


def merge_patch(patch: dict) -> Callable[[dict], dict]:
    return lambda document: json_merge_patch.merge(document, patch)


def json_patch(operations: list[dict], immutable: frozenset[str]) -> Callable[[dict], dict]:
    """RFC 6902, atomic: the whole list applies to a copy or nothing does. A failed `test` is a Conflict.

    The operations' shape (an array of objects with `op` and `path`) is checked by the request validation."""
    for operation in operations:
        for key in ("path", "from"):
            pointer = operation.get(key)
            if isinstance(pointer, str):
                top = pointer.split("/")[1].replace("~1", "/").replace("~0", "~") if "/" in pointer else ""
                if top in immutable or (pointer == "" and operation.get("op") != "test"):
                    raise InvalidRequest(f"JSON Patch may not touch '{pointer or '/'}'")
    try:
        patch = jsonpatch.JsonPatch(operations)
    except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException) as exc:
        raise InvalidRequest(f"invalid JSON Patch: {exc}") from None

    def change(document: dict) -> dict:
        try:
            return patch.apply(document, in_place=False)
        except jsonpatch.JsonPatchTestFailed as exc:
            raise Conflict(f"JSON Patch test failed: {exc}") from None
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
            raise InvalidRequest(f"JSON Patch cannot be applied: {exc}") from None
        except (TypeError, ValueError, KeyError, IndexError) as exc:
            raise InvalidRequest(f"JSON Patch cannot be applied: {exc}") from None

    return change


def patch_change(patch_format: PatchFormat, body: Any, kind: ResourceKind) -> Callable[[dict], dict]:
    if patch_format is PatchFormat.JSON_PATCH:
        return json_patch(body, kind.immutable)
    return merge_patch(body)
