"""SIGTERM: the server stops accepting, finishes the requests it accepted, stops the dispatcher after the
delivery it is sending, and exits 0 — with one process and with two.

A request is made "in flight" without any test hook: its headers and half its body are sent before the
signal, the rest after it. uvicorn has accepted it (a handler is waiting for the body), so it must complete.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from tests.live_server import server_process
from tests.receiver import Receiver
from tmfserver.notify.dispatcher import Dispatcher
from tmfserver.store.models import Delivery, ResourceOrder

from ._notify import ORDERS, create, deliveries, drain, patch, subscribe, wait_until

ROOT = Path(__file__).resolve().parents[2]
EXIT_SECONDS = 10  # from SIGTERM to exit, in-flight requests and the slow delivery included

pytestmark = pytest.mark.slow


@pytest.fixture
def server_database(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> str:
    """A fresh SQLite file (the server migrates it), or the suite's PostgreSQL schema, emptied."""
    if backend == "postgresql":
        request.getfixturevalue("client")  # empties the suite's schema; the server uses the same one
        return request.getfixturevalue("database_url")
    return f"sqlite:///{tmp_path / 'graceful.db'}"


class InFlight:
    """A POST whose headers and first half of body have been sent: accepted, not finished."""

    def __init__(self, port: int, name: str) -> None:
        body = json.dumps({"description": name}).encode()
        head = (
            f"POST {ORDERS} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=EXIT_SECONDS)
        self.sock.sendall(head + body[: len(body) // 2])
        self.rest = body[len(body) // 2 :]

    def finish(self) -> tuple[int, dict, dict]:
        self.sock.sendall(self.rest)
        response = http.client.HTTPResponse(self.sock)
        response.begin()
        try:
            return response.status, dict(response.getheaders()), json.loads(response.read())
        finally:
            self.sock.close()


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def stored_orders(database_url: str, ids: list[str]) -> set[str]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return set(connection.scalars(select(ResourceOrder.id).where(ResourceOrder.id.in_(ids))))
    finally:
        engine.dispose()


def exit_status(process: subprocess.Popen) -> int:
    return process.wait(timeout=EXIT_SECONDS)


@pytest.mark.parametrize("workers", [1, 2])
def test_requests_in_flight_at_sigterm_complete_and_new_ones_are_refused(
    server_database: str, tmp_path: Path, workers: int
) -> None:
    log = tmp_path / "server.log"
    with server_process(server_database, log, workers=workers) as (origin, process):
        port = int(origin.rsplit(":", 1)[1])
        in_flight = [InFlight(port, f"in flight {n}") for n in range(6)]
        time.sleep(0.3)  # the server has read their headers: a handler is waiting for each body
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)  # the main process only, as a process manager does

        # The port closes while the accepted requests are still waiting for the rest of their body.
        assert wait_until(lambda: refused(port), timeout=5, interval=0.05), log.read_text()[-3000:]
        assert process.poll() is None

        answers = [request.finish() for request in in_flight]
        assert exit_status(process) == 0, log.read_text()[-3000:]
        assert time.monotonic() - sent_at < EXIT_SECONDS

    assert [status for status, _headers, _body in answers] == [201] * len(in_flight)
    assert all(headers.get("connection") == "close" for _status, headers, _body in answers)
    ids = [body["id"] for _status, _headers, body in answers]
    assert [body["description"] for _status, _headers, body in answers] == [f"in flight {n}" for n in range(6)]
    assert stored_orders(server_database, ids) == set(ids)  # nothing accepted was dropped


def test_a_request_that_never_finishes_is_cancelled_after_the_shutdown_timeout(
    server_database: str, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    env = {"TMF_SHUTDOWN_TIMEOUT_SECONDS": "1"}
    with server_process(server_database, log, env=env) as (origin, process):
        stalled = InFlight(int(origin.rsplit(":", 1)[1]), "never finished")
        time.sleep(0.3)
        sent_at = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert exit_status(process) == 0, log.read_text()[-3000:]
        waited = time.monotonic() - sent_at
        stalled.sock.close()
    assert 1.0 <= waited < 5.0, waited  # bounded by the setting, not by the client


# --- the dispatcher ---------------------------------------------------------------------------------------


def order_with_three_events(client) -> str:
    """One resource, three events: one subscriber's deliveries of them form one ordered run."""
    order = create(client, ORDERS, {"description": "v1"})
    patch(client, f"{ORDERS}/{order['id']}", {"description": "v2"})
    patch(client, f"{ORDERS}/{order['id']}", {"description": "v3"})
    return order["id"]


def assert_first_delivered_rest_queued(rows: list[Delivery]) -> None:
    assert [(d.state, d.attempts) for d in rows] == [("delivered", 1), ("pending", 0), ("pending", 0)]
    assert all(d.lease_until is None for d in rows[1:])  # given back: the next dispatcher takes them at once


def test_stopping_the_dispatcher_finishes_the_delivery_in_progress(app, client) -> None:
    receiver = Receiver(delay=0.5)
    dispatcher = Dispatcher(app.deps.sessions, allow_private=True, timeout_seconds=5.0)
    try:
        subscribe(client, receiver.url)
        order_with_three_events(client)
        dispatcher.start(idle_seconds=0.05)
        assert wait_until(lambda: receiver.arrivals == 1, timeout=5)
        dispatcher.stop()  # while the subscriber is still answering the first POST
        assert receiver.arrivals == 1 and len(receiver.events) == 1
        assert_first_delivered_rest_queued(deliveries(app))

        again = Dispatcher(app.deps.sessions, allow_private=True, timeout_seconds=5.0)
        try:
            assert drain(again) == 2
        finally:
            again.stop()
    finally:
        receiver.close()
    assert [e["event"]["resourceOrder"]["description"] for e in receiver.events] == ["v1", "v2", "v3"]
    assert len({e["eventId"] for e in receiver.events}) == 3  # none twice


def delivery_rows(database_url: str) -> list[Delivery]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(Delivery).order_by(Delivery.pk)))
    finally:
        engine.dispose()


def test_sigterm_to_the_server_lets_the_delivery_in_progress_finish(
    server_database: str, tmp_path: Path
) -> None:
    receiver = Receiver(delay=1.0)
    log = tmp_path / "server.log"
    env = {"TMF_CALLBACK_ALLOW_PRIVATE": "true"}
    try:
        with (
            server_process(server_database, log, env=env) as (origin, process),
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            subscribe(http, receiver.url)
            order_with_three_events(http)
            assert wait_until(lambda: receiver.arrivals == 1, timeout=5), log.read_text()[-3000:]
            process.send_signal(signal.SIGTERM)
            assert exit_status(process) == 0, log.read_text()[-3000:]
        assert receiver.arrivals == 1 and len(receiver.events) == 1
        assert_first_delivered_rest_queued(delivery_rows(server_database))
    finally:
        receiver.close()


@pytest.fixture
def dispatch_process(database_url: str) -> Iterator[callable]:
    processes: list[subprocess.Popen] = []

    def start() -> subprocess.Popen:
        env = {**os.environ, "DATABASE_URL": database_url, "TMF_CALLBACK_ALLOW_PRIVATE": "true"}
        processes.append(
            subprocess.Popen(
                [str(Path(sys.executable).parent / "tmfserver"), "dispatch"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        )
        return processes[-1]

    yield start
    for process in processes:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_sigterm_to_tmfserver_dispatch_lets_the_delivery_in_progress_finish(
    app, client, dispatch_process
) -> None:
    receiver = Receiver(delay=1.0)
    try:
        subscribe(client, receiver.url)
        order_with_three_events(client)
        process = dispatch_process()
        assert wait_until(lambda: receiver.arrivals == 1, timeout=20)
        process.send_signal(signal.SIGTERM)
        assert exit_status(process) == 0, process.stderr.read().decode()
        assert receiver.arrivals == 1 and len(receiver.events) == 1
        assert_first_delivered_rest_queued(deliveries(app))
        stopped = [json.loads(line) for line in process.stderr.read().decode().splitlines()]
        assert stopped[-1]["message"] == "dispatcher stopped"
    finally:
        receiver.close()
