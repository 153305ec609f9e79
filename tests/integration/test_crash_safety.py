"""Crash safety of the outbox: SIGKILL the real server while events wait, restart it, nothing is lost.

The subscriber's port is closed while changes are made, so every event is still queued (or being retried)
when the server dies. After a restart with the subscriber up, every outbox event arrives; a repeat is only
ever the same eventId (at-least-once), and each resource's events arrive in the order they were written.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from tests.receiver import Receiver
from tmfserver.store.models import OutboxEvent

from ._notify import ORDER_API, ORDERS, wait_until

ROOT = Path(__file__).resolve().parents[2]
TMFSERVER = ROOT / ".venv" / "bin" / "tmfserver"

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen | None = None
        self.base = f"http://127.0.0.1:{port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(TMFSERVER), "serve"], cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )

        def ready() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                return httpx.get(f"{self.base}{ORDERS}?limit=1", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, timeout=30, interval=0.1), self.log.read_text()[-3000:]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def test_no_event_is_lost_when_the_server_is_killed(request, backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        request.getfixturevalue("client")  # empties the suite's schema; the server uses the same one
        database_url = request.getfixturevalue("database_url")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    port, receiver_port = free_port(), free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "DATABASE_URL": database_url,
        "TMF_CALLBACK_ALLOW_PRIVATE": "true",
        "TMF_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
        "TMF_DELIVERY_BACKOFF_CAP_SECONDS": "1",
        # The lease of an attempt cut short by the kill is timeout * 3 + 5 s; keep the restart quick.
        "TMF_DELIVERY_TIMEOUT_SECONDS": "1",
        "TMF_LOG_LEVEL": "WARNING",
    }
    server = Server(env, port, tmp_path / "server.log")
    receiver: Receiver | None = None
    engine = create_engine(database_url)
    try:
        server.start()
        with httpx.Client(base_url=server.base, timeout=10) as http:
            callback = f"http://127.0.0.1:{receiver_port}/listener"
            assert http.post(f"{ORDER_API}/hub", json={"callback": callback}).status_code == 201
            merge = {"Content-Type": "application/merge-patch+json"}
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
                    response = http.patch(f"{ORDERS}/{order_id}", json=step, headers=merge)
                    assert response.status_code == 200, response.text
        server.kill()

        with engine.connect() as connection:
            written = connection.execute(
                select(OutboxEvent.event_id, OutboxEvent.resource_id).order_by(OutboxEvent.pk)
            ).all()
        assert (
            len(written) == 6 * 4
        )  # per order: Create, AttributeValueChange, StateChange, AttributeValueChange
        receiver = Receiver(port=receiver_port)
        server.start()
        expected = {event_id for event_id, _resource in written}

        def all_delivered() -> bool:
            return expected <= {e["eventId"] for e in list(receiver.events)}

        assert wait_until(all_delivered, timeout=30, interval=0.1), (
            f"{len(expected - {e['eventId'] for e in receiver.events})} of {len(expected)} events never arrived"
        )
    finally:
        server.stop()
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
