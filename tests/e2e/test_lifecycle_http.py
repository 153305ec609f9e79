"""The ResourceOrder / ResourceOrderItem state machines, driven through HTTP PATCH.

Every case is generated from `ORDER_TRANSITIONS` / `ITEM_TRANSITIONS`: each state is reached from
`acknowledged` along the shortest path of allowed transitions, then every other state is tried. The only
history-dependent move, `assessingCancellation` back to the state it came from, is generated separately.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

import pytest

from tmfserver.domain.lifecycle import (
    ITEM_STATES,
    ITEM_TRANSITIONS,
    ORDER_STATES,
    ORDER_TRANSITIONS,
    TERMINAL_ORDER_STATES,
    UNDELETABLE_ORDER_STATES,
)

from ._support import (
    ORDERS,
    assert_tmf_error,
    create_order,
    get_order,
    json_patch,
    set_item_state,
    set_order_state,
)

START = "acknowledged"
ASSESSING = "assessingCancellation"


def shortest_paths(table: Mapping[str, frozenset[str]]) -> dict[str, list[str]]:
    """For every state reachable from `acknowledged`: the states to walk through, in order."""
    paths: dict[str, list[str]] = {START: []}
    queue = deque([START])
    while queue:
        state = queue.popleft()
        for successor in sorted(table[state]):
            if successor not in paths:
                paths[successor] = [*paths[state], successor]
                queue.append(successor)
    return paths


ORDER_PATHS = shortest_paths(ORDER_TRANSITIONS)
ITEM_PATHS = shortest_paths(ITEM_TRANSITIONS)
# States that may enter assessment, and so may be returned to from it.
ORDER_CAME_FROM = sorted(s for s in ORDER_STATES if ASSESSING in ORDER_TRANSITIONS[s])
ITEM_CAME_FROM = sorted(s for s in ITEM_STATES if ASSESSING in ITEM_TRANSITIONS[s])


def _came_from(path: list[str]) -> str:
    """The state an entity reached `assessingCancellation` from, along `path`."""
    return ([START, *path])[-2]


def _pairs(table: Mapping[str, frozenset[str]], paths: dict[str, list[str]], allowed: bool) -> list:
    pairs = []
    for frm in table:
        way_back = {_came_from(paths[frm])} if frm == ASSESSING else set()
        for to in table:
            if to == frm:
                continue
            if (to in table[frm] or to in way_back) is allowed:
                pairs.append(pytest.param(frm, to, id=f"{frm}->{to}"))
    return pairs


def test_every_state_is_reachable() -> None:
    assert set(ORDER_PATHS) == set(ORDER_STATES)
    assert set(ITEM_PATHS) == set(ITEM_STATES)


# --------------------------------------------------------------------------- orders


def order_in(client, state: str, via: list[str] | None = None) -> dict:
    """An order without items, walked by PATCH from acknowledged to `state` (along `via` if given)."""
    order = create_order(client, {"description": "lifecycle"})
    for step in via if via is not None else ORDER_PATHS[state]:
        response = set_order_state(client, order["id"], step)
        assert response.status_code == 200, (step, response.text)
        order = response.json()
    assert order["state"] == state
    return order


@pytest.mark.parametrize(("frm", "to"), _pairs(ORDER_TRANSITIONS, ORDER_PATHS, allowed=True))
def test_allowed_order_transition(shared_client, frm: str, to: str) -> None:
    order = order_in(shared_client, frm)
    assert "completionDate" not in order
    response = set_order_state(shared_client, order["id"], to)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["state"] == to
    assert ("completionDate" in patched) is (to in TERMINAL_ORDER_STATES)
    assert get_order(shared_client, order["id"]) == patched


@pytest.mark.parametrize(("frm", "to"), _pairs(ORDER_TRANSITIONS, ORDER_PATHS, allowed=False))
def test_forbidden_order_transition(shared_client, frm: str, to: str) -> None:
    order = order_in(shared_client, frm)
    body = assert_tmf_error(set_order_state(shared_client, order["id"], to), 409)
    assert f"'{frm}'" in body["message"] and f"'{to}'" in body["message"], body["message"]
    assert get_order(shared_client, order["id"]) == order


@pytest.mark.parametrize("came_from", ORDER_CAME_FROM)
def test_order_returns_from_assessment_only_to_where_it_came_from(shared_client, came_from: str) -> None:
    order = order_in(shared_client, ASSESSING, via=[*ORDER_PATHS[came_from], ASSESSING])
    for other in ORDER_CAME_FROM:
        if other != came_from:
            body = assert_tmf_error(set_order_state(shared_client, order["id"], other), 409)
            assert f"'{ASSESSING}'" in body["message"] and f"'{other}'" in body["message"]
    response = set_order_state(shared_client, order["id"], came_from)
    assert response.status_code == 200, response.text
    assert response.json()["state"] == came_from
    assert "completionDate" not in response.json()


def test_completion_date_is_the_moment_of_finishing(shared_client) -> None:
    order = order_in(shared_client, "inProgress")
    finished = set_order_state(shared_client, order["id"], "completed").json()
    assert finished["completionDate"] >= order["orderDate"]


def test_order_cannot_complete_with_open_items(shared_client) -> None:
    order = create_order(shared_client, {"orderItem": [{"id": "1"}]})
    assert set_order_state(shared_client, order["id"], "inProgress").status_code == 200
    body = assert_tmf_error(set_order_state(shared_client, order["id"], "completed"), 409)
    assert "'1'" in body["message"]


@pytest.mark.parametrize("state", ["cancelled", "rejected"])
def test_cancelling_or_rejecting_an_order_closes_its_items(shared_client, state: str) -> None:
    order = create_order(shared_client, {"orderItem": [{"id": "1"}, {"id": "2"}]})
    path = ORDER_PATHS[state]
    for step in path:
        response = set_order_state(shared_client, order["id"], step)
        assert response.status_code == 200, response.text
    assert [item["state"] for item in get_order(shared_client, order["id"])["orderItem"]] == [state, state]


@pytest.mark.parametrize("state", sorted(TERMINAL_ORDER_STATES))
def test_terminal_order_accepts_only_appended_notes(shared_client, state: str) -> None:
    order = order_in(shared_client, state)
    path = f"{ORDERS}/{order['id']}"
    appended = json_patch(shared_client, path, [{"op": "add", "path": "/note", "value": [{"text": "late"}]}])
    assert appended.status_code == 200, appended.text
    appended_again = json_patch(
        shared_client, path, [{"op": "add", "path": "/note/-", "value": {"text": "later"}}]
    )
    assert appended_again.status_code == 200, appended_again.text
    order = appended_again.json()
    assert [n["text"] for n in order["note"]] == ["late", "later"]
    edits = [
        [{"op": "add", "path": "/description", "value": "changed"}],
        [{"op": "replace", "path": "/note/0/text", "value": "rewritten"}],
        [{"op": "remove", "path": "/note/0"}],
        [{"op": "add", "path": "/note/0", "value": {"text": "prepended"}}],
        [{"op": "add", "path": "/orderItem", "value": [{"id": "1"}]}],
        [{"op": "remove", "path": "/completionDate"}],
    ]
    for edit in edits:
        assert_tmf_error(json_patch(shared_client, path, edit), 409)
    assert get_order(shared_client, order["id"]) == order


@pytest.mark.parametrize("state", ORDER_STATES)
def test_delete_only_without_work_in_flight(shared_client, state: str) -> None:
    order = order_in(shared_client, state)
    response = shared_client.delete(f"{ORDERS}/{order['id']}")
    if state in UNDELETABLE_ORDER_STATES:
        body = assert_tmf_error(response, 409)
        assert state in body["message"]
        assert get_order(shared_client, order["id"]) == order
    else:
        assert response.status_code == 204, response.text
        assert_tmf_error(shared_client.get(f"{ORDERS}/{order['id']}"), 404)


def test_undeletable_states_are_the_in_flight_ones() -> None:
    assert {"pending", "held", "inProgress", ASSESSING, "pendingCancellation"} == UNDELETABLE_ORDER_STATES


# --------------------------------------------------------------------------- items

# The item under test is "1"; item "2" stays acknowledged so the order never becomes final through its
# items (a final order would refuse every item change for that reason instead).


def item_in(client, state: str, via: list[str] | None = None) -> dict:
    order = create_order(client, {"orderItem": [{"id": "1", "action": "add"}, {"id": "2", "action": "add"}]})
    for step in via if via is not None else ITEM_PATHS[state]:
        response = set_item_state(client, order, "1", step)
        assert response.status_code == 200, (step, response.text)
        order = response.json()
    assert [item["state"] for item in order["orderItem"]] == [state, START]
    return order


@pytest.mark.parametrize(("frm", "to"), _pairs(ITEM_TRANSITIONS, ITEM_PATHS, allowed=True))
def test_allowed_item_transition(shared_client, frm: str, to: str) -> None:
    order = item_in(shared_client, frm)
    response = set_item_state(shared_client, order, "1", to)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert [item["state"] for item in patched["orderItem"]] == [to, START]
    assert patched["orderItem"][0]["action"] == "add"
    assert patched["state"] not in TERMINAL_ORDER_STATES
    assert get_order(shared_client, order["id"]) == patched


@pytest.mark.parametrize(("frm", "to"), _pairs(ITEM_TRANSITIONS, ITEM_PATHS, allowed=False))
def test_forbidden_item_transition(shared_client, frm: str, to: str) -> None:
    order = item_in(shared_client, frm)
    body = assert_tmf_error(set_item_state(shared_client, order, "1", to), 409)
    assert f"'{frm}'" in body["message"] and f"'{to}'" in body["message"], body["message"]
    assert get_order(shared_client, order["id"]) == order


@pytest.mark.parametrize("came_from", ITEM_CAME_FROM)
def test_item_returns_from_assessment_only_to_where_it_came_from(shared_client, came_from: str) -> None:
    order = item_in(shared_client, ASSESSING, via=[*ITEM_PATHS[came_from], ASSESSING])
    for other in ITEM_CAME_FROM:
        if other != came_from:
            assert_tmf_error(set_item_state(shared_client, order, "1", other), 409)
    response = set_item_state(shared_client, order, "1", came_from)
    assert response.status_code == 200, response.text
    assert response.json()["orderItem"][0]["state"] == came_from


def test_unknown_item_state_is_400(shared_client) -> None:
    order = item_in(shared_client, START)
    assert_tmf_error(set_item_state(shared_client, order, "1", "done"), 400)


def test_added_item_must_start_acknowledged(shared_client) -> None:
    order = item_in(shared_client, START)
    extended = {"orderItem": [*order["orderItem"], {"id": "3", "state": "inProgress"}]}
    response = shared_client.patch(f"{ORDERS}/{order['id']}", json=extended)
    assert_tmf_error(response, 409)
    extended["orderItem"][-1] = {"id": "3"}
    response = shared_client.patch(f"{ORDERS}/{order['id']}", json=extended)
    assert response.status_code == 200, response.text
    assert response.json()["orderItem"][-1] == {"id": "3", "state": START}


# --------------------------------------------------------------------------- derived order state


def test_first_started_item_moves_the_order_to_in_progress(shared_client) -> None:
    order = item_in(shared_client, START)
    assert order["state"] == START
    order = set_item_state(shared_client, order, "1", "inProgress").json()
    assert order["state"] == "inProgress"
    order = set_item_state(shared_client, order, "2", "inProgress").json()
    assert order["state"] == "inProgress"


@pytest.mark.parametrize(
    ("finals", "expected"),
    [
        (("completed", "completed"), "completed"),
        (("completed", "failed"), "partial"),
        (("failed", "failed"), "failed"),
    ],
)
def test_finished_items_finish_the_order(shared_client, finals: tuple[str, str], expected: str) -> None:
    order = item_in(shared_client, START)
    for item_id in ("1", "2"):
        order = set_item_state(shared_client, order, item_id, "inProgress").json()
    first = set_item_state(shared_client, order, "1", finals[0])
    assert first.status_code == 200, first.text
    assert first.json()["state"] == "inProgress"  # item 2 is still open
    assert "completionDate" not in first.json()
    last = set_item_state(shared_client, first.json(), "2", finals[1])
    assert last.status_code == 200, last.text
    assert last.json()["state"] == expected
    assert "completionDate" in last.json()
    assert get_order(shared_client, order["id"])["state"] == expected
