"""Generic operations on a stored TMF resource: one implementation for every resource type.

A `ResourceKind` says what differs per resource (model, definition, server-owned fields, domain hooks); the
functions here run the transaction, call the hooks and shape results. They take plain values (the base URL
for hrefs, the time, the versions the client expects, the kind of patch) and raise `services.exceptions`.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import json_merge_patch
import jsonpatch
from ulid import ULID

from ..client_messages import body_problem, json_patch_operation, json_patch_problem
from ..clock import utc_now_iso
from ..domain import events
from ..domain.lifecycle import StateChange
from ..query.parse import Query, QueryError, QueryLimits, parse_query
from ..query.patch_query import PatchQueryError, translate
from ..query.projection import RequiredKeys, project
from ..store.models import ResourceMixin
from ..store.repository import DocumentRow, read_document, read_page
from ..store.unit_of_work import UnitOfWork
from .dependencies import Dependencies, Placement
from .exceptions import Conflict, InvalidRequest, NotFound, PreconditionFailed
from .idempotency import Reply, RequestKey, run_once
from .representations import AS_STORED

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
    JSON_PATCH_QUERY = (
        "json-patch-query"  # TMF630 JSON Patch with query paths (application/json-patch-query+json)
    )


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

    def emit(
        self, kind: ResourceKind, event_kind: str, document: dict, previous: dict | None = None, **extra: Any
    ) -> None:
        """One event per API exposing the resource, each in that API's representation and envelope, to that
        API's hub subscribers (through the same outbox, in this transaction). With `previous` (an attribute
        value change), each API announces the top-level attributes changed in its own representation, and
        an API that shows no change (v4, when only v5's `lastUpdate` moved) announces nothing."""
        if event_kind not in kind.events:
            return
        for placement in self.deps.placements[kind.name]:
            representation = placement.representation or AS_STORED
            shown = show(self.deps, kind, placement, document)
            if previous is not None:
                before = show(self.deps, kind, placement, previous)
                changed = [f for f in events.changed_fields(before, shown) if f not in UNANNOUNCED]
                if not changed:
                    continue
                extra = {**extra, "field_path": changed}
            envelope = representation.envelope(kind.definition, kind.name, event_kind, shown, self.now, **extra)
            self.uow.publish(placement.api, document["id"], envelope)

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
        self, kind: ResourceKind, row: DocumentRow, document: dict, changes: list[StateChange]
    ) -> DocumentRow:
        """Replace a locked row's document (version + 1), announce the change, record its state changes."""
        previous = row.doc
        row = self.uow.repository(kind.model).replace(row, document, **kind.columns(document))
        self.emit(kind, events.ATTRIBUTE_VALUE_CHANGE, document, previous=previous)
        self.record_changes(kind, document, changes)
        return row


# Changes announced by their own events (StateChangeEvent), not as attribute value changes.
UNANNOUNCED = frozenset({"state", "completionDate"})


class JsonText(str):
    """A document (or a page of them) as JSON text, to be sent as it was stored: nothing on its way out
    needs it decoded (no representation, no other API's href to rewrite, no `fields`)."""


@dataclass(frozen=True)
class Stored:
    document: dict | JsonText
    version: int
    shape: RequiredKeys | None = None  # what `fields` must keep for the document to stay schema-valid


@dataclass(frozen=True)
class Page:
    documents: list[dict] | JsonText  # JsonText: the JSON array
    count: int  # documents on this page
    total: int
    query: Query


# Why: docs/decisions/0048-core-read-paths.md
def verbatim(deps: Dependencies, kind: ResourceKind, placement: Placement, fields: Any) -> bool:
    """Whether `placement` shows the stored document exactly as stored, so its JSON text can go out as is."""
    representation = placement.representation or AS_STORED
    return fields is None and representation is AS_STORED and len(deps.placements[kind.name]) == 1


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


def href(
    deps: Dependencies, kind: ResourceKind, base_url: str, resource_id: str, api: str | None = None
) -> str:
    return f"{base_url}{deps.placement(kind.name, api).base_path}/{kind.name}/{resource_id}"


def show(deps: Dependencies, kind: ResourceKind, placement: Placement, document: dict) -> dict:
    """A stored document as `placement`'s API shows it: its representation, and its `href` under that API's
    base path (a cart created through v4 has a v5 href in v5, and the other way round)."""
    shown = (placement.representation or AS_STORED).show(document)
    stored_href = shown.get("href")
    if isinstance(stored_href, str):
        for other in deps.placements[kind.name]:
            marker = f"{other.base_path}/{kind.name}/"
            if other is not placement and marker in stored_href:
                shown["href"] = stored_href.replace(marker, f"{placement.base_path}/{kind.name}/", 1)
                break
    return shown


def representable(deps: Dependencies, kind: ResourceKind, document: dict, written_through: Placement) -> None:
    """A stored document must be valid in every API that exposes it, not only in the one it was written
    through (a v5 party without an `id` has no v4 form: v4 requires one). InvalidRequest naming the place."""
    for placement in deps.placements[kind.name]:
        if placement is written_through or placement.validator is None:
            continue
        error = next(iter(placement.validator.iter_errors(show(deps, kind, placement, document))), None)
        if error is not None:
            what = f"this {kind.name} cannot be represented in {placement.api} (also serving it)"
            raise InvalidRequest(body_problem(error, what=what))


# Why: docs/decisions/0027-server-owned-fields-ignored.md
def create(
    deps: Dependencies, kind: ResourceKind, body: dict, base_url: str, now: str, api: str | None = None
) -> Stored:
    """Store a new resource (the body is a JSON object: the document's validation guarantees it)."""
    with deps.unit_of_work(write=True) as uow:
        return _create(uow, deps, kind, body, base_url, now, api)


def create_once(
    deps: Dependencies,
    kind: ResourceKind,
    body: dict,
    base_url: str,
    now: str,
    api: str | None,
    request_key: RequestKey | None,
    respond: Callable[[Stored], Reply],
) -> Reply:
    """`create`, answered by `respond(stored)`; with a client's `Idempotency-Key`, at most once per key (a
    retry gets the first answer: services/idempotency.py)."""
    return run_once(
        deps, request_key, body, lambda uow: respond(_create(uow, deps, kind, body, base_url, now, api))
    )


def _create(
    uow: UnitOfWork,
    deps: Dependencies,
    kind: ResourceKind,
    body: dict,
    base_url: str,
    now: str,
    api: str | None,
) -> Stored:
    placement = deps.placement(kind.name, api)
    document = (placement.representation or AS_STORED).take(body, None)
    document = {key: value for key, value in document.items() if key not in kind.server_owned}
    resource_id = str(ULID())
    document = {"id": resource_id, "href": href(deps, kind, base_url, resource_id, api), **document}
    document.setdefault("@type", kind.definition)
    context = WriteContext(uow, deps, now, resource_id)
    changes: list[StateChange] = []
    if kind.on_create:
        document, changes = kind.on_create(document, context)
    representable(deps, kind, document, placement)
    row = uow.repository(kind.model).add(document, **kind.columns(document))
    context.emit(kind, events.CREATE, document)
    context.record_changes(kind, document, changes)
    return Stored(show(deps, kind, placement, row.doc), row.version, placement.required)


def retrieve(
    deps: Dependencies, kind: ResourceKind, resource_id: str, api: str | None = None, fields: Any = None
) -> Stored:
    """The resource as `api` shows it; `fields`: the projection the answer will apply (None: the whole)."""
    placement = deps.placement(kind.name, api)
    as_text = verbatim(deps, kind, placement, fields)
    with deps.database():
        row = read_document(deps.engine, kind.model, resource_id, as_text=as_text)
    if row is None:
        raise NotFound(kind.name, resource_id)
    document = JsonText(row.doc) if as_text else show(deps, kind, placement, row.doc)
    return Stored(document, row.version, placement.required)


def in_stored_names(query: Query, placement: Placement) -> Query:
    """A query in the API's attribute names → the same query on the stored documents."""
    representation = placement.representation or AS_STORED
    if representation is AS_STORED:
        return query
    return dataclasses.replace(
        query,
        conditions=tuple(
            dataclasses.replace(c, path=representation.stored_path(c.path)) for c in query.conditions
        ),
        sort=tuple((representation.stored_path(path), descending) for path, descending in query.sort),
    )


def listing(deps: Dependencies, kind: ResourceKind, query: Query, api: str | None = None) -> Page:
    placement = deps.placement(kind.name, api)
    as_text = verbatim(deps, kind, placement, query.fields)
    with deps.database():
        rows, total = read_page(deps.engine, kind.model, in_stored_names(query, placement), as_text=as_text)
    if as_text:
        return Page(JsonText("[" + ",".join(row.doc for row in rows) + "]"), len(rows), total, query)
    shape = placement.required
    documents = [project(show(deps, kind, placement, row.doc), query.fields, shape) for row in rows]
    return Page(documents, len(rows), total, query)


def _locked(
    uow: UnitOfWork, kind: ResourceKind, resource_id: str, expected: ExpectedVersion | None
) -> DocumentRow:
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
    api: str | None = None,
) -> Stored:
    """Apply `change` (the resource as `api` shows it → candidate) under a row lock, then the domain hook."""
    placement = deps.placement(kind.name, api)
    with deps.unit_of_work(write=True) as uow:
        row = _locked(uow, kind, resource_id, expected)
        stored = copy.deepcopy(row.doc)
        shown = show(deps, kind, placement, stored)
        candidate = change(copy.deepcopy(shown))
        if not isinstance(candidate, dict):
            raise InvalidRequest(f"the patched {kind.name} is not a JSON object")
        validator = placement.validator
        if validator is not None:
            error = next(iter(validator.iter_errors(candidate)), None)
            if error is not None:
                raise InvalidRequest(body_problem(error, what=f"the patched {kind.name}"))
        touched = sorted(k for k in kind.immutable if candidate.get(k) != shown.get(k))
        if touched:
            raise InvalidRequest(f"{', '.join(touched)} cannot be changed")
        candidate = (placement.representation or AS_STORED).take(candidate, stored)
        candidate.update({k: stored[k] for k in kind.immutable if k in stored})  # the stored href, not shown
        changes: list[StateChange] = []
        context = WriteContext(uow, deps, now, resource_id)
        if kind.on_update:
            candidate, changes = kind.on_update(stored, candidate, context)
        representable(deps, kind, candidate, placement)
        row = context.store_update(kind, row, candidate, changes)
        return Stored(show(deps, kind, placement, row.doc), row.version, placement.required)


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
    # One JsonPatch per operation, so that a failure names its operation (jsonpatch's own texts hold reprs
    # of the document and of Python types: they are not shown).
    steps = []
    for index, operation in enumerate(operations):
        try:
            steps.append(jsonpatch.JsonPatch([operation]))
        except (jsonpatch.InvalidJsonPatch, jsonpatch.JsonPointerException):
            raise InvalidRequest(
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
                raise Conflict(f"{label}: the value there is not the tested value") from None
            except (jsonpatch.JsonPatchConflict, jsonpatch.JsonPointerException):
                raise InvalidRequest(
                    f"{label}: {json_patch_problem(operation, missing_location=True)}"
                ) from None
            except (jsonpatch.JsonPatchException, TypeError, ValueError, KeyError, IndexError):
                raise InvalidRequest(
                    f"{label}: {json_patch_problem(operation, missing_location=False)}"
                ) from None
        return result

    return change


def json_patch_query(operations: list[dict], immutable: frozenset[str]) -> Callable[[dict], dict]:
    """TMF630 JSON Patch Query: each operation's query path is resolved against the document as it is, into
    plain RFC 6902 operations (one per element the query selects), applied atomically like `json_patch`.
    A query that selects nothing is a Conflict: the request is well formed, the resource as it is now has
    no such element (as a failed `test`)."""

    def change(document: dict) -> dict:
        try:
            plain = translate(operations, document)
        except PatchQueryError as exc:
            if exc.no_match:
                raise Conflict(str(exc)) from None
            raise InvalidRequest(str(exc)) from None
        return json_patch(plain, immutable)(document)

    return change


def patch_change(patch_format: PatchFormat, body: Any, kind: ResourceKind) -> Callable[[dict], dict]:
    if patch_format is PatchFormat.JSON_PATCH:
        return json_patch(body, kind.immutable)
    if patch_format is PatchFormat.JSON_PATCH_QUERY:
        return json_patch_query(body, kind.immutable)
    return merge_patch(body)
