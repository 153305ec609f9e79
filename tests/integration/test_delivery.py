"""Delivery guarantees with an injected clock: backoff with jitter, dead letters, replay, ordering, leases."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator

import pytest

from tests.receiver import Receiver
from tmfserver.notify.dispatcher import Dispatcher, RetryPolicy
from tmfserver.store import outbox
from tmfserver.store.unit_of_work import unit_of_work

from ._notify import ORDERS, Clock, create, deliveries, drain, outbox_events, patch, subscribe, wait_until

POLICY = RetryPolicy(base_seconds=10.0, cap_seconds=25.0, max_attempts=4, max_age_seconds=10_000.0)


@pytest.fixture
def failing() -> Iterator[Receiver]:
    instance = Receiver(status=500)
    yield instance
    instance.close()


class Jitter:
    """Plays back the given values, then 0.5."""

    def __init__(self, *values: float) -> None:
        self.values = list(values)
        self.used: list[float] = []

    def __call__(self) -> float:
        value = self.values.pop(0) if self.values else 0.5
        self.used.append(value)
        return value


def dispatcher_for(app, clock: Clock, policy: RetryPolicy = POLICY, jitter=None, **kw) -> Dispatcher:
    return Dispatcher(
        app.deps.sessions,
        policy=policy,
        allow_private=True,
        timeout_seconds=kw.pop("timeout_seconds", 2.0),
        clock=clock,
        jitter=jitter or Jitter(),
        **kw,
    )


def test_retry_policy_bounds() -> None:
    policy = RetryPolicy(base_seconds=1.0, cap_seconds=60.0, max_attempts=12, max_age_seconds=3600.0)
    rng = random.Random(7)
    for done in range(1, 12):
        step = min(60.0, 2 ** (done - 1))
        for _ in range(200):
            wait = policy.next_attempt(done, 0.0, 100.0, rng.random()) - 100.0
            assert step / 2 <= wait < step
    assert policy.next_attempt(12, 0.0, 100.0, 0.5) is None  # attempts spent
    assert policy.next_attempt(3, 0.0, 3600.0, 0.5) is None  # too old


def test_backoff_then_dead_letter_then_replay(app, client, failing: Receiver) -> None:
    subscribe(client, failing.url)
    order = create(client, ORDERS, {"description": "flaky"})
    clock, jitter = Clock(), Jitter(0.0, 0.999, 0.5)
    dispatcher = dispatcher_for(app, clock, jitter=jitter)
    try:
        waits = []
        for attempt in range(1, POLICY.max_attempts + 1):
            assert dispatcher.run_once() == 1, f"attempt {attempt} was not due"
            [row] = deliveries(app)
            assert row.attempts == attempt and row.last_error == "HTTP 500"
            if attempt == POLICY.max_attempts:
                assert row.state == "dead"
                break
            assert row.state == "pending"
            waits.append(row.next_attempt_at - clock.now)
            # Not due a moment before its time, due exactly at it.
            clock.now = row.next_attempt_at - 0.01
            assert dispatcher.run_once() == 0
            clock.now = row.next_attempt_at
        # step = min(cap, base * 2^(n-1)); wait = step/2 + step/2 * jitter
        assert waits == pytest.approx([5.0 + 5.0 * 0.0, 10.0 + 10.0 * 0.999, 12.5 + 12.5 * 0.5])
        assert failing.events == []
        clock.advance(3600)
        assert dispatcher.run_once() == 0  # dead letters are never retried on their own

        with unit_of_work(app.deps.sessions, write=False) as uow:
            [dead] = outbox.dead_letters(uow.session)
            assert dead.state == "dead" and dead.callback == failing.url and dead.attempts == 4
            dead_pk = dead.pk
        [event] = outbox_events(app)

        failing.status = 201  # the subscriber is healthy again
        with unit_of_work(app.deps.sessions, write=True) as uow:
            assert outbox.replay(uow.session, clock(), [dead_pk]) == 1
        with unit_of_work(app.deps.sessions, write=False) as uow:
            assert outbox.dead_letters(uow.session) == []
        assert dispatcher.run_once() == 1
    finally:
        dispatcher.stop()
    [received] = failing.events
    assert received["eventId"] == event.event_id == event.payload["eventId"]
    assert received["event"]["resourceOrder"]["id"] == order["id"]
    [row] = deliveries(app)
    assert row.state == "delivered" and row.attempts == 1 and row.last_error is None


def test_max_age_dead_letters_early(app, client, failing: Receiver) -> None:
    subscribe(client, failing.url)
    create(client, ORDERS, {"description": "old"})
    clock = Clock()
    policy = RetryPolicy(base_seconds=10.0, cap_seconds=25.0, max_attempts=100, max_age_seconds=30.0)
    dispatcher = dispatcher_for(app, clock, policy)
    try:
        assert dispatcher.run_once() == 1
        clock.advance(31)
        assert dispatcher.run_once() == 1
    finally:
        dispatcher.stop()
    [row] = deliveries(app)
    assert row.state == "dead" and row.attempts == 2


def test_replay_all_dead_letters(app, client, failing: Receiver) -> None:
    subscribe(client, failing.url)
    for n in range(3):
        create(client, ORDERS, {"description": f"d{n}"})
    clock = Clock()
    dispatcher = dispatcher_for(app, clock, RetryPolicy(max_attempts=1))
    try:
        assert drain(dispatcher) == 3
        with unit_of_work(app.deps.sessions, write=False) as uow:
            assert len(outbox.dead_letters(uow.session)) == 3
            assert len(outbox.dead_letters(uow.session, limit=2)) == 2
        failing.status = 200
        with unit_of_work(app.deps.sessions, write=True) as uow:
            assert outbox.replay(uow.session, clock()) == 3
        assert drain(dispatcher) == 3
    finally:
        dispatcher.stop()
    ids = {e.event_id for e in outbox_events(app)}
    assert {e["eventId"] for e in failing.events} == ids and len(failing.events) == 3


def test_a_retrying_event_holds_back_later_events_of_its_resource(app, client, failing: Receiver) -> None:
    subscribe(client, failing.url)
    first = create(client, ORDERS, {"description": "v0"})
    clock = Clock()
    dispatcher = dispatcher_for(app, clock)
    try:
        assert dispatcher.run_once() == 1  # first's Create fails, retry in 5..10 s
        failing.status = 201
        patch(client, f"{ORDERS}/{first['id']}", {"description": "v1"})
        patch(client, f"{ORDERS}/{first['id']}", {"description": "v2"})
        second = create(client, ORDERS, {"description": "other"})
        drain(dispatcher)
        # Only the other resource got through; first's changes wait behind its Create.
        assert [e["event"]["resourceOrder"]["id"] for e in failing.events] == [second["id"]]
        assert [r.state for r in deliveries(app)] == ["pending", "pending", "pending", "delivered"]

        clock.advance(POLICY.base_seconds)
        drain(dispatcher)
    finally:
        dispatcher.stop()
    ours = [e for e in failing.events if e["event"]["resourceOrder"]["id"] == first["id"]]
    assert [(e["eventType"], e["event"]["resourceOrder"]["description"]) for e in ours] == [
        ("ResourceOrderCreateEvent", "v0"),
        ("ResourceOrderAttributeValueChangeEvent", "v1"),
        ("ResourceOrderAttributeValueChangeEvent", "v2"),
    ]
    # The retried Create went out with the eventId it was stored with.
    assert ours[0]["eventId"] == outbox_events(app)[0].event_id


def test_concurrent_dispatchers_never_claim_the_same_delivery(app, client) -> None:
    subscribe(client, "http://127.0.0.1:9/listener")
    subscribe(client, "http://127.0.0.1:9/other")
    for n in range(20):
        create(client, ORDERS, {"description": f"c{n}"})
    clock = Clock()
    dispatchers = [dispatcher_for(app, clock, batch=7) for _ in range(4)]
    claimed: list[list[int]] = [[] for _ in dispatchers]
    barrier = threading.Barrier(len(dispatchers))

    def run(index: int) -> None:
        barrier.wait()
        for _ in range(5):
            claimed[index].extend(d.pk for d in dispatchers[index].claim())

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(dispatchers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for dispatcher in dispatchers:
        dispatcher.stop()
    everything = [pk for pks in claimed for pk in pks]
    assert len(everything) == len(set(everything)) == 40
    assert sum(1 for pks in claimed if pks) >= 1

    # A lease outlives the attempt; once it expires (dispatcher died) the delivery is claimable again.
    other = dispatcher_for(app, clock)
    try:
        assert other.claim() == []
        clock.advance(other.timeout * 3 + 5)
        assert sorted(d.pk for d in other.claim()) == sorted(everything)
    finally:
        other.stop()


@pytest.mark.slow
def test_a_slow_subscriber_does_not_delay_a_fast_one(app, client) -> None:
    slow, fast = Receiver(delay=2.0), Receiver()
    try:
        subscribe(client, slow.url)
        subscribe(client, fast.url)
        order = create(client, ORDERS, {"description": "s0"})
        patch(client, f"{ORDERS}/{order['id']}", {"description": "s1"})
        patch(client, f"{ORDERS}/{order['id']}", {"description": "s2"})
        dispatcher = Dispatcher(app.deps.sessions, allow_private=True, timeout_seconds=5.0)
        started = time.monotonic()
        dispatcher.start(idle_seconds=0.02)
        try:
            assert wait_until(lambda: len(fast.events) == 3, timeout=1.5), fast.events
            fast_done = time.monotonic() - started
            assert slow.events == []  # its first delivery is still in progress
            assert wait_until(lambda: len(slow.events) >= 1, timeout=5.0)
        finally:
            slow.delay = 0.0
            dispatcher.stop()
        assert fast_done < 1.5
        assert [e["event"]["resourceOrder"]["description"] for e in fast.events] == ["s0", "s1", "s2"]
    finally:
        slow.close()
        fast.close()
