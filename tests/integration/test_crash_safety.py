"""Crash safety of the outbox: SIGKILL the real server while events wait, restart it, nothing is lost.

The subscriber's port is closed while changes are made, so every event is still queued (or being retried)
when the server dies. After a restart with the subscriber up, every outbox event arrives; a repeat is only
ever the same eventId (at-least-once), and each resource's events arrive in the order they were written.
"""

from __future__ import annotations

import signal
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from tests.live_server import free_port, live_server, server_process
from tests.receiver import Receiver
from tmfserver.store.models import OutboxEvent

from ._notify import MERGE_PATCH, ORDER_API, ORDERS, wait_until

pytestmark = pytest.mark.slow


def test_no_event_is_lost_when_the_server_is_killed(request, backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        request.getfixturevalue("client")  # empties the suite's schema; the server uses the same one
        database_url = request.getfixturevalue("database_url")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    port, receiver_port = free_port(), free_port()
    env = {
        "TMF_CALLBACK_ALLOW_PRIVATE": "true",
        "TMF_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
        "TMF_DELIVERY_BACKOFF_CAP_SECONDS": "1",
        # The lease of an attempt cut short by the kill is timeout * 3 + 5 s; keep the restart quick.
        "TMF_DELIVERY_TIMEOUT_SECONDS": "1",
        "TMF_LOG_LEVEL": "WARNING",
    }
    receiver: Receiver | None = None
    engine = create_engine(database_url)
    try:
        with (
            server_process(database_url, tmp_path / "before-kill.log", env=env, port=port) as (origin, process),
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            callback = f"http://127.0.0.1:{receiver_port}/listener"
            assert http.post(f"{ORDER_API}/hub", json={"callback": callback}).status_code == 201
            orders = []
            for n in range(6):
                response = http.post(
                    ORDERS, json={"orderItem": [{"id": "1", "action": "add"}], "description": f"order {n}"}
                )
                assert response.status_code == 201, response.text
                orders.append(response.json()["id"])
            time.sleep(0.5)  # let the dispatcher fail a few attempts against the closed port
            for n, order_id in enumerate(orders):
                for step in (
                    {"description": f"first {n}"},
                    {"state": "inProgress"},
                    {"description": f"2nd {n}"},
                ):
                    response = http.patch(f"{ORDERS}/{order_id}", json=step, headers=MERGE_PATCH)
                    assert response.status_code == 200, response.text
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

        with engine.connect() as connection:
            written = connection.execute(
                select(OutboxEvent.event_id, OutboxEvent.resource_id).order_by(OutboxEvent.pk)
            ).all()
        assert (
            len(written) == 6 * 4
        )  # per order: Create, AttributeValueChange, StateChange, AttributeValueChange
        receiver = Receiver(port=receiver_port)
        expected = {event_id for event_id, _resource in written}

        def undelivered() -> set[str]:
            return expected - {e["eventId"] for e in list(receiver.events)}

        with live_server(database_url, tmp_path / "after-restart.log", env=env, port=port):
            assert wait_until(lambda: not undelivered(), timeout=30, interval=0.1), (
                f"{len(undelivered())} of {len(expected)} events never arrived"
            )
    finally:
        if receiver:
            receiver.close()
        engine.dispose()

    received = list(receiver.events)
    # Nothing that was not written, and a repeat is the very same event (same eventId, same content).
    by_id: dict[str, dict] = {}
    for event in received:
        assert event["eventId"] in expected
        assert by_id.setdefault(event["eventId"], event) == event
    # Per resource, first arrivals follow the order the events were written in.
    first_seen: dict[str, list[str]] = defaultdict(list)
    for event in received:
        resource_id = event["event"]["resourceOrder"]["id"]
        if event["eventId"] not in first_seen[resource_id]:
            first_seen[resource_id].append(event["eventId"])
    written_order: dict[str, list[str]] = defaultdict(list)
    for event_id, resource_id in written:
        written_order[resource_id].append(event_id)
    assert dict(first_seen) == dict(written_order)
