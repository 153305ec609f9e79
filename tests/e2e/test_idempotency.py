"""`Idempotency-Key` on the POSTs that create (services/idempotency.py, docs/api.md "Safe retries"): a retry
with the same key and body gets the first response and creates nothing; another body 422; a bad key 400; keys
are per client with authentication on; an expired key is new again and purged."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select
from sqlalchemy.util import await_only

from tests.conftest import _empty_tables
from tmfserver.app import create_app
from tmfserver.services.background import BackgroundWork
from tmfserver.services.idempotency import purge_expired
from tmfserver.store.idempotency import IdempotencyRepository
from tmfserver.store.models import IdempotencyKey, OutboxEvent, ResourceOrder, ShoppingCart, Subscription

from ._support import CANCELS, CART_API, CARTS, KIT_ORDER, ORDER_API, ORDERS, assert_tmf_error

V5_CARTS = "/tmf-api/shoppingCart/v5/shoppingCart"
CALLBACK = "http://127.0.0.1:9/listener"
RW_KEY_A = "rw-aaaaaaaaaaaaaaaa"
RW_KEY_B = "rw-bbbbbbbbbbbbbbbb"


def _count(app, model) -> int:
    with app.deps.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(model))


def _key(value: str | bytes) -> dict:
    return {"Idempotency-Key": value}


def _same_response(first, second) -> None:
    assert (second.status_code, second.json()) == (first.status_code, first.json())
    for header in ("location", "etag"):
        assert second.headers.get(header) == first.headers.get(header), header


def test_a_retry_gets_the_first_response_and_creates_nothing(client, app) -> None:
    first = client.post(ORDERS, json=KIT_ORDER, headers=_key("order-1"))
    assert first.status_code == 201, first.text
    # The order changes meanwhile: the replay is still the first response, as it was sent.
    patched = client.patch(
        f"{ORDERS}/{first.json()['id']}",
        json={"description": "changed"},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.status_code == 200, patched.text
    again = client.post(ORDERS, json=KIT_ORDER, headers=_key("order-1"))
    _same_response(first, again)
    assert "description" not in again.json()
    assert client.get(ORDERS).headers["X-Total-Count"] == "1"
    assert _count(app, IdempotencyKey) == 1
    # One create event and one change event: the replay announced nothing.
    assert _count(app, OutboxEvent) == 2


def test_a_quoted_key_is_the_same_key(client) -> None:
    """The draft's form is a structured-field string; the bare value is accepted as the same key."""
    first = client.post(ORDERS, json=KIT_ORDER, headers=_key('"k-1"'))
    again = client.post(ORDERS, json=KIT_ORDER, headers=_key("k-1"))
    _same_response(first, again)
    assert client.get(ORDERS).headers["X-Total-Count"] == "1"


def test_the_same_key_with_another_body_is_422(client, app) -> None:
    assert client.post(ORDERS, json=KIT_ORDER, headers=_key("order-2")).status_code == 201
    body = assert_tmf_error(
        client.post(ORDERS, json={**KIT_ORDER, "description": "other"}, headers=_key("order-2")), 422
    )
    assert "Idempotency-Key" in body["message"]
    # The same key on another path is another request, too.
    assert_tmf_error(client.post(CARTS, json=KIT_ORDER, headers=_key("order-2")), 422)
    assert client.get(ORDERS).headers["X-Total-Count"] == "1"
    assert _count(app, ShoppingCart) == 0


def test_member_order_does_not_change_the_fingerprint(client) -> None:
    first = client.post(
        ORDERS, json={"description": "d", "orderItem": KIT_ORDER["orderItem"]}, headers=_key("o")
    )
    again = client.post(
        ORDERS, json={"orderItem": KIT_ORDER["orderItem"], "description": "d"}, headers=_key("o")
    )
    _same_response(first, again)


def test_without_the_header_every_post_creates(client) -> None:
    ids = {client.post(ORDERS, json=KIT_ORDER).json()["id"] for _ in range(3)}
    assert len(ids) == 3
    assert client.get(ORDERS).headers["X-Total-Count"] == "3"


@pytest.mark.parametrize(
    "value",
    ["x" * 256, "caf\u00e9".encode("latin-1"), "tab\there", '""'],
    ids=["256 characters", "not ASCII", "control character", "empty string"],
)
def test_a_bad_key_is_400(client, value: str | bytes) -> None:
    body = assert_tmf_error(client.post(ORDERS, json=KIT_ORDER, headers=_key(value)), 400)
    assert "Idempotency-Key" in body["message"]
    assert client.get(ORDERS).headers["X-Total-Count"] == "0"


def test_a_key_of_255_characters_is_accepted(client) -> None:
    key = "k" * 255
    first = client.post(ORDERS, json=KIT_ORDER, headers=_key(key))
    assert first.status_code == 201
    _same_response(first, client.post(ORDERS, json=KIT_ORDER, headers=_key(key)))


def test_a_refused_request_stores_nothing(client, app) -> None:
    """A 400 is not remembered: the retry with a corrected body and the same key creates."""
    assert_tmf_error(client.post(CANCELS, json={"resourceOrder": {"id": "nope"}}, headers=_key("c")), 400)
    assert _count(app, IdempotencyKey) == 0
    order = client.post(ORDERS, json=KIT_ORDER).json()
    retried = client.post(CANCELS, json={"resourceOrder": {"id": order["id"]}}, headers=_key("c"))
    assert retried.status_code == 201, retried.text


def test_cancel_request_replayed(client, app) -> None:
    order = client.post(ORDERS, json=KIT_ORDER).json()
    body = {"resourceOrder": {"id": order["id"]}}
    first = client.post(CANCELS, json=body, headers=_key("cancel-1"))
    assert first.status_code == 201, first.text
    _same_response(first, client.post(CANCELS, json=body, headers=_key("cancel-1")))
    assert client.get(CANCELS).headers["X-Total-Count"] == "1"


def test_v4_cart_replayed(client, app) -> None:
    first = client.post(CARTS, json={}, headers=_key("cart-4"))
    assert first.status_code == 201, first.text
    _same_response(first, client.post(CARTS, json={}, headers=_key("cart-4")))
    assert _count(app, ShoppingCart) == 1


def test_v5_cart_replayed(client, app) -> None:
    body = {"@type": "ShoppingCart"}
    first = client.post(V5_CARTS, json=body, headers=_key("cart-5"))
    assert first.status_code == 201, first.text
    assert first.headers["location"].endswith(f"{V5_CARTS}/{first.json()['id']}")
    _same_response(first, client.post(V5_CARTS, json=body, headers=_key("cart-5")))
    assert _count(app, ShoppingCart) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{ORDER_API}/hub", {"callback": CALLBACK}),
        ("/tmf-api/shoppingCart/v5/hub", {"@type": "Hub", "callback": CALLBACK}),
    ],
    ids=["registerListener", "v5 createHub"],
)
def test_hub_registration_replayed(client, app, path: str, body: dict) -> None:
    first = client.post(path, json=body, headers=_key("hub-1"))
    assert first.status_code == 201, first.text
    _same_response(first, client.post(path, json=body, headers=_key("hub-1")))
    assert _count(app, Subscription) == 1


def test_listener_posts_need_no_key(client, app) -> None:
    """Listener POSTs are idempotent by eventId already: a key on them is ignored, nothing is stored for it."""
    event = {"eventId": "e-1", "eventType": "ShoppingCartCreateEvent", "event": {}}
    for _ in range(2):
        response = client.post(f"{CART_API}/listener/shoppingCartCreateEvent", json=event, headers=_key("l"))
        assert response.status_code in (200, 201, 204), response.text
    assert _count(app, IdempotencyKey) == 0


# --- retention --------------------------------------------------------------------------------------------


@pytest.fixture
def no_retention_client(app, settings):
    _empty_tables(app)
    short = create_app(settings.model_copy(update={"idempotency_retention_seconds": 0}))
    with short.test_client() as test_client:
        yield test_client
    short.deps.engine.dispose()


def test_an_expired_key_is_new_and_purged(no_retention_client, app) -> None:
    first = no_retention_client.post(ORDERS, json=KIT_ORDER, headers=_key("old"))
    second = no_retention_client.post(ORDERS, json=KIT_ORDER, headers=_key("old"))
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    # An expired key with another body is not a 422 either: it is a new key.
    assert no_retention_client.post(CARTS, json={}, headers=_key("old")).status_code == 201
    assert _count(app, ResourceOrder) == 2
    assert _count(app, IdempotencyKey) == 1  # the expired row is replaced, not duplicated
    assert purge_expired(app.deps) == 1
    assert _count(app, IdempotencyKey) == 0


def test_the_scheduler_purges_expired_keys(no_retention_client, app) -> None:
    """The background scheduler's pass (services/background.py) runs the purge."""
    assert no_retention_client.post(CARTS, json={}, headers=_key("gone")).status_code == 201
    work = BackgroundWork(app.deps)
    work._scheduler.start()  # the scheduler only: no dispatcher thread needed
    try:
        deadline = time.monotonic() + 10
        while _count(app, IdempotencyKey) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        work.stop()
    assert _count(app, IdempotencyKey) == 0
    assert _count(app, ShoppingCart) == 1


def test_the_purge_is_bounded(no_retention_client, app) -> None:
    for n in range(3):
        assert no_retention_client.post(CARTS, json={}, headers=_key(f"k{n}")).status_code == 201
    assert purge_expired(app.deps, limit=2) == 2
    assert _count(app, IdempotencyKey) == 1
    assert purge_expired(app.deps, limit=2) == 1


def test_a_live_key_is_not_purged(client, app) -> None:
    assert client.post(CARTS, json={}, headers=_key("live")).status_code == 201
    assert purge_expired(app.deps) == 0
    assert _count(app, IdempotencyKey) == 1


# --- scope: per authenticated client -------------------------------------------------------------------


@pytest.fixture
def keyed_client(app, settings):
    _empty_tables(app)
    secured = create_app(
        settings.model_copy(update={"auth_mode": "apikey", "auth_api_keys": f"{RW_KEY_A},{RW_KEY_B}"})
    )
    with secured.test_client() as test_client:
        yield test_client
    secured.deps.engine.dispose()


def test_keys_are_scoped_to_the_client(keyed_client, app) -> None:
    def post(api_key: str):
        return keyed_client.post(ORDERS, json=KIT_ORDER, headers={"X-API-Key": api_key, **_key("shared")})

    a, b = post(RW_KEY_A), post(RW_KEY_B)
    assert a.status_code == b.status_code == 201
    assert a.json()["id"] != b.json()["id"]
    _same_response(a, post(RW_KEY_A))
    _same_response(b, post(RW_KEY_B))
    assert _count(app, ResourceOrder) == 2


# --- a request still in progress ------------------------------------------------------------------------


def test_a_request_in_progress(client, app, backend: str, monkeypatch) -> None:
    """The first request is held inside its transaction, after taking the key. PostgreSQL: the second gets
    409 at once (pg_try_advisory_xact_lock). SQLite: the second waits for the first to commit (BEGIN
    IMMEDIATE) and gets the replay."""
    held, release = threading.Event(), threading.Event()
    first_call = [True]
    take = IdempotencyRepository.try_lock

    def holding(self, scope: str, key: str) -> bool:
        taken = take(self, scope, key)
        if taken and first_call:
            first_call.clear()
            held.set()
            if backend == "postgresql":  # the job runs in a greenlet on the event loop (store/execution.py)
                await_only(asyncio.to_thread(release.wait, 10))
            else:  # the job runs in the SQLite writer's thread
                release.wait(10)
        return taken

    monkeypatch.setattr(IdempotencyRepository, "try_lock", holding)
    responses: dict[str, object] = {}

    def post(name: str) -> None:
        responses[name] = client.post(ORDERS, json=KIT_ORDER, headers=_key("busy"))

    first = threading.Thread(target=post, args=("first",))
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=post, args=("second",))
    second.start()
    if backend == "postgresql":
        second.join(10)
        assert not second.is_alive()
        body = assert_tmf_error(responses["second"], 409)
        assert body["message"] == "a request with this Idempotency-Key is still in progress"
        release.set()
        first.join(10)
        assert responses["first"].status_code == 201
        _same_response(responses["first"], client.post(ORDERS, json=KIT_ORDER, headers=_key("busy")))
    else:
        time.sleep(0.5)
        assert second.is_alive()  # waiting for the first one's write lock
        release.set()
        first.join(10)
        second.join(10)
        assert responses["first"].status_code == 201
        _same_response(responses["first"], responses["second"])
    assert _count(app, ResourceOrder) == 1


def test_browsers_may_send_the_key(app, settings) -> None:
    """With CORS on, a preflight allows `Idempotency-Key` (web/transport.py CORS_REQUEST_HEADERS)."""
    cors = create_app(settings.model_copy(update={"cors_origins": "https://ui.example"}))
    with cors.test_client() as cors_client:
        response = cors_client.options(
            ORDERS,
            headers={
                "Origin": "https://ui.example",
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, Idempotency-Key",
            },
        )
    cors.deps.engine.dispose()
    assert response.status_code == 200, response.text
    assert "idempotency-key" in response.headers["access-control-allow-headers"].lower()
