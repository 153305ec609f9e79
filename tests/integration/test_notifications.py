"""Hub, events and listeners through HTTP: what each operation announces, to whom, in what shape."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.receiver import Receiver
from tmfserver.app import create_app
from tmfserver.notify.dispatcher import Dispatcher
from tmfserver.services.background import make_dispatcher
from tmfserver.services.orders import run_due_cancellations
from tmfserver.settings import Settings
from tmfserver.store.models import InboxEvent

from ._notify import (
    BASE,
    CANCELS,
    CARTS,
    ORDER_API,
    ORDERS,
    check_envelope,
    create,
    deliveries,
    drain,
    of_resource,
    patch,
    subscribe,
    summary,
)

CREATE, AVC, STATE, DELETE, INFO = (
    "Create",
    "AttributeValueChange",
    "StateChange",
    "Delete",
    "InformationRequired",
)


def ro(kind: str) -> str:
    return f"ResourceOrder{kind}Event"


def cro(kind: str) -> str:
    return f"CancelResourceOrder{kind}Event"


def sc(kind: str) -> str:
    return f"ShoppingCart{kind}Event"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


@pytest.fixture
def dispatcher(app) -> Iterator[Dispatcher]:
    instance = make_dispatcher(app.deps)
    yield instance
    instance.stop()


def delivered(dispatcher: Dispatcher, receiver: Receiver) -> list[tuple]:
    drain(dispatcher)
    return summary(receiver.events)


# --------------------------------------------------------------------------- hub


@pytest.mark.parametrize("api", ["TMF652", "TMF663"])
def test_register_and_unregister(client, api: str, receiver: Receiver) -> None:
    query = (
        "eventType=ResourceOrderStateChangeEvent" if api == "TMF652" else "eventType=ShoppingCartCreateEvent"
    )
    response = client.post(f"{BASE[api]}/hub", json={"callback": receiver.url, "query": query})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "callback", "query"}
    assert body["callback"] == receiver.url and body["query"] == query and body["id"]
    assert response.headers["Location"].endswith(f"{BASE[api]}/hub/{body['id']}")

    assert client.delete(f"{BASE[api]}/hub/{body['id']}").status_code == 204
    again = client.delete(f"{BASE[api]}/hub/{body['id']}")
    assert again.status_code == 404, again.text
    assert again.json()["status"] == "404"
    # Subscriptions are per API: an id of the other API's hub is unknown here.
    other = subscribe(client, receiver.url, api="TMF663" if api == "TMF652" else "TMF652")
    assert client.delete(f"{BASE[api]}/hub/{other['id']}").status_code == 404


@pytest.mark.parametrize("api", ["TMF652", "TMF663"])
def test_get_on_a_subscription_is_not_offered(client, api: str, receiver: Receiver) -> None:
    # The v4 documents define only DELETE on /hub/{id}; GET is a 405 naming what is allowed.
    body = subscribe(client, receiver.url, api=api)
    response = client.get(f"{BASE[api]}/hub/{body['id']}")
    assert response.status_code == 405
    assert response.headers["Allow"] == "DELETE"
    assert response.json()["status"] == "405"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"query": "eventType=ResourceOrderCreateEvent"},
        {"callback": "ftp://127.0.0.1/listener"},
        {"callback": "file:///etc/passwd"},
        {"callback": "not a url"},
        {"callback": "http:///listener"},
        {"callback": "http://127.0.0.1:9/listener", "query": "event..state=x"},
        {"callback": "http://127.0.0.1:9/listener", "query": "eventType.regex=(unclosed"},
        {"callback": "http://127.0.0.1:9/listener", "query": "orderDate.gt=yesterday"},
        {"callback": "http://127.0.0.1:9/listener", "query": 42},
        {"callback": 7},
    ],
)
def test_bad_registration_is_400(client, body: dict) -> None:
    response = client.post(f"{ORDER_API}/hub", json=body)
    assert response.status_code == 400, (body, response.text)
    assert response.json()["status"] == "400"
    assert deliveries(client.app) == []


@pytest.fixture
def strict_app(settings: Settings):
    """A second app on the same database that refuses private callbacks (the production default)."""
    app = create_app(settings.model_copy(update={"callback_allow_private": False}))
    yield app
    app.deps.engine.dispose()


@pytest.mark.parametrize(
    "callback",
    [
        "http://127.0.0.1:8080/listener",
        "http://localhost/listener",
        "http://[::1]/listener",
        "http://10.1.2.3/listener",
        "https://192.168.0.10/listener",
        "http://172.16.5.4/listener",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/listener",
    ],
)
def test_private_callbacks_are_refused_unless_allowed(client, strict_app, callback: str) -> None:
    with strict_app.test_client() as strict:
        response = strict.post(f"{ORDER_API}/hub", json={"callback": callback})
    assert response.status_code == 400, response.text
    assert "private" in response.json()["message"] or "local" in response.json()["message"]
    # The test app allows them (TMF_CALLBACK_ALLOW_PRIVATE=true).
    assert client.post(f"{ORDER_API}/hub", json={"callback": callback}).status_code == 201


def test_private_callback_is_rechecked_at_delivery(app, client, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    create(client, ORDERS, {"description": "x"})
    strict = Dispatcher(app.deps.sessions, allow_private=False)
    try:
        assert strict.run_once() == 1
    finally:
        strict.stop()
    assert receiver.events == []
    [row] = deliveries(app)
    assert row.state == "pending" and row.attempts == 1 and "private" in row.last_error


def test_unsubscribed_callback_gets_nothing_more(client, dispatcher, receiver: Receiver) -> None:
    body = subscribe(client, receiver.url)
    create(client, ORDERS, {"description": "one"})
    assert client.delete(f"{ORDER_API}/hub/{body['id']}").status_code == 204
    create(client, ORDERS, {"description": "two"})
    assert delivered(dispatcher, receiver) == [(ro(CREATE), "acknowledged", None)]


# --------------------------------------------------------------------------- ResourceOrder events


def test_order_lifecycle_events(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"description": "no items"})
    patch(client, f"{ORDERS}/{order['id']}", {"description": "changed"})
    patch(client, f"{ORDERS}/{order['id']}", {"externalId": "ext-1", "priority": 1, "description": "again"})
    patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress"})
    patch(client, f"{ORDERS}/{order['id']}", {"state": "completed"})
    assert client.delete(f"{ORDERS}/{order['id']}").status_code == 204

    events = delivered(dispatcher, receiver)
    fields = [set(path.split(",")) for kind, _state, path in events if kind == ro(AVC)]
    assert fields == [{"description"}, {"externalId", "priority", "description"}]
    assert [(kind, state) for kind, state, _path in events] == [
        (ro(CREATE), "acknowledged"),
        (ro(AVC), "acknowledged"),
        (ro(AVC), "acknowledged"),
        (ro(STATE), "inProgress"),
        (ro(STATE), "completed"),
        (ro(DELETE), "completed"),
    ]
    # Every event carries the order as stored at that moment, and a distinct eventId.
    assert len({e["eventId"] for e in receiver.events}) == len(receiver.events)
    assert receiver.events[1]["event"]["resourceOrder"]["description"] == "changed"
    assert receiver.events[-2]["event"]["resourceOrder"]["completionDate"]


def test_state_and_attribute_change_in_one_patch(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"orderItem": [{"id": "1", "action": "add"}]})
    patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress", "description": "go"})
    events = delivered(dispatcher, receiver)
    assert events[1:] == [(ro(AVC), "inProgress", "description"), (ro(STATE), "inProgress", None)]


def test_item_change_is_an_attribute_change_of_the_order(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"orderItem": [{"id": "1", "action": "add"}]})
    order = patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress"})
    items = [{**order["orderItem"][0], "state": "inProgress"}]
    patch(client, f"{ORDERS}/{order['id']}", {"orderItem": items})
    events = delivered(dispatcher, receiver)
    assert events[-1] == (ro(AVC), "inProgress", "orderItem")


def test_no_event_when_nothing_changes(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"description": "same"})
    patch(client, f"{ORDERS}/{order['id']}", {"description": "same"})
    assert [kind for kind, _s, _p in delivered(dispatcher, receiver)] == [ro(CREATE)]


@pytest.mark.parametrize("state", ["pending", "held"])
def test_information_required_when_order_waits(client, dispatcher, receiver: Receiver, state: str) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"orderItem": [{"id": "1", "action": "add"}]})
    patch(client, f"{ORDERS}/{order['id']}", {"state": state})
    patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress"})
    assert delivered(dispatcher, receiver) == [
        (ro(CREATE), "acknowledged", None),
        (ro(STATE), state, None),
        (ro(INFO), state, None),
        (ro(STATE), "inProgress", None),
    ]


# --------------------------------------------------------------------------- cancellation


def test_cancellation_walks_the_order_and_finishes_the_request(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"orderItem": [{"id": "1", "action": "add"}, {"id": "2", "action": "add"}]})
    patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress"})
    request = create(client, CANCELS, {"resourceOrder": {"id": order["id"]}})
    assert request["state"] == "done"
    drain(dispatcher)

    order_events = summary(of_resource(receiver.events, order["id"]))
    assert order_events == [
        (ro(CREATE), "acknowledged", None),
        (ro(STATE), "inProgress", None),
        (ro(AVC), "cancelled", "orderItem"),
        (ro(STATE), "assessingCancellation", None),
        (ro(STATE), "pendingCancellation", None),
        (ro(STATE), "cancelled", None),
    ]
    cancel_events = summary(of_resource(receiver.events, request["id"]))
    # Created and finished in one transaction: the Create carries the stored request, then its state change.
    assert cancel_events == [(cro(CREATE), "done", None), (cro(STATE), "done", None)]
    assert len(receiver.events) == len(order_events) + len(cancel_events)


@pytest.mark.parametrize("path", [["rejected"], ["inProgress", "completed"], ["assessingCancellation"]])
def test_failed_cancellation_requires_information(client, dispatcher, receiver: Receiver, path: list) -> None:
    order = create(client, ORDERS, {"description": "no items"})
    for state in path:
        patch(client, f"{ORDERS}/{order['id']}", {"state": state})
    subscribe(client, receiver.url)
    request = create(client, CANCELS, {"resourceOrder": {"id": order["id"]}})
    assert request["state"] == "terminatedWithError"
    assert delivered(dispatcher, receiver) == [
        (cro(CREATE), "terminatedWithError", None),
        (cro(STATE), "terminatedWithError", None),
        (cro(INFO), "terminatedWithError", None),
    ]
    assert receiver.events[-1]["event"]["cancelResourceOrder"]["errorMessage"]


def test_scheduled_cancellation_announces_when_it_runs(app, client, dispatcher, receiver: Receiver) -> None:
    order = create(client, ORDERS, {"description": "later"})
    subscribe(client, receiver.url)
    due = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    request = create(client, CANCELS, {"resourceOrder": {"id": order["id"]}, "requestedCancellationDate": due})
    assert delivered(dispatcher, receiver) == [(cro(CREATE), "acknowledged", None)]

    after = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert run_due_cancellations(app.deps, after) == 1
    drain(dispatcher)
    assert summary(of_resource(receiver.events, request["id"])) == [
        (cro(CREATE), "acknowledged", None),
        (cro(STATE), "done", None),
    ]
    assert [kind for kind, _s, _p in summary(of_resource(receiver.events, order["id"]))] == [
        ro(STATE),
        ro(STATE),
        ro(STATE),
    ]


# --------------------------------------------------------------------------- queries


def test_subscription_queries_filter_events(client, dispatcher) -> None:
    receivers = {name: Receiver() for name in ("all", "states", "completed", "both", "cancel", "cart", "none")}
    try:
        subscribe(client, receivers["all"].url)
        subscribe(client, receivers["states"].url, "eventType=ResourceOrderStateChangeEvent")
        subscribe(client, receivers["completed"].url, "event.resourceOrder.state=completed")
        subscribe(
            client,
            receivers["both"].url,
            "?eventType=ResourceOrderStateChangeEvent&event.resourceOrder.state=completed",
        )
        subscribe(client, receivers["cancel"].url, "eventType.regex=^CancelResourceOrder")
        subscribe(client, receivers["cart"].url, api="TMF663")
        subscribe(client, receivers["none"].url, "event.resourceOrder.externalId=nobody")

        order = create(client, ORDERS, {"description": "q"})
        patch(client, f"{ORDERS}/{order['id']}", {"state": "inProgress"})
        patch(client, f"{ORDERS}/{order['id']}", {"state": "completed"})
        patch(client, f"{ORDERS}/{order['id']}", {"note": [{"text": "after"}]})
        request = create(client, CANCELS, {"resourceOrder": {"id": order["id"]}})
        drain(dispatcher)

        got = {name: summary(r.events) for name, r in receivers.items()}
        everything = receivers["all"].events
        # Order is kept per resource, not across resources.
        assert [k for k, _s, _p in summary(of_resource(everything, order["id"]))] == [
            ro(CREATE),
            ro(STATE),
            ro(STATE),
            ro(AVC),
        ]
        assert [k for k, _s, _p in summary(of_resource(everything, request["id"]))] == [
            cro(CREATE),
            cro(STATE),
            cro(INFO),
        ]
        assert len(everything) == 7
        assert got["states"] == [(ro(STATE), "inProgress", None), (ro(STATE), "completed", None)]
        assert got["completed"] == [(ro(STATE), "completed", None), (ro(AVC), "completed", "note")]
        assert got["both"] == [(ro(STATE), "completed", None)]
        assert [k for k, _s, _p in got["cancel"]] == [cro(CREATE), cro(STATE), cro(INFO)]
        assert got["cart"] == []
        assert got["none"] == []
    finally:
        for r in receivers.values():
            r.close()


# --------------------------------------------------------------------------- ShoppingCart


def test_shopping_cart_events(client, dispatcher, receiver: Receiver) -> None:
    subscribe(client, receiver.url, api="TMF663")
    order_receiver = Receiver()
    try:
        subscribe(client, order_receiver.url)
        cart = create(client, CARTS, {"cartItem": [{"id": "1", "quantity": 1, "action": "add"}]})
        patch(client, f"{CARTS}/{cart['id']}", {"description": "mine"})
        patch(client, f"{CARTS}/{cart['id']}", {"contactMedium": [{"mediumType": "email"}], "description": "x"})
        assert client.delete(f"{CARTS}/{cart['id']}").status_code == 204
        drain(dispatcher)
        assert order_receiver.events == []
    finally:
        order_receiver.close()
    events = summary(receiver.events)
    assert [kind for kind, _s, _p in events] == [sc(CREATE), sc(AVC), sc(AVC), sc(DELETE)]
    assert events[1][2] == "description"
    assert set(events[2][2].split(",")) == {"contactMedium", "description"}
    assert receiver.events[0]["event"]["shoppingCart"]["id"] == cart["id"]


# --------------------------------------------------------------------------- listener


def _received(app, event_id: str) -> list[InboxEvent]:
    with app.deps.sessions() as session:
        return list(session.scalars(select(InboxEvent).where(InboxEvent.event_id == event_id)))


def test_listener_stores_a_valid_event_once(app, client, dispatcher, receiver: Receiver) -> None:
    # A real event of this server, delivered to its own listener.
    subscribe(client, receiver.url)
    create(client, ORDERS, {"description": "loop"})
    drain(dispatcher)
    [event] = receiver.events
    check_envelope(event)
    for _ in range(2):
        response = client.post(f"{ORDER_API}/listener/resourceOrderCreateEvent", json=event)
        assert response.status_code == 201, response.text
    [row] = _received(app, event["eventId"])
    assert row.api == "TMF652" and row.event_type == ro(CREATE) and row.payload == event


def test_cart_listener(app, client) -> None:
    event = {
        "eventId": "cart-evt-1",
        "eventTime": "2024-01-01T00:00:00.000Z",
        "eventType": sc(DELETE),
        "event": {"shoppingCart": {"id": "c1"}},
    }
    for _ in range(3):
        response = client.post("/tmf-api/shoppingCart/v4/listener/shoppingCartDeleteEvent", json=event)
        assert response.status_code == 201, response.text
    [row] = _received(app, "cart-evt-1")
    assert row.api == "TMF663"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"eventType": "ResourceOrderCreateEvent", "event": {"resourceOrder": {"id": "1"}}},  # no eventId
        {"eventId": 12, "eventType": "ResourceOrderCreateEvent"},
        {"eventId": "e1", "eventTime": "yesterday", "eventType": "ResourceOrderCreateEvent"},
        {"eventId": "e2", "event": {"resourceOrder": "not an object"}},
        {"eventId": "e3", "event": "nope"},
    ],
)
def test_listener_rejects_invalid_events(app, client, body: object) -> None:
    response = client.post(f"{ORDER_API}/listener/resourceOrderCreateEvent", json=body)
    assert response.status_code == 400, (body, response.text)
    with app.deps.sessions() as session:
        assert session.scalars(select(InboxEvent)).all() == []
