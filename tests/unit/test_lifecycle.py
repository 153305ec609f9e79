"""Unit tests for tmfserver.domain.lifecycle (TMF652 order / order item state machines)."""

from __future__ import annotations

import copy
import itertools
from typing import Any

import pytest

from tmfserver.domain.lifecycle import (
    ITEM_STATES,
    ITEM_TRANSITIONS,
    ORDER_STATES,
    ORDER_TRANSITIONS,
    TERMINAL_ITEM_STATES,
    TERMINAL_ORDER_STATES,
    UNDELETABLE_ORDER_STATES,
    InvalidTransition,
    LifecycleError,
    MalformedOrder,
    RuleViolation,
    StateChange,
    allowed_item_transition,
    allowed_order_transition,
    apply_order_update,
    cancel_order,
    check_order_deletable,
)

NOW = "2024-05-01T10:00:00Z"
ASSESSING = "assessingCancellation"


def order(state: str = "acknowledged", *items: tuple[str, str], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": "01HORDER",
        "state": state,
        "orderDate": "2024-04-01T00:00:00Z",
        "orderItem": [{"id": iid, "state": st, "action": "add", "quantity": 1} for iid, st in items],
    }
    doc.update(extra)
    return doc


def with_state(doc: dict[str, Any], state: str) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    new["state"] = state
    return new


def with_items(doc: dict[str, Any], **states: str) -> dict[str, Any]:
    new = copy.deepcopy(doc)
    for item in new["orderItem"]:
        if item["id"] in states:
            item["state"] = states[item["id"]]
    return new


def order_steps(changes: list[StateChange]) -> list[tuple[str | None, str, str]]:
    return [(c.from_state, c.to_state, c.cause) for c in changes if c.entity == "resourceOrder"]


# --------------------------------------------------------------------------- tables


def test_tables_shape() -> None:
    assert set(ORDER_STATES) == set(ORDER_TRANSITIONS)
    assert set(ITEM_STATES) == set(ITEM_TRANSITIONS)
    assert "partial" in ORDER_STATES and "partial" not in ITEM_STATES
    assert {"rejected", "cancelled", "completed", "failed", "partial"} == TERMINAL_ORDER_STATES
    assert {"rejected", "cancelled", "completed", "failed"} == TERMINAL_ITEM_STATES
    assert {
        "pending",
        "held",
        "inProgress",
        ASSESSING,
        "pendingCancellation",
    } == UNDELETABLE_ORDER_STATES
    for table in (ORDER_TRANSITIONS, ITEM_TRANSITIONS):
        for targets in table.values():
            assert isinstance(targets, frozenset)
            assert targets <= set(table)


ORDER_PAIRS = [(f, t) for f, t in itertools.product(ORDER_STATES, repeat=2) if f != t]
ITEM_PAIRS = [(f, t) for f, t in itertools.product(ITEM_STATES, repeat=2) if f != t]


@pytest.mark.parametrize(("frm", "to"), ORDER_PAIRS)
def test_allowed_order_transition_matches_table(frm: str, to: str) -> None:
    assert allowed_order_transition(frm, to) is (to in ORDER_TRANSITIONS[frm])


@pytest.mark.parametrize(("frm", "to"), ITEM_PAIRS)
def test_allowed_item_transition_matches_table(frm: str, to: str) -> None:
    assert allowed_item_transition(frm, to) is (to in ITEM_TRANSITIONS[frm])


@pytest.mark.parametrize("state", ORDER_STATES)
def test_same_state_is_noop(state: str) -> None:
    assert allowed_order_transition(state, state)
    if state in ITEM_STATES:
        assert allowed_item_transition(state, state)


def test_unknown_states_never_allowed() -> None:
    assert not allowed_order_transition("bogus", "bogus")
    assert not allowed_order_transition("acknowledged", "bogus")
    assert not allowed_item_transition("inProgress", "partial")
    assert not allowed_item_transition("partial", "partial")


@pytest.mark.parametrize(
    ("check", "states"),
    [(allowed_order_transition, ORDER_STATES), (allowed_item_transition, ITEM_STATES)],
)
def test_back_from_assessing_with_came_from(check: Any, states: tuple[str, ...]) -> None:
    for prev in states:
        if prev in (ASSESSING, "pendingCancellation"):
            continue  # no-op / always allowed anyway
        # only a state that can enter assessment is a valid way back
        expected = ASSESSING in ORDER_TRANSITIONS[prev]
        assert check(ASSESSING, prev, came_from=prev) is expected
        # came_from only opens the way back to that exact state
        for other in states:
            if other not in (prev, "pendingCancellation", ASSESSING):
                assert not check(ASSESSING, other, came_from=prev)
    assert not check(ASSESSING, "inProgress")  # no history -> no way back


# --------------------------------------------------------------------------- orders via update


# Each case runs with no items and with one completed item: both keep the derived rule out of
# the way (explicit changes never derive) and satisfy "no open item" for completed/failed/partial.
ORDER_ITEM_SETUPS = {"no-items": (), "completed-item": (("1", "completed"),)}


@pytest.mark.parametrize("setup", ORDER_ITEM_SETUPS)
@pytest.mark.parametrize(("frm", "to"), ORDER_PAIRS)
def test_order_transition_via_update(frm: str, to: str, setup: str) -> None:
    old = order(frm, *ORDER_ITEM_SETUPS[setup])
    if to in ORDER_TRANSITIONS[frm]:
        doc, changes = apply_order_update(old, with_state(old, to), NOW)
        assert doc["state"] == to
        assert changes == [StateChange("resourceOrder", None, frm, to, "patch")]
        assert ("completionDate" in doc) is (to in TERMINAL_ORDER_STATES)
        assert doc["orderItem"] == old["orderItem"]
    else:
        with pytest.raises(LifecycleError) as exc:
            apply_order_update(old, with_state(old, to), NOW)
        assert isinstance(exc.value, RuleViolation)
        if frm not in TERMINAL_ORDER_STATES:
            assert isinstance(exc.value, InvalidTransition)
            assert exc.value.message == (f"resourceOrder state cannot change from '{frm}' to '{to}'")


@pytest.mark.parametrize("prev", ["acknowledged", "pending", "held", "inProgress"])
def test_order_back_from_assessing_needs_came_from(prev: str) -> None:
    old = order(ASSESSING)
    with pytest.raises(InvalidTransition):
        apply_order_update(old, with_state(old, prev), NOW)
    doc, changes = apply_order_update(old, with_state(old, prev), NOW, came_from={None: prev})
    assert doc["state"] == prev
    assert changes == [StateChange("resourceOrder", None, ASSESSING, prev, "patch")]
    # came_from for a different state does not help
    other = "held" if prev != "held" else "pending"
    with pytest.raises(InvalidTransition):
        apply_order_update(old, with_state(old, other), NOW, came_from={None: prev})


def test_order_same_state_is_noop() -> None:
    old = order("inProgress", ("1", "inProgress"))
    new = copy.deepcopy(old)
    new["description"] = "changed"
    doc, changes = apply_order_update(old, new, NOW)
    assert changes == []
    assert doc == new and doc is not new


# --------------------------------------------------------------------------- items via update


@pytest.mark.parametrize(("frm", "to"), ITEM_PAIRS)
def test_item_transition_via_update(frm: str, to: str) -> None:
    # Order inProgress plus a second, still-running item: the derived rule cannot fire
    # (order already inProgress, never all items terminal).
    old = order("inProgress", ("1", frm), ("2", "inProgress"))
    new = with_items(old, **{"1": to})
    if to in ITEM_TRANSITIONS[frm]:
        doc, changes = apply_order_update(old, new, NOW)
        assert doc["orderItem"][0]["state"] == to
        assert doc["state"] == "inProgress"
        assert changes == [StateChange("orderItem", "1", frm, to, "patch")]
    else:
        with pytest.raises(InvalidTransition) as exc:
            apply_order_update(old, new, NOW)
        assert isinstance(exc.value, RuleViolation)
        assert exc.value.message == f"orderItem '1' state cannot change from '{frm}' to '{to}'"


def test_item_back_from_assessing_with_came_from() -> None:
    old = order("inProgress", ("1", ASSESSING), ("2", "inProgress"))
    new = with_items(old, **{"1": "held"})
    with pytest.raises(InvalidTransition):
        apply_order_update(old, new, NOW)
    doc, changes = apply_order_update(old, new, NOW, came_from={"1": "held"})
    assert doc["orderItem"][0]["state"] == "held"
    assert changes == [StateChange("orderItem", "1", ASSESSING, "held", "patch")]


def test_item_missing_state_is_carried_over() -> None:
    # merge-patch replaces arrays wholesale; an omitted state means "unchanged"
    old = order("inProgress", ("1", "inProgress"))
    new = copy.deepcopy(old)
    new["orderItem"] = [{"id": "1", "quantity": 5}]
    del new["state"]
    doc, changes = apply_order_update(old, new, NOW)
    assert changes == []
    assert doc["state"] == "inProgress"
    assert doc["orderItem"] == [{"id": "1", "quantity": 5, "state": "inProgress"}]


# --------------------------------------------------------------------------- derived state


@pytest.mark.parametrize("start", ["acknowledged", "pending", "held"])
def test_first_item_in_progress_moves_order(start: str) -> None:
    old = order(start, ("1", "pending" if start != "acknowledged" else "acknowledged"), ("2", "held"))
    doc, changes = apply_order_update(old, with_items(old, **{"1": "inProgress"}), NOW)
    assert doc["state"] == "inProgress"
    assert "completionDate" not in doc
    assert changes[0].entity == "orderItem"
    assert order_steps(changes) == [(start, "inProgress", "derived")]


PREDECESSOR = {
    "completed": "inProgress",
    "failed": "inProgress",
    "cancelled": "pendingCancellation",
    "rejected": "acknowledged",
}


@pytest.mark.parametrize(
    ("finals", "expected"),
    [
        (("completed", "completed"), "completed"),
        (("failed", "failed"), "failed"),
        (("completed", "failed"), "partial"),
        (("cancelled", "failed"), "failed"),
        (("cancelled", "rejected"), "failed"),
        (("completed", "cancelled"), "partial"),
    ],
)
def test_all_items_terminal_derives_order(finals: tuple[str, str], expected: str) -> None:
    first, last = finals
    before = PREDECESSOR[last]  # a state from which item 2 may legally reach `last`
    old = order("inProgress", ("1", first), ("2", before))
    doc, changes = apply_order_update(old, with_items(old, **{"2": last}), NOW)
    assert doc["state"] == expected
    assert doc["completionDate"] == NOW
    assert changes[0] == StateChange("orderItem", "2", before, last, "patch")
    assert order_steps(changes) == [("inProgress", expected, "derived")]


def test_all_items_cancelled_walks_cancellation_path() -> None:
    old = order("inProgress", ("1", "cancelled"), ("2", "pendingCancellation"))
    doc, changes = apply_order_update(old, with_items(old, **{"2": "cancelled"}), NOW)
    assert doc["state"] == "cancelled"
    assert doc["completionDate"] == NOW
    assert order_steps(changes) == [
        ("inProgress", ASSESSING, "derived"),
        (ASSESSING, "pendingCancellation", "derived"),
        ("pendingCancellation", "cancelled", "derived"),
    ]


def test_all_items_cancelled_while_order_pending_cancellation() -> None:
    old = order("pendingCancellation", ("1", "pendingCancellation"))
    doc, changes = apply_order_update(old, with_items(old, **{"1": "cancelled"}), NOW)
    assert doc["state"] == "cancelled"
    assert order_steps(changes) == [("pendingCancellation", "cancelled", "derived")]


def test_derived_walks_through_in_progress() -> None:
    # acknowledged -> completed is not in the table: the order passes inProgress first.
    old = order("acknowledged", ("1", "inProgress"))
    doc, changes = apply_order_update(old, with_items(old, **{"1": "completed"}), NOW)
    assert doc["state"] == "completed"
    assert order_steps(changes) == [
        ("acknowledged", "inProgress", "derived"),
        ("inProgress", "completed", "derived"),
    ]


def test_all_items_rejected_rejects_order() -> None:
    old = order("acknowledged", ("1", "rejected"), ("2", "acknowledged"))
    doc, changes = apply_order_update(old, with_items(old, **{"2": "rejected"}), NOW)
    assert doc["state"] == "rejected"
    assert doc["completionDate"] == NOW
    assert order_steps(changes) == [("acknowledged", "rejected", "derived")]


def test_derived_without_path_is_refused() -> None:
    # inProgress -> rejected cannot be reached through the table
    old = order("inProgress", ("1", "acknowledged"))
    with pytest.raises(InvalidTransition) as exc:
        apply_order_update(old, with_items(old, **{"1": "rejected"}), NOW)
    assert "derived" in exc.value.message


def test_derived_from_assessing_uses_came_from() -> None:
    old = order(ASSESSING, ("1", "inProgress"))
    new = with_items(old, **{"1": "completed"})
    with pytest.raises(InvalidTransition):
        apply_order_update(old, new, NOW)
    doc, changes = apply_order_update(old, new, NOW, came_from={None: "inProgress"})
    assert doc["state"] == "completed"
    assert order_steps(changes) == [
        (ASSESSING, "inProgress", "derived"),
        ("inProgress", "completed", "derived"),
    ]


def test_explicit_state_wins_over_derived() -> None:
    old = order("acknowledged", ("1", "acknowledged"))
    new = with_state(with_items(old, **{"1": "inProgress"}), "held")
    doc, changes = apply_order_update(old, new, NOW)
    assert doc["state"] == "held"
    assert order_steps(changes) == [("acknowledged", "held", "patch")]


def test_untouched_items_do_not_derive() -> None:
    old = order("pending", ("1", "completed"))
    new = copy.deepcopy(old)
    new["description"] = "x"
    doc, changes = apply_order_update(old, new, NOW)
    assert doc["state"] == "pending" and changes == []


@pytest.mark.parametrize("to", ["completed", "failed", "partial"])
def test_explicit_final_with_open_item_is_refused(to: str) -> None:
    old = order("inProgress", ("1", "completed"), ("2", "inProgress"))
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, with_state(old, to), NOW)
    assert isinstance(exc.value, RuleViolation)
    assert "'2'" in exc.value.message


def test_explicit_final_with_items_closed_in_same_patch() -> None:
    old = order("inProgress", ("1", "inProgress"))
    new = with_state(with_items(old, **{"1": "completed"}), "completed")
    doc, changes = apply_order_update(old, new, NOW)
    assert doc["state"] == "completed" and doc["completionDate"] == NOW
    assert changes == [
        StateChange("orderItem", "1", "inProgress", "completed", "patch"),
        StateChange("resourceOrder", None, "inProgress", "completed", "patch"),
    ]


def test_explicit_cancelled_cascades_to_open_items() -> None:
    old = order("pendingCancellation", ("1", "completed"), ("2", "pendingCancellation"))
    doc, changes = apply_order_update(old, with_state(old, "cancelled"), NOW)
    assert [i["state"] for i in doc["orderItem"]] == ["completed", "cancelled"]
    assert changes == [
        StateChange("orderItem", "2", "pendingCancellation", "cancelled", "derived"),
        StateChange("resourceOrder", None, "pendingCancellation", "cancelled", "patch"),
    ]


def test_explicit_rejected_cascades_to_open_items() -> None:
    old = order("acknowledged", ("1", "acknowledged"))
    doc, changes = apply_order_update(old, with_state(old, "rejected"), NOW)
    assert doc["orderItem"][0]["state"] == "rejected"
    assert [c.entity for c in changes] == ["orderItem", "resourceOrder"]


def test_cause_is_propagated() -> None:
    old = order("acknowledged", ("1", "acknowledged"))
    _, changes = apply_order_update(old, with_items(old, **{"1": "inProgress"}), NOW, cause="simulator")
    assert [c.cause for c in changes] == ["simulator", "derived"]


# --------------------------------------------------------------------------- terminal orders


@pytest.mark.parametrize("state", sorted(TERMINAL_ORDER_STATES))
def test_terminal_order_accepts_note_append(state: str) -> None:
    old = order(state, ("1", "completed"), note=[{"text": "first"}], completionDate="2024-04-02")
    new = copy.deepcopy(old)
    new["note"].append({"text": "second"})
    doc, changes = apply_order_update(old, new, NOW)
    assert changes == []
    assert doc["note"] == [{"text": "first"}, {"text": "second"}]
    assert doc["completionDate"] == "2024-04-02"


def test_terminal_order_note_append_without_prior_notes() -> None:
    old = order("completed")
    new = copy.deepcopy(old)
    new["note"] = [{"text": "late remark"}]
    doc, _ = apply_order_update(old, new, NOW)
    assert doc["note"] == [{"text": "late remark"}]


@pytest.mark.parametrize(
    "edit",
    [
        lambda d: d.update(description="changed"),
        lambda d: d["note"].__setitem__(0, {"text": "rewritten"}),
        lambda d: d["note"].insert(0, {"text": "prepended"}),
        lambda d: d["note"].pop(),
        lambda d: d["orderItem"][0].update(quantity=7),
        lambda d: d["orderItem"].append({"id": "9"}),
        lambda d: d.update(completionDate="2030-01-01T00:00:00Z"),
    ],
    ids=["field", "note-edit", "note-prepend", "note-remove", "item-edit", "item-add", "date"],
)
def test_terminal_order_rejects_other_edits(edit: Any) -> None:
    old = order("completed", ("1", "completed"), note=[{"text": "first"}])
    new = copy.deepcopy(old)
    edit(new)
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, new, NOW)
    assert isinstance(exc.value, RuleViolation)


# --------------------------------------------------------------------------- items add/remove


def test_added_item_defaults_to_acknowledged() -> None:
    old = order("inProgress", ("1", "inProgress"))
    new = copy.deepcopy(old)
    new["orderItem"].append({"id": "2", "action": "add"})
    doc, changes = apply_order_update(old, new, NOW)
    assert doc["orderItem"][1]["state"] == "acknowledged"
    assert changes == [StateChange("orderItem", "2", None, "acknowledged", "create")]


def test_added_item_explicit_acknowledged_ok() -> None:
    old = order("acknowledged")
    new = copy.deepcopy(old)
    new["orderItem"] = [{"id": "1", "state": "acknowledged"}]
    doc, _ = apply_order_update(old, new, NOW)
    assert doc["state"] == "acknowledged"


def test_added_item_in_other_state_is_refused() -> None:
    old = order("inProgress", ("1", "inProgress"))
    new = copy.deepcopy(old)
    new["orderItem"].append({"id": "2", "state": "inProgress"})
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, new, NOW)
    assert isinstance(exc.value, RuleViolation)


def test_item_removal_allowed_while_acknowledged() -> None:
    old = order("acknowledged", ("1", "acknowledged"), ("2", "acknowledged"))
    new = copy.deepcopy(old)
    del new["orderItem"][1]
    doc, changes = apply_order_update(old, new, NOW)
    assert [i["id"] for i in doc["orderItem"]] == ["1"]
    assert changes == []


def test_item_removal_leaving_only_terminal_items_derives() -> None:
    old = order("acknowledged", ("1", "rejected"), ("2", "acknowledged"))
    new = copy.deepcopy(old)
    del new["orderItem"][1]
    doc, changes = apply_order_update(old, new, NOW)
    assert doc["state"] == "rejected"
    assert order_steps(changes) == [("acknowledged", "rejected", "derived")]


@pytest.mark.parametrize("state", ["pending", "held", "inProgress", ASSESSING])
def test_item_removal_refused_after_acknowledged(state: str) -> None:
    old = order(state, ("1", "acknowledged"), ("2", "acknowledged"))
    new = copy.deepcopy(old)
    del new["orderItem"][1]
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, new, NOW)
    assert isinstance(exc.value, RuleViolation)
    assert f"cannot be removed once the order is {state}" in exc.value.message


@pytest.mark.parametrize(
    "items",
    [[{"state": "acknowledged"}], [{"id": "1"}, {"id": "1"}]],
    ids=["missing-id", "duplicate-id"],
)
def test_bad_item_ids_are_400(items: list[dict[str, Any]]) -> None:
    old = order("acknowledged")
    new = copy.deepcopy(old)
    new["orderItem"] = items
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, new, NOW)
    assert isinstance(exc.value, MalformedOrder)


# --------------------------------------------------------------------------- unknown values


@pytest.mark.parametrize("bad", ["bogus", "Completed", None, 3])
def test_unknown_order_state_is_400(bad: Any) -> None:
    old = order("acknowledged")
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, with_state(old, bad), NOW)
    assert isinstance(exc.value, MalformedOrder)
    assert not isinstance(exc.value, InvalidTransition)
    assert "acknowledged" in exc.value.message and "partial" in exc.value.message


@pytest.mark.parametrize("bad", ["bogus", "partial"])
def test_unknown_item_state_is_400(bad: str) -> None:
    old = order("inProgress", ("1", "inProgress"))
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, with_items(old, **{"1": bad}), NOW)
    assert isinstance(exc.value, MalformedOrder)
    assert "'1'" in exc.value.message


def test_unknown_state_on_terminal_order_is_400() -> None:
    old = order("completed")
    with pytest.raises(LifecycleError) as exc:
        apply_order_update(old, with_state(old, "bogus"), NOW)
    assert isinstance(exc.value, MalformedOrder)


def test_inputs_not_mutated() -> None:
    old = order("acknowledged", ("1", "acknowledged"))
    new = with_items(old, **{"1": "inProgress"})
    old_snapshot, new_snapshot = copy.deepcopy(old), copy.deepcopy(new)
    doc, _ = apply_order_update(old, new, NOW)
    assert old == old_snapshot and new == new_snapshot
    assert doc["orderItem"] is not new["orderItem"]


# --------------------------------------------------------------------------- delete


@pytest.mark.parametrize("state", ORDER_STATES)
def test_check_order_deletable(state: str) -> None:
    doc = order(state)
    if state in UNDELETABLE_ORDER_STATES:
        with pytest.raises(LifecycleError) as exc:
            check_order_deletable(doc)
        assert isinstance(exc.value, RuleViolation)
        assert exc.value.message == f"resourceOrder 01HORDER is {state}; cancel it instead"
    else:
        check_order_deletable(doc)


# --------------------------------------------------------------------------- cancellation


@pytest.mark.parametrize("start", ["acknowledged", "pending", "held", "inProgress"])
def test_cancel_order_done(start: str) -> None:
    old = order(start, ("1", "completed"), ("2", "inProgress"), ("3", "failed"), ("4", "held"))
    snapshot = copy.deepcopy(old)
    out = cancel_order(old, NOW)
    assert old == snapshot
    assert out.cancel_state == "done" and out.error_message is None
    assert out.order["state"] == "cancelled"
    assert out.order["completionDate"] == NOW
    assert [i["state"] for i in out.order["orderItem"]] == [
        "completed",
        "cancelled",
        "failed",
        "cancelled",
    ]
    assert out.order_changes == [
        StateChange("resourceOrder", None, start, ASSESSING, "cancellation"),
        StateChange("resourceOrder", None, ASSESSING, "pendingCancellation", "cancellation"),
        StateChange("orderItem", "2", "inProgress", "cancelled", "cancellation"),
        StateChange("orderItem", "4", "held", "cancelled", "cancellation"),
        StateChange("resourceOrder", None, "pendingCancellation", "cancelled", "cancellation"),
    ]
    # every order step is a legal transition of the table
    for c in out.order_changes:
        if c.entity == "resourceOrder":
            assert allowed_order_transition(c.from_state or "", c.to_state)


def test_cancel_order_without_items() -> None:
    out = cancel_order({"id": "X", "state": "acknowledged"}, NOW)
    assert out.cancel_state == "done"
    assert len(out.order_changes) == 3
    assert "orderItem" not in out.order


@pytest.mark.parametrize("start", [*sorted(TERMINAL_ORDER_STATES), ASSESSING, "pendingCancellation"])
def test_cancel_order_refused(start: str) -> None:
    old = order(start, ("1", "completed"))
    out = cancel_order(old, NOW)
    assert out.cancel_state == "terminatedWithError"
    assert out.order == old and out.order is not old
    assert out.order_changes == []
    assert out.error_message and "01HORDER" in out.error_message and start in out.error_message
    if start in TERMINAL_ORDER_STATES:
        assert out.error_message == f"resourceOrder 01HORDER is {start} and cannot be cancelled"
