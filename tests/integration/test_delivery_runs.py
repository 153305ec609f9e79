"""A burst of events on one resource goes out in one pass, in order; a failure mid-run gives the rest back."""

from __future__ import annotations

import random

from tests.receiver import Receiver
from tmfserver.notify.dispatcher import Dispatcher, RetryPolicy

from ._notify import ORDERS, Clock, create, deliveries, patch, subscribe


def _dispatcher(app, clock: Clock) -> Dispatcher:
    return Dispatcher(
        app.deps.sessions,
        policy=RetryPolicy(base_seconds=10.0, cap_seconds=10.0, max_attempts=5),
        allow_private=True,
        clock=clock,
        jitter=random.Random(0).random,
    )


def test_one_pass_delivers_a_resources_events_in_order(app, client) -> None:
    receiver = Receiver()
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"description": "v0"})
    for n in range(1, 6):
        patch(client, f"{ORDERS}/{order['id']}", {"description": f"v{n}"})
    dispatcher = _dispatcher(app, Clock())
    try:
        assert dispatcher.run_once() == 6
    finally:
        dispatcher.stop()
        receiver.close()
    assert [e["event"]["resourceOrder"]["description"] for e in receiver.events] == [f"v{n}" for n in range(6)]


def test_a_failure_mid_run_releases_the_rest_of_the_run(app, client) -> None:
    receiver = Receiver(status=500)
    subscribe(client, receiver.url)
    order = create(client, ORDERS, {"description": "v0"})
    patch(client, f"{ORDERS}/{order['id']}", {"description": "v1"})
    clock = Clock()
    dispatcher = _dispatcher(app, clock)
    try:
        assert dispatcher.run_once() == 1  # the head failed; its successor was not attempted
        rows = deliveries(app)
        assert [(r.attempts, r.lease_until) for r in rows] == [(1, None), (0, None)]
        receiver.status = 201
        clock.advance(10)
        assert dispatcher.run_once() == 2
    finally:
        dispatcher.stop()
        receiver.close()
    assert [e["event"]["resourceOrder"]["description"] for e in receiver.events] == ["v0", "v1"]
