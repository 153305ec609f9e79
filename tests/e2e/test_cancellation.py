"""TMF652 CancelResourceOrder: a cancellation task processed synchronously against its order."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from ._support import (
    CANCELS,
    ORDERS,
    ULID_RE,
    UTC_MS_RE,
    assert_tmf_error,
    create_order,
    get_order,
    json_patch,
    set_item_state,
    set_order_state,
)

TWO_ITEMS = {"orderItem": [{"id": "1", "action": "add"}, {"id": "2", "action": "add"}]}


def order_in(client, state: str) -> dict:
    order = create_order(client, TWO_ITEMS)
    if state != "acknowledged":  # each of the other open states is one step from acknowledged
        response = set_order_state(client, order["id"], state)
        assert response.status_code == 200, response.text
        order = response.json()
    return order


def cancel(client, order_id: str, **extra: object):
    return client.post(CANCELS, json={"resourceOrder": {"id": order_id}, **extra})


@pytest.mark.parametrize("state", ["acknowledged", "pending", "held", "inProgress"])
def test_cancel_an_open_order(client, state: str) -> None:
    order = order_in(client, state)
    assert order["state"] == state
    response = cancel(client, order["id"], cancellationReason="changed my mind")
    assert response.status_code == 201, response.text
    request = response.json()
    assert response.headers["Location"] == request["href"]
    assert ULID_RE.match(request["id"])
    assert request["href"].endswith(f"{CANCELS}/{request['id']}")
    assert request["state"] == "done"
    assert UTC_MS_RE.match(request["effectiveCancellationDate"])
    assert request["resourceOrder"]["id"] == order["id"]
    assert request["cancellationReason"] == "changed my mind"
    assert "errorMessage" not in request

    cancelled = get_order(client, order["id"])
    assert cancelled["state"] == "cancelled"
    assert [item["state"] for item in cancelled["orderItem"]] == ["cancelled", "cancelled"]
    assert cancelled["completionDate"] == request["effectiveCancellationDate"]


def test_cancel_keeps_the_outcome_of_finished_items(client) -> None:
    order = order_in(client, "inProgress")
    order = set_item_state(client, order, "1", "inProgress").json()
    order = set_item_state(client, order, "1", "completed").json()
    assert cancel(client, order["id"]).json()["state"] == "done"
    assert [item["state"] for item in get_order(client, order["id"])["orderItem"]] == ["completed", "cancelled"]


def _terminal(client, state: str) -> dict:
    order = create_order(client, {"description": "no items"})
    path = {
        "rejected": ["rejected"],
        "completed": ["inProgress", "completed"],
        "failed": ["inProgress", "failed"],
        "partial": ["inProgress", "partial"],
        "cancelled": ["assessingCancellation", "pendingCancellation", "cancelled"],
    }[state]
    for step in path:
        response = set_order_state(client, order["id"], step)
        assert response.status_code == 200, response.text
        order = response.json()
    return order


@pytest.mark.parametrize("state", ["rejected", "completed", "failed", "partial", "cancelled"])
def test_cancel_a_finished_order_ends_with_error(client, state: str) -> None:
    order = _terminal(client, state)
    response = cancel(client, order["id"])
    assert response.status_code == 201, response.text
    request = response.json()
    assert request["state"] == "terminatedWithError"
    assert isinstance(request["errorMessage"], str) and state in request["errorMessage"]
    assert "effectiveCancellationDate" not in request
    assert get_order(client, order["id"]) == order


def test_cancel_an_order_already_being_cancelled_ends_with_error(client) -> None:
    order = create_order(client, TWO_ITEMS)
    order = set_order_state(client, order["id"], "assessingCancellation").json()
    request = cancel(client, order["id"]).json()
    assert request["state"] == "terminatedWithError"
    assert get_order(client, order["id"]) == order


def test_cancel_unknown_order_is_400(client) -> None:
    body = assert_tmf_error(cancel(client, "01ARZ3NDEKTSV4RRFFQ69G5FAV"), 400)
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in body["message"]
    assert client.get(CANCELS).json() == []


@pytest.mark.parametrize(
    "body", [{}, {"cancellationReason": "x"}, {"resourceOrder": {}}, {"resourceOrder": "x"}]
)
def test_cancel_without_an_order_reference_is_400(client, body: dict) -> None:
    assert_tmf_error(client.post(CANCELS, json=body), 400)
    assert client.get(CANCELS).json() == []


def test_bad_requested_cancellation_date_is_400(client) -> None:
    order = create_order(client)
    assert_tmf_error(cancel(client, order["id"], requestedCancellationDate="tomorrow"), 400)
    assert get_order(client, order["id"]) == order


def test_future_cancellation_waits(client) -> None:
    order = order_in(client, "inProgress")
    due = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    response = cancel(client, order["id"], requestedCancellationDate=due)
    assert response.status_code == 201, response.text
    request = response.json()
    assert request["state"] == "acknowledged"
    assert request["requestedCancellationDate"] == due
    assert "effectiveCancellationDate" not in request
    assert get_order(client, order["id"]) == order


def test_past_cancellation_date_applies_now(client) -> None:
    order = order_in(client, "pending")
    response = cancel(client, order["id"], requestedCancellationDate="2020-01-01T00:00:00Z")
    assert response.json()["state"] == "done"
    assert get_order(client, order["id"])["state"] == "cancelled"


def test_server_owned_fields_of_a_cancel_request_are_ignored(client) -> None:
    order = create_order(client)
    response = cancel(client, order["id"], state="terminatedWithError", id="mine", errorMessage="x")
    request = response.json()
    assert request["id"] != "mine" and request["state"] == "done" and "errorMessage" not in request


def test_list_and_retrieve_cancel_requests(client) -> None:
    first = cancel(client, create_order(client)["id"]).json()
    second = cancel(client, _terminal(client, "completed")["id"]).json()
    listed = client.get(CANCELS)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()] == [second["id"], first["id"]]  # newest first
    assert listed.json() == [second, first]
    assert listed.headers["X-Total-Count"] == "2"
    for request in (first, second):
        fetched = client.get(f"{CANCELS}/{request['id']}")
        assert fetched.status_code == 200, fetched.text
        assert fetched.json() == request
    done = client.get(f"{CANCELS}?state=done").json()
    assert [r["id"] for r in done] == [first["id"]]
    by_order = client.get(f"{CANCELS}?resourceOrder.id={second['resourceOrder']['id']}").json()
    assert [r["id"] for r in by_order] == [second["id"]]
    assert_tmf_error(client.get(f"{CANCELS}/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)


# --------------------------------------------------------------------------- concurrency


def _race(app, *calls):
    """Run each call with its own TestClient, all released at once; returns their responses."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index: int, call) -> None:
        with app.test_client() as own:
            barrier.wait()
            results[index] = call(own)

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert all(result is not None for result in results)
    return results


def test_cancel_racing_an_item_completion_stays_consistent(app, client) -> None:
    outcomes = set()
    for _ in range(6):
        order = create_order(client, {"orderItem": [{"id": "1", "action": "add"}]})
        order = set_item_state(client, order, "1", "inProgress").json()
        assert order["state"] == "inProgress"
        cancelled, completed = _race(
            app,
            lambda c, oid=order["id"]: cancel(c, oid),
            lambda c, o=order: set_item_state(c, o, "1", "completed"),
        )
        final = get_order(client, order["id"])
        assert cancelled.status_code == 201, cancelled.text
        if cancelled.json()["state"] == "done":
            # The cancellation won: the item completion must have been refused, not applied on top.
            assert completed.status_code == 409, completed.text
            assert final["state"] == "cancelled"
            assert final["orderItem"][0]["state"] == "cancelled"
            outcomes.add("cancelled")
        else:
            assert cancelled.json()["state"] == "terminatedWithError"
            assert completed.status_code == 200, completed.text
            assert final["state"] == "completed"
            assert final["orderItem"][0]["state"] == "completed"
            outcomes.add("completed")
        assert final["completionDate"]
    assert outcomes  # at least one round ran to a verdict


def test_concurrent_note_appends_are_all_kept(app, client) -> None:
    order = create_order(client, {"note": []})
    path = f"{ORDERS}/{order['id']}"
    texts = [f"note {i}" for i in range(8)]
    responses = _race(
        app,
        *[
            lambda c, t=text: json_patch(c, path, [{"op": "add", "path": "/note/-", "value": {"text": t}}])
            for text in texts
        ],
    )
    assert [r.status_code for r in responses] == [200] * len(texts)
    stored = get_order(client, order["id"])
    assert sorted(note["text"] for note in stored["note"]) == sorted(texts)
