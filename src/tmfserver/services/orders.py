"""TMF652 application services: ResourceOrder and CancelResourceOrder on the generic resource operations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..domain import events, lifecycle
from ..domain.orders import (
    CANCEL_SERVER_OWNED,
    ORDER_IMMUTABLE,
    ORDER_SERVER_OWNED,
    new_cancel_request,
    new_order,
)
from ..query.values import canonical_instant
from ..store.models import CancelResourceOrder, ResourceOrder
from .dependencies import Dependencies
from .exceptions import Conflict, InvalidRequest, NotFound
from .resources import ResourceKind, WriteContext


@contextmanager
def domain_errors() -> Iterator[None]:
    """Lifecycle refusals in the application's terms: a malformed order is an invalid request, a rule
    violation a conflict with the order's state."""
    try:
        yield
    except lifecycle.MalformedOrder as exc:
        raise InvalidRequest(exc.message) from None
    except lifecycle.RuleViolation as exc:
        raise Conflict(exc.message) from None


def _create_order(document: dict, context: WriteContext) -> tuple[dict, list[lifecycle.StateChange]]:
    with domain_errors():
        return new_order(document, context.now)


def _came_from(context: WriteContext) -> dict[str | None, str]:
    """For the order (key None) and each item now in assessingCancellation, the state it came from (from
    history)."""
    came_from: dict[str | None, str] = {}
    for entry in context.uow.history(ORDER_KIND.name, context.resource_id):
        if entry.to_state == lifecycle.ASSESSING and entry.from_state:
            key = None if entry.entity == lifecycle.ORDER_ENTITY else entry.entity_id
            came_from[key] = entry.from_state
    return came_from


def _update_order(
    stored: dict, candidate: dict, context: WriteContext
) -> tuple[dict, list[lifecycle.StateChange]]:
    came_from = _came_from(context)
    with domain_errors():
        return lifecycle.apply_order_update(stored, candidate, context.now, came_from=came_from)


def check_order_deletable(document: dict) -> None:
    with domain_errors():
        lifecycle.check_order_deletable(document)


ORDER_KIND = ResourceKind(
    model=ResourceOrder,
    definition="ResourceOrder",
    events=frozenset(
        {
            events.CREATE,
            events.ATTRIBUTE_VALUE_CHANGE,
            events.STATE_CHANGE,
            events.DELETE,
            events.INFORMATION_REQUIRED,
        }
    ),
    information_required_states=frozenset({"pending", "held"}),
    server_owned=ORDER_SERVER_OWNED,
    immutable=ORDER_IMMUTABLE,
    on_create=_create_order,
    on_update=_update_order,
)


# Why: docs/decisions/0024-cancel-that-cannot-apply-is-terminated-with-error.md
def cancel_now(context: WriteContext, request: dict) -> tuple[dict, list[lifecycle.StateChange]]:
    """Cancel the referenced order inside the current transaction; returns the finished cancel request."""
    order_id = request["resourceOrder"]["id"]
    now = context.now
    row = context.uow.repository(ResourceOrder).get(order_id, for_update=True)
    if row is None:  # deleted while the request waited for its date
        outcome_state, message = "terminatedWithError", f"resourceOrder '{order_id}' no longer exists"
    else:
        outcome = lifecycle.cancel_order(row.doc, now)
        outcome_state, message = outcome.cancel_state, outcome.error_message
        if outcome.order_changes:
            context.store_update(ORDER_KIND, row, outcome.order, outcome.order_changes)
    finished = {**request, "state": outcome_state}
    if outcome_state == "done":
        finished["effectiveCancellationDate"] = now
    else:
        finished["errorMessage"] = message
    change = lifecycle.StateChange(
        lifecycle.CANCEL_ENTITY, None, request["state"], outcome_state, "cancellation"
    )
    return finished, [change]


# Why: docs/decisions/0023-unknown-order-in-cancel-is-400.md
def _create_cancel_request(document: dict, context: WriteContext) -> tuple[dict, list[lifecycle.StateChange]]:
    reference = document.get("resourceOrder")
    order_id = reference.get("id") if isinstance(reference, dict) else None
    if not isinstance(order_id, str) or not order_id:
        raise InvalidRequest("resourceOrder.id is required")
    if context.uow.repository(ResourceOrder).get(order_id) is None:
        raise InvalidRequest(f"resourceOrder.id '{order_id}' does not exist")
    request, created = new_cancel_request(document)
    requested = document.get("requestedCancellationDate")
    due = canonical_instant(requested) if isinstance(requested, str) else None
    if requested is not None and due is None:
        raise InvalidRequest("requestedCancellationDate must be a date-time")
    if due is not None and due > canonical_instant(context.now):
        return request, [created]  # stays acknowledged; run_due_cancellations applies it when due
    finished, changes = cancel_now(context, request)
    return finished, [created, *changes]


def run_due_cancellations(deps: Dependencies, now: str, batch: int = 20) -> int:
    """Apply scheduled cancellations whose requestedCancellationDate has come. Safe with several processes:
    the unit of work claims rows that no other transaction holds."""
    with deps.unit_of_work(write=True) as uow:
        context = WriteContext(uow, deps, now)
        rows = uow.claim_due_cancellations(canonical_instant(now), batch)
        for row in rows:
            finished, changes = cancel_now(context, row.doc)
            context.store_update(CANCEL_KIND, row, finished, changes)
        return len(rows)


def _cancel_columns(document: dict) -> dict:
    reference = document.get("resourceOrder") or {}
    requested = document.get("requestedCancellationDate")
    waiting = document.get("state") == "acknowledged" and isinstance(requested, str)
    return {
        "resource_order_id": reference.get("id"),
        "due_at": canonical_instant(requested) if waiting else None,
    }


CANCEL_KIND = ResourceKind(
    model=CancelResourceOrder,
    definition="CancelResourceOrder",
    # The document defines no AttributeValueChange or Delete event for cancel requests.
    events=frozenset({events.CREATE, events.STATE_CHANGE, events.INFORMATION_REQUIRED}),
    # A cancellation that could not be carried out needs the client's attention.
    information_required_states=frozenset({"terminatedWithError"}),
    server_owned=CANCEL_SERVER_OWNED,
    on_create=_create_cancel_request,
    columns=_cancel_columns,
)


def state_history(deps: Dependencies, kind: ResourceKind, resource_id: str) -> list[dict]:
    """Every recorded state change of a resource (for an order: also of its cancel requests), oldest first."""
    with deps.unit_of_work(write=False) as uow:
        if uow.repository(kind.model).get(resource_id) is None:
            raise NotFound(kind.name, resource_id)
        owners = [(kind.name, resource_id)]
        if kind is ORDER_KIND:
            owners += [(CANCEL_KIND.name, cancel_id) for cancel_id in uow.cancel_request_ids(resource_id)]
        entries = sorted((entry for owner in owners for entry in uow.history(*owner)), key=lambda e: e.pk)
        return [_history_entry(entry) for entry in entries]


def _history_entry(entry: Any) -> dict:
    """A state_history row (unit_of_work.history) → the extension document's entry."""
    fields = {
        "entity": entry.entity,
        "entityId": entry.resource_id if entry.entity == CANCEL_KIND.name else entry.entity_id,
        "fromState": entry.from_state,
        "toState": entry.to_state,
        "changedAt": entry.changed_at,
        "cause": entry.cause,
    }
    return {key: value for key, value in fields.items() if value is not None}
