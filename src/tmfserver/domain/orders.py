"""Rules for a new ResourceOrder and a new CancelResourceOrder (the lifecycle after that is lifecycle.py)."""

from __future__ import annotations

from typing import Any

from .lifecycle import CANCEL_ENTITY, ITEM_ENTITY, ORDER_ENTITY, MalformedOrder, StateChange

ORDER_SERVER_OWNED = frozenset({"id", "href", "orderDate", "state", "completionDate"})
ORDER_IMMUTABLE = frozenset({"id", "href", "orderDate"})
CANCEL_SERVER_OWNED = frozenset({"id", "href", "state", "effectiveCancellationDate", "errorMessage"})


def assign_item_ids(items: list[Any]) -> list[dict]:
    """Items keep their client `id`; items without one get the next free number ("1", "2", …)."""
    if not all(isinstance(item, dict) for item in items):
        raise MalformedOrder(f"every {ITEM_ENTITY} must be a JSON object")
    used: set[str] = set()
    for item in items:
        if item.get("id") is not None:
            item_id = str(item["id"])
            if item_id in used:
                raise MalformedOrder(f"{ITEM_ENTITY} id '{item_id}' is used twice")
            used.add(item_id)
    next_number = 1
    result = []
    for item in items:
        if item.get("id") is None:
            while str(next_number) in used:
                next_number += 1
            used.add(str(next_number))
            item = {**item, "id": str(next_number)}
        else:
            item = {**item, "id": str(item["id"])}
        result.append(item)
    return result


def new_order(document: dict, now: str) -> tuple[dict, list[StateChange]]:
    items = document.get("orderItem", [])
    if not isinstance(items, list):
        raise MalformedOrder("orderItem must be an array")
    items = [{**item, "state": "acknowledged"} for item in assign_item_ids(items)]
    order = {**document, "orderDate": now, "state": "acknowledged"}
    if "orderItem" in document:
        order["orderItem"] = items
    changes = [StateChange(ITEM_ENTITY, item["id"], None, "acknowledged", "create") for item in items]
    changes.append(StateChange(ORDER_ENTITY, None, None, "acknowledged", "create"))
    return order, changes


def new_cancel_request(document: dict) -> tuple[dict, StateChange]:
    return {**document, "state": "acknowledged"}, StateChange(
        CANCEL_ENTITY, None, None, "acknowledged", "create"
    )
