"""TMF652 v4.0.0 ResourceOrder / ResourceOrderItem state machines.

Pure domain logic on plain dict documents (no web framework, no database). The transition
tables below are the single source of truth; everything else (terminal sets, cancellable
states, derived-state walks) is computed from them.

Decisions where the brief/spec is silent (kept in one place so callers can find them):

* A stored order or item without ``state`` is treated as ``acknowledged``.
* If the candidate document omits ``state`` (order or existing item) the stored state is carried
  over: merge-patch replaces whole arrays and ``null`` deletes keys, so a missing state means "not
  touched", never "cleared". An explicit non-string/``None`` state is an unknown value (MalformedOrder).
* Order items are matched by ``id`` (compared as strings). A candidate item without ``id`` or a
  duplicated ``id`` is a MalformedOrder.
* Items may be added in any non-terminal order state (only removal is restricted). An added item
  is reported as a ``StateChange`` with ``from_state=None`` and cause ``"create"``.
* Explicitly moving the order to ``cancelled`` or ``rejected`` cascades that state to every
  non-terminal item (cause ``"derived"``), mirroring ``cancel_order``; ``completed``/``failed``/
  ``partial`` are refused instead while items are open (rule 4).
* Derived order changes only happen when the patch touched items (state change, add or remove)
  and the client did not change the order state itself. They take the shortest path through
  ``ORDER_TRANSITIONS`` (e.g. acknowledged -> inProgress -> completed, or acknowledged ->
  assessingCancellation -> pendingCancellation -> cancelled), recording every step. If the table
  offers no path (e.g. inProgress -> rejected, or completing items of an order that is being
  cancelled) the whole update is refused (RuleViolation) rather than storing an inconsistent order.
* ``cancel_order`` lists its changes chronologically: order -> assessingCancellation, order ->
  pendingCancellation, each open item -> cancelled, order -> cancelled.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "ITEM_STATES",
    "ITEM_TRANSITIONS",
    "ORDER_STATES",
    "ORDER_TRANSITIONS",
    "TERMINAL_ITEM_STATES",
    "TERMINAL_ORDER_STATES",
    "UNDELETABLE_ORDER_STATES",
    "CancellationOutcome",
    "InvalidTransition",
    "LifecycleError",
    "MalformedOrder",
    "RuleViolation",
    "StateChange",
    "allowed_item_transition",
    "allowed_order_transition",
    "apply_order_update",
    "cancel_order",
    "check_order_deletable",
]

ORDER_ENTITY = "resourceOrder"
ITEM_ENTITY = "orderItem"
CANCEL_ENTITY = "cancelResourceOrder"

ASSESSING = "assessingCancellation"

# The single transition table. "assessingCancellation -> state it came from" is not in the
# table because it depends on history; it is granted through the `came_from` argument.
_ORDER_TABLE: dict[str, frozenset[str]] = {
    "acknowledged": frozenset({"rejected", "pending", "held", "inProgress", ASSESSING}),
    "rejected": frozenset(),
    "pending": frozenset({"inProgress", "held", ASSESSING}),
    "held": frozenset({"inProgress", "pending", ASSESSING}),
    "inProgress": frozenset({"pending", "held", "completed", "failed", "partial", ASSESSING}),
    ASSESSING: frozenset({"pendingCancellation"}),
    "pendingCancellation": frozenset({"cancelled"}),
    "cancelled": frozenset(),
    "completed": frozenset(),
    "failed": frozenset(),
    "partial": frozenset(),
}

ORDER_STATES: tuple[str, ...] = tuple(_ORDER_TABLE)
ORDER_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(_ORDER_TABLE)

# Items follow the same machine minus `partial` (an item cannot be partially done).
ITEM_STATES: tuple[str, ...] = tuple(s for s in ORDER_STATES if s != "partial")
ITEM_TRANSITIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {s: _ORDER_TABLE[s] - {"partial"} for s in ITEM_STATES}
)

TERMINAL_ORDER_STATES: frozenset[str] = frozenset(s for s, t in ORDER_TRANSITIONS.items() if not t)
TERMINAL_ITEM_STATES: frozenset[str] = frozenset(s for s, t in ITEM_TRANSITIONS.items() if not t)

# Orders with work in flight must be cancelled (TMF652 cancel task), not deleted.
UNDELETABLE_ORDER_STATES: frozenset[str] = frozenset(
    {"pending", "held", "inProgress", ASSESSING, "pendingCancellation"}
)

# States from which a cancellation request can start: exactly those that may enter assessment.
_CANCELLABLE_ORDER_STATES = frozenset(s for s, t in ORDER_TRANSITIONS.items() if ASSESSING in t)
# Terminal order states that require every item to be finished first (rule 4).
_NEEDS_CLOSED_ITEMS = frozenset({"completed", "failed", "partial"})
# Terminal order states pushed down onto open items when set explicitly.
_CASCADING_STATES = frozenset({"cancelled", "rejected"})
# Order states that follow the first item into inProgress.
_FOLLOWS_ITEM_START = frozenset({"acknowledged", "pending", "held"})

_DEFAULT_STATE = "acknowledged"


class LifecycleError(Exception):
    """A lifecycle rule refused a document or a change."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedOrder(LifecycleError):
    """The order (or its items) is not well formed: a value of the wrong kind, a missing or repeated id."""


class RuleViolation(LifecycleError):
    """A well-formed change that the order's current state does not allow."""


class InvalidTransition(RuleViolation):
    """A state change that the transition table does not allow."""

    def __init__(
        self,
        entity: str,
        entity_id: str | None,
        from_state: str,
        to_state: str,
        detail: str = "",
    ) -> None:
        who = entity if entity_id is None else f"{entity} '{entity_id}'"
        message = f"{who} state cannot change from '{from_state}' to '{to_state}'{detail}"
        super().__init__(message)


@dataclass(frozen=True)
class StateChange:
    entity: str  # "resourceOrder" | "orderItem" | "cancelResourceOrder"
    entity_id: str | None  # item id for orderItem, None for the order/cancel request itself
    from_state: str | None  # None on creation
    to_state: str
    cause: str  # "patch", "derived", "cancellation", "create", "simulator", ...


@dataclass
class CancellationOutcome:
    order: dict[str, Any]  # the order document to store (unchanged copy when refused)
    order_changes: list[StateChange] = field(default_factory=list)
    cancel_state: str = "done"  # "done" or "terminatedWithError"
    error_message: str | None = None


# --------------------------------------------------------------------------- transitions


def _allowed(table: Mapping[str, frozenset[str]], frm: str, to: str, came_from: str | None) -> bool:
    if frm not in table or to not in table:
        return False
    if frm == to:
        return True  # not a transition: a no-op is always fine
    if to in table[frm]:
        return True
    # Cancellation refused: return to the pre-assessment state, which must itself be a state
    # that can enter assessment (guards against a bogus came_from such as "completed").
    return frm == ASSESSING and to == came_from and ASSESSING in table[to]


def allowed_order_transition(frm: str, to: str, came_from: str | None = None) -> bool:
    """True when an order may move from `frm` to `to` (`came_from`: state before assessment)."""
    return _allowed(ORDER_TRANSITIONS, frm, to, came_from)


def allowed_item_transition(frm: str, to: str, came_from: str | None = None) -> bool:
    """True when an order item may move from `frm` to `to` (`came_from` as for orders)."""
    return _allowed(ITEM_TRANSITIONS, frm, to, came_from)


def _order_path(frm: str, to: str, came_from: str | None) -> list[str] | None:
    """Shortest walk frm -> to through the order table (states after `frm`), None if none.

    Used for derived moves so they never bypass the table; ties are broken by ORDER_STATES
    order to keep results deterministic.
    """
    if frm == to:
        return []
    rank = {s: i for i, s in enumerate(ORDER_STATES)}
    parents: dict[str, str] = {}
    queue: deque[str] = deque([frm])
    seen = {frm}
    while queue:
        state = queue.popleft()
        nxt = set(ORDER_TRANSITIONS.get(state, frozenset()))
        if state == frm and came_from and allowed_order_transition(frm, came_from, came_from):
            nxt.add(came_from)  # the history-dependent way back out of assessment
        for candidate in sorted(nxt, key=lambda s: rank.get(s, len(rank))):
            if candidate in seen:
                continue
            seen.add(candidate)
            parents[candidate] = state
            if candidate == to:
                path = [candidate]
                while parents[path[-1]] != frm:
                    path.append(parents[path[-1]])
                return path[::-1]
            queue.append(candidate)
    return None


# --------------------------------------------------------------------------- helpers


def _check_known(value: Any, allowed: Iterable[str], what: str) -> None:
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise MalformedOrder(
            f"{what} {value!r} is not one of: {', '.join(allowed)}",
        )


def _items_of(doc: Mapping[str, Any], label: str) -> list[dict[str, Any]]:
    items = doc.get("orderItem")
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise MalformedOrder(f"{label} orderItem must be an array of objects")
    return items


def _item_key(item: Mapping[str, Any]) -> str | None:
    iid = item.get("id")
    return None if iid is None else str(iid)


def _check_only_notes_appended(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Terminal orders are frozen except for appending notes at the end (rule 3)."""
    state = old.get("state")
    old_notes = old.get("note") or []
    new_notes = new.get("note") or []
    old_rest = {k: v for k, v in old.items() if k != "note"}
    new_rest = {k: v for k, v in new.items() if k != "note"}
    if (
        old_rest != new_rest
        or not isinstance(new_notes, list)
        or len(new_notes) < len(old_notes)
        or new_notes[: len(old_notes)] != old_notes
    ):
        raise RuleViolation(
            f"resourceOrder is {state}; only appending notes is allowed once it is final",
        )


def _aggregate_item_state(states: list[str]) -> str:
    """Order state implied by a non-empty list of terminal item states (rule 5)."""
    distinct = set(states)
    if len(distinct) == 1:
        return states[0]
    return "partial" if "completed" in distinct else "failed"


# --------------------------------------------------------------------------- public API


def apply_order_update(
    old: dict[str, Any],
    new: dict[str, Any],
    now: str,
    *,
    cause: str = "patch",
    came_from: Mapping[str | None, str] | None = None,
) -> tuple[dict[str, Any], list[StateChange]]:
    """`old` is the stored order, `new` the candidate after a client patch (merge or JSON patch).

    Returns the document to store (a new dict) and the state changes in the order they happened
    (item changes first, in item order, then order changes). Raises LifecycleError.
    """
    came_from = came_from or {}
    result = copy.deepcopy(new)
    old_state = old.get("state", _DEFAULT_STATE)

    if "state" not in result:
        result["state"] = old_state

    old_items = {_item_key(i): i for i in _items_of(old, "stored")}
    new_items = _items_of(result, "new")
    seen_ids: set[str] = set()
    for item in new_items:
        iid = _item_key(item)
        if iid is None:
            raise MalformedOrder("orderItem id is required")
        if iid in seen_ids:
            raise MalformedOrder(f"orderItem id '{iid}' is used more than once")
        seen_ids.add(iid)
        if iid in old_items and "state" not in item:
            item["state"] = old_items[iid].get("state", _DEFAULT_STATE)

    # Rule 1: reject unknown values before judging transitions.
    _check_known(result["state"], ORDER_STATES, "resourceOrder state")
    for item in new_items:
        if "state" in item:
            _check_known(item["state"], ITEM_STATES, f"orderItem '{_item_key(item)}' state")

    # Rule 3: a final order only accepts appended notes.
    if old_state in TERMINAL_ORDER_STATES:
        if result["state"] != old_state:
            raise InvalidTransition(ORDER_ENTITY, None, old_state, result["state"])
        _check_only_notes_appended({**old, "state": old_state}, result)
        return result, []

    # Rule 2: item transitions, additions, removals.
    item_changes: list[StateChange] = []
    entered_in_progress = False
    for item in new_items:
        iid = _item_key(item)
        if iid in old_items:
            frm = old_items[iid].get("state", _DEFAULT_STATE)
            to = item["state"]
            if frm == to:
                continue
            if not allowed_item_transition(frm, to, came_from.get(iid)):
                raise InvalidTransition(ITEM_ENTITY, iid, frm, to)
            item_changes.append(StateChange(ITEM_ENTITY, iid, frm, to, cause))
            entered_in_progress = entered_in_progress or to == "inProgress"
        else:
            to = item.setdefault("state", _DEFAULT_STATE)
            if to != _DEFAULT_STATE:
                raise RuleViolation(f"orderItem '{iid}' must start in '{_DEFAULT_STATE}', not '{to}'")
            item_changes.append(StateChange(ITEM_ENTITY, iid, None, to, "create"))
    removed = [iid for iid in old_items if iid not in seen_ids]
    if removed and old_state != "acknowledged":
        raise RuleViolation(f"orderItem '{removed[0]}' cannot be removed once the order is {old_state}")
    items_touched = bool(item_changes or removed)

    order_changes: list[StateChange] = []
    new_state = result["state"]
    if new_state != old_state:
        # Rule 4: explicit change by the client.
        if not allowed_order_transition(old_state, new_state, came_from.get(None)):
            raise InvalidTransition(ORDER_ENTITY, None, old_state, new_state)
        open_items = [i for i in new_items if i["state"] not in TERMINAL_ITEM_STATES]
        if new_state in _NEEDS_CLOSED_ITEMS and open_items:
            first = open_items[0]
            raise RuleViolation(
                f"resourceOrder cannot become {new_state} while orderItem "
                f"'{_item_key(first)}' is {first['state']}",
            )
        if new_state in _CASCADING_STATES:
            # A cancelled/rejected order cannot keep live items; push its state down.
            for item in open_items:
                item_changes.append(
                    StateChange(ITEM_ENTITY, _item_key(item), item["state"], new_state, "derived")
                )
                item["state"] = new_state
        order_changes.append(StateChange(ORDER_ENTITY, None, old_state, new_state, cause))
    elif items_touched:
        # Rule 5: the order follows its items.
        target: str | None = None
        if entered_in_progress and old_state in _FOLLOWS_ITEM_START:
            target = "inProgress"
        elif new_items and all(i["state"] in TERMINAL_ITEM_STATES for i in new_items):
            target = _aggregate_item_state([i["state"] for i in new_items])
        if target is not None and target != old_state:
            path = _order_path(old_state, target, came_from.get(None))
            if path is None:
                raise InvalidTransition(
                    ORDER_ENTITY, None, old_state, target, " (derived from its order items)"
                )
            prev = old_state
            for step in path:
                order_changes.append(StateChange(ORDER_ENTITY, None, prev, step, "derived"))
                prev = step
            result["state"] = target

    # Rule 6: completionDate marks the moment the order became final.
    if result["state"] != old_state and result["state"] in TERMINAL_ORDER_STATES:
        result["completionDate"] = now

    return result, item_changes + order_changes


def check_order_deletable(order: dict[str, Any]) -> None:
    """Refuse (RuleViolation) when the order has work in flight; such orders must be cancelled instead."""
    state = order.get("state", _DEFAULT_STATE)
    if state in UNDELETABLE_ORDER_STATES:
        oid = order.get("id")
        who = ORDER_ENTITY if oid is None else f"{ORDER_ENTITY} {oid}"
        raise RuleViolation(f"{who} is {state}; cancel it instead")


def cancel_order(order: dict[str, Any], now: str) -> CancellationOutcome:
    """Immediate cancellation (TMF652 CancelResourceOrder processed synchronously).

    Order in acknowledged, pending, held or inProgress -> assessingCancellation ->
    pendingCancellation -> cancelled; every non-terminal item becomes cancelled; completionDate
    = now; cancel_state "done". A terminal order or one already being cancelled is left untouched
    and the cancel request ends "terminatedWithError" with an explanation.
    """
    doc = copy.deepcopy(order)
    state = doc.get("state", _DEFAULT_STATE)
    oid = doc.get("id")
    who = ORDER_ENTITY if oid is None else f"{ORDER_ENTITY} {oid}"

    if state not in _CANCELLABLE_ORDER_STATES:
        if state in TERMINAL_ORDER_STATES:
            reason = f"{who} is {state} and cannot be cancelled"
        elif state in (ASSESSING, "pendingCancellation"):
            reason = f"{who} is {state}; a cancellation is already in progress"
        else:
            reason = f"{who} has unknown state {state!r} and cannot be cancelled"
        return CancellationOutcome(doc, [], "terminatedWithError", reason)

    # Walk the table rather than jumping, so history shows the standard cancellation path.
    changes = [
        StateChange(ORDER_ENTITY, None, state, ASSESSING, "cancellation"),
        StateChange(ORDER_ENTITY, None, ASSESSING, "pendingCancellation", "cancellation"),
    ]
    for item in _items_of(doc, "stored"):
        item_state = item.get("state", _DEFAULT_STATE)
        if item_state in TERMINAL_ITEM_STATES:
            continue  # finished work (e.g. completed items) keeps its outcome
        changes.append(StateChange(ITEM_ENTITY, _item_key(item), item_state, "cancelled", "cancellation"))
        item["state"] = "cancelled"
    changes.append(StateChange(ORDER_ENTITY, None, "pendingCancellation", "cancelled", "cancellation"))
    doc["state"] = "cancelled"
    doc["completionDate"] = now
    return CancellationOutcome(doc, changes, "done", None)
