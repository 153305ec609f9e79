"""PostgreSQL goes away and comes back under a running server: a cluster of the test's own (tests/pg_cluster.py)
is stopped (`pg_ctl stop -m fast`: every connection cut, as in a restart or a failover) and started again.

Requests during the outage are 503 TMF Errors with Retry-After, never a 500 and never a hang; /health/ready is
503 meanwhile; the server recovers without a restart; nothing a client was told is stored is lost, and every
event of every stored order is delivered (at least once: a repeat is the same eventId).

These tests bring their own PostgreSQL, so they run in the `--db=sqlite` run of `make test` (and are skipped in
the `--db=postgresql` one). Without PostgreSQL's server binaries they are skipped, except with CI=true.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select, text

from tests.live_server import REPO, live_server
from tests.pg_cluster import PostgresCluster, missing_reason, throwaway_cluster
from tests.receiver import Receiver
from tmfserver.store.models import OutboxEvent, ResourceOrder

from ._notify import MERGE_PATCH, ORDER_API, ORDERS, wait_until

pytestmark = pytest.mark.slow

REQUEST_TIMEOUT = 15.0  # client side: a request still unanswered after this counts as a hang
OUTAGE_SECONDS = 5.0
ENV = {
    "TMF_CALLBACK_ALLOW_PRIVATE": "true",
    "TMF_LOG_FORMAT": "json",
    "TMF_LOG_LEVEL": "INFO",
    # Resume within a second of the database's return, and retry failed deliveries quickly.
    "TMF_DB_BACKOFF_CAP_SECONDS": "1",
    "TMF_DELIVERY_BACKOFF_BASE_SECONDS": "0.2",
    "TMF_DELIVERY_BACKOFF_CAP_SECONDS": "1",
    # A delivery whose outcome could not be recorded is sent again when its lease ends: timeout * 3 + 5 s.
    "TMF_DELIVERY_TIMEOUT_SECONDS": "1",
}
ORDER = {"orderItem": [{"id": "1", "action": "add"}]}


@pytest.fixture(scope="module")
def cluster(backend: str) -> Iterator[PostgresCluster]:
    if backend != "sqlite":
        pytest.skip("brings its own PostgreSQL: runs once, in the --db=sqlite run")
    reason = missing_reason()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true requires them)")
        pytest.skip(reason)
    with throwaway_cluster() as made:
        yield made


def new_database(cluster: PostgresCluster, name: str) -> str:
    admin = create_engine(cluster.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return cluster.url_of(name)


def rows(database_url: str, statement) -> list:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(statement))
    finally:
        engine.dispose()


def log_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


def assert_outage_logged_once_each_way(path: Path) -> None:
    """The dispatcher and the scheduler: one WARNING when the database went, one INFO when it came back; no
    ERROR and no traceback anywhere (before this work: a 9 KB traceback every 200 ms)."""
    records = log_records(path)
    for logger in ("tmfserver.dispatcher", "tmfserver.background"):
        outage = [
            (r["level"], r["message"]) for r in records if r["logger"] == logger and "database" in r["message"]
        ]
        assert outage == [
            ("WARNING", "database unavailable; pausing and retrying with backoff"),
            ("INFO", "database available again"),
        ], (logger, outage)
    assert not [r for r in records if r["level"] in ("ERROR", "CRITICAL")]
    assert "Traceback" not in path.read_text()


@dataclass
class Outcome:
    started: float
    took: float
    status: int | None = None
    body: dict | None = None
    retry_after: str | None = None
    error: str | None = None


def post_orders(origin: str, until: float, outcomes: list[Outcome]) -> None:
    with httpx.Client(base_url=origin, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                response = http.post(ORDERS, json=ORDER)
                outcome = Outcome(started, time.monotonic() - started, response.status_code)
                outcome.body = response.json()
                outcome.retry_after = response.headers.get("retry-after")
            except (httpx.HTTPError, ValueError) as exc:
                outcome = Outcome(started, time.monotonic() - started, error=f"{exc.__class__.__name__}: {exc}")
            outcomes.append(outcome)


def probe_readiness(origin: str, until: float, probes: list[tuple[float, int]]) -> None:
    with httpx.Client(base_url=origin, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < until:
            probes.append((time.monotonic(), http.get("/health/ready").status_code))
            time.sleep(0.1)


def test_a_postgresql_restart_under_write_load_is_503s_then_recovery(cluster, tmp_path: Path) -> None:
    database_url = new_database(cluster, "under_load")
    receiver = Receiver()
    log = tmp_path / "server.log"
    outcomes: list[Outcome] = []
    probes: list[tuple[float, int]] = []
    try:
        with (
            live_server(database_url, log, env=ENV) as origin,
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            assert http.post(f"{ORDER_API}/hub", json={"callback": receiver.url}).status_code == 201
            until = time.monotonic() + 2 + OUTAGE_SECONDS + 3
            workers = [threading.Thread(target=post_orders, args=(origin, until, outcomes)) for _ in range(2)]
            workers.append(threading.Thread(target=probe_readiness, args=(origin, until, probes)))
            for thread in workers:
                thread.start()
            time.sleep(2)
            down = time.monotonic()
            cluster.stop("fast")
            time.sleep(OUTAGE_SECONDS)
            restarting = time.monotonic()
            cluster.start()
            up = time.monotonic()
            for thread in workers:
                thread.join(timeout=REQUEST_TIMEOUT + 5)
            assert http.post(ORDERS, json=ORDER).status_code == 201  # recovered on its own, no restart

            # Every request was answered in time, 201 or a 503 TMF Error with Retry-After; never a 500.
            assert not [o.error for o in outcomes if o.error]
            assert Counter(o.status for o in outcomes).keys() <= {201, 503}, Counter(o.status for o in outcomes)
            refused = [o for o in outcomes if o.status == 503]
            assert len(refused) >= 5, "the outage was not seen"
            assert {
                o.status for o in outcomes if down + 0.5 < o.started and o.started + o.took < restarting
            } == {503}
            for outcome in refused:
                assert outcome.retry_after == "5"
                assert outcome.body["status"] == outcome.body["code"] == "503"
                assert outcome.body["reason"] == "Service Unavailable" and outcome.body["message"]
            assert max(o.took for o in outcomes) < 6, max(o.took for o in outcomes)  # connect_timeout 5 s
            assert all(o.status == 201 for o in outcomes if o.started > up + 1), "not recovered a second later"
            assert [o for o in outcomes if o.status == 201 and o.started > up]

            # /health/ready: 503 during the outage, 200 after; /health/live answered throughout.
            during = [status for at, status in probes if down + 0.5 < at < restarting]
            assert during and set(during) == {503}, during
            assert probes[-1][1] == 200 and [1 for at, status in probes if at > up and status == 200]
            assert http.get("/health/live").status_code == 200

            # Every order a client was told about (201) is stored and retrievable.
            created = [o.body["id"] for o in outcomes if o.status == 201]
            for order_id in created:
                assert http.get(f"{ORDERS}/{order_id}").json()["id"] == order_id

            # Every event of every stored order arrives, some possibly twice (same eventId, same content).
            stored = {row.id for row in rows(database_url, select(ResourceOrder.id))}
            assert set(created) <= stored
            written = {row.event_id for row in rows(database_url, select(OutboxEvent.event_id))}
            assert len(written) >= len(stored)

            def undelivered() -> set[str]:
                return written - {event["eventId"] for event in list(receiver.events)}

            assert wait_until(lambda: not undelivered(), timeout=30, interval=0.2), (
                f"{len(undelivered())} of {len(written)} events never arrived"
            )
    finally:
        receiver.close()
    first: dict[str, dict] = {}
    for event in receiver.events:
        assert first.setdefault(event["eventId"], event) == event
    assert {e["event"]["resourceOrder"]["id"] for e in receiver.events} == stored
    assert_outage_logged_once_each_way(log)


def test_events_pending_when_postgresql_stops_arrive_after_it_restarts(cluster, tmp_path: Path) -> None:
    """The subscriber answers slowly, so deliveries are queued and in progress when the database goes: their
    outcomes cannot be recorded until it is back. Afterwards every event arrives, each resource's in order."""
    database_url = new_database(cluster, "in_delivery")
    receiver = Receiver(delay=0.3)
    log = tmp_path / "server.log"
    try:
        with (
            live_server(database_url, log, env=ENV) as origin,
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            assert http.post(f"{ORDER_API}/hub", json={"callback": receiver.url}).status_code == 201
            for n in range(8):
                order = http.post(ORDERS, json={**ORDER, "description": f"v1 {n}"}).json()
                for step in ("v2", "v3"):
                    response = http.patch(
                        f"{ORDERS}/{order['id']}", json={"description": f"{step} {n}"}, headers=MERGE_PATCH
                    )
                    assert response.status_code == 200, response.text
            written = rows(
                database_url, select(OutboxEvent.event_id, OutboxEvent.resource_id).order_by(OutboxEvent.pk)
            )
            assert len(written) == 8 * 3
            assert wait_until(lambda: receiver.arrivals >= 2, timeout=10)
            cluster.stop("fast")
            at_stop = receiver.arrivals
            time.sleep(3)
            cluster.start()
            expected = {event_id for event_id, _resource in written}
            assert at_stop < len(expected), "everything was delivered before the database went"
            assert wait_until(
                lambda: expected <= {e["eventId"] for e in list(receiver.events)}, timeout=40, interval=0.2
            ), f"{len(expected - {e['eventId'] for e in receiver.events})} events never arrived"
    finally:
        receiver.close()
    received = list(receiver.events)
    by_id: dict[str, dict] = {}
    for event in received:
        assert event["eventId"] in expected
        assert by_id.setdefault(event["eventId"], event) == event  # a repeat is the same event
    first_seen: dict[str, list[str]] = defaultdict(list)
    for event in received:
        resource = event["event"]["resourceOrder"]["id"]
        if event["eventId"] not in first_seen[resource]:
            first_seen[resource].append(event["eventId"])
    written_order: dict[str, list[str]] = defaultdict(list)
    for event_id, resource in written:
        written_order[resource].append(event_id)
    assert dict(first_seen) == dict(written_order)
    assert_outage_logged_once_each_way(log)


def test_migrate_waits_for_a_postgresql_that_is_still_starting(cluster, tmp_path: Path) -> None:
    database_url = new_database(cluster, "migrated_later")
    cluster.stop("fast")
    command = [str(Path(sys.executable).parent / "tmfserver"), "migrate"]
    env = {**os.environ, "DATABASE_URL": database_url, "TMF_DB_WAIT_SECONDS": "60", "TMF_LOG_FORMAT": "json"}
    stderr = tmp_path / "stderr.log"
    with stderr.open("w") as sink:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        assert wait_until(lambda: "waiting up to 60 s" in stderr.read_text(), timeout=30, interval=0.1)
        time.sleep(1)
        assert process.poll() is None, stderr.read_text()  # still waiting
    finally:
        cluster.start()
    assert process.wait(timeout=60) == 0, stderr.read_text()
    messages = [json.loads(line)["message"] for line in stderr.read_text().splitlines()]
    assert messages[0] == "database unreachable; waiting up to 60 s"
    assert "migration applied" in messages
    assert rows(database_url, text("SELECT version_num FROM alembic_version"))
