"""TMF652 application services: ResourceOrder and CancelResourceOrder on the generic resource operations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..domain import lifecycle
from ..domain.orders import (
    CANCEL_SERVER_OWNED,
    ORDER_IMMUTABLE,
    ORDER_SERVER_OWNED,
    new_cancel_request,
    new_order,
)
from ..errors import ApiError, BadRequest
from ..query.values import canonical_instant
from ..store.models import CancelResourceOrder, ResourceOrder
from .resources import ResourceKind, WriteContext

BASE_PATH = "/tmf-api/resourceOrderingManagement/v4"


@contextmanager
def domain_errors() -> Iterator[None]:
    """Domain rule violations become TMF Errors with the status the rule chose (400 or 409)."""
    try:
        yield
    except lifecycle.LifecycleError as exc:
        raise ApiError(exc.status, exc.message) from None


def _create_order(document: dict, context: WriteContext) -> dict:
    with domain_errors():
        order, changes = new_order(document, context.now)
    context.uow.record_history(ORDER_KIND.name, context.resource_id, changes, context.now)
    return order


def _came_from(context: WriteContext, entity: str) -> dict[str | None, str]:
    """For each order/item now in assessingCancellation, the state it came from (from history)."""
    came_from: dict[str | None, str] = {}
    for entry in context.uow.history(ORDER_KIND.name, context.resource_id):
        if entry.to_state == lifecycle.ASSESSING and entry.from_state:
            key = None if entry.entity == entity else entry.entity_id
            came_from[key] = entry.from_state
    return came_from


def _update_order(stored: dict, candidate: dict, context: WriteContext) -> dict:
    came_from = _came_from(context, lifecycle.ORDER_ENTITY)
    with domain_errors():
        order, changes = lifecycle.apply_order_update(stored, candidate, context.now, came_from=came_from)
    context.uow.record_history(ORDER_KIND.name, context.resource_id, changes, context.now)
    return order


def check_order_deletable(document: dict) -> None:
    with domain_errors():
        lifecycle.check_order_deletable(document)


ORDER_KIND = ResourceKind(
    model=ResourceOrder,
    name="resourceOrder",
    base_path=BASE_PATH,
    collection="resourceOrder",
    default_type="ResourceOrder",
    server_owned=ORDER_SERVER_OWNED,
    immutable=ORDER_IMMUTABLE,
    on_create=_create_order,
    on_update=_update_order,
)


def cancel_now(context: WriteContext, request: dict, order_id: str) -> dict:
    """Cancel the order inside the current transaction; returns the finished cancel request."""
    orders = context.uow.repository(ResourceOrder)
    row = orders.get(order_id, for_update=True)
    if row is None:  # deleted while the request waited for its date
        outcome_state, message = (
            "terminatedWithError",
            f"resourceOrder '{order_id}' no longer exists",
        )
    else:
        outcome = lifecycle.cancel_order(row.doc, context.now)
        outcome_state, message = outcome.cancel_state, outcome.error_message
        if outcome.order_changes:
            orders.replace(row, outcome.order)
            context.uow.record_history(ORDER_KIND.name, order_id, outcome.order_changes, context.now)
    finished = {**request, "state": outcome_state}
    if outcome_state == "done":
        finished["effectiveCancellationDate"] = context.now
    else:
        finished["errorMessage"] = message
    context.uow.record_history(
        CANCEL_KIND.name,
        context.resource_id,
        [lifecycle.StateChange(lifecycle.CANCEL_ENTITY, None, "acknowledged", outcome_state, "cancellation")],
        context.now,
    )
    return finished


def _create_cancel_request(document: dict, context: WriteContext) -> dict:
    reference = document.get("resourceOrder")
    order_id = reference.get("id") if isinstance(reference, dict) else None
    if not isinstance(order_id, str) or not order_id:
        raise BadRequest("resourceOrder.id is required")
    if context.uow.repository(ResourceOrder).get(order_id) is None:
        raise BadRequest(f"resourceOrder.id '{order_id}' does not exist")
    request, created = new_cancel_request(document)
    context.uow.record_history(CANCEL_KIND.name, context.resource_id, [created], context.now)
    requested = document.get("requestedCancellationDate")
    due = canonical_instant(requested) if isinstance(requested, str) else None
    if requested is not None and due is None:
        raise BadRequest("requestedCancellationDate must be a date-time")
    if due is not None and due > canonical_instant(context.now):
        return request  # stays acknowledged; the scheduler applies it when due
    return cancel_now(context, request, order_id)


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
    name="cancelResourceOrder",
    base_path=BASE_PATH,
    collection="cancelResourceOrder",
    default_type="CancelResourceOrder",
    server_owned=CANCEL_SERVER_OWNED,
    on_create=_create_cancel_request,
    columns=_cancel_columns,
)
