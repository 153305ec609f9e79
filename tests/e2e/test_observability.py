"""Health endpoints, Prometheus metrics and the per-request access record, asserted after real requests."""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text

from tests.conftest import _empty_tables
from tests.live_server import live_server
from tests.receiver import Receiver
from tmfserver.app import create_app
from tmfserver.cli import migrate
from tmfserver.notify.dispatcher import Dispatcher, RetryPolicy
from tmfserver.settings import Settings
from tmfserver.store.db import make_async_engine, make_engine
from tmfserver.store.models import Delivery

from ._support import CARTS, KIT_ORDER, ORDER_API, ORDERS, assert_tmf_error, create_order

Samples = dict[tuple[str, frozenset], float]


def parse(exposition: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def requests_of(samples: Samples, operation_id: str, status: int) -> float:
    return value(samples, "tmf_http_requests_total", operation_id=operation_id, status=str(status))


# --- health ------------------------------------------------------------------------------------------------


def test_live_is_200_and_only_get_or_head(client) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "live"}
    assert client.head("/health/live").status_code == 200
    for method in ("POST", "DELETE", "PATCH"):
        refused = client.request(method, "/health/live")
        assert_tmf_error(refused, 405)
        assert refused.headers["allow"] == "GET, HEAD"


def test_ready_reports_each_check_and_answers_fast(client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    # The suite's app runs no background work (tests drive the dispatcher themselves): "off", not a failure.
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "background": "off"},
    }
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        assert client.get("/health/ready").status_code == 200
        timings.append(time.perf_counter() - started)
    assert min(timings) < 0.05, timings


def test_ready_is_503_when_the_database_is_behind_the_head(app, client) -> None:
    with app.deps.engine.begin() as connection:
        head = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        connection.execute(text("UPDATE alembic_version SET version_num = 'behind'"))
    try:
        response = client.get("/health/ready")
    finally:
        with app.deps.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = :head"), {"head": head})
    body = assert_tmf_error(response, 503)
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == f"at behind, head is {head}"
    assert "migrations" in body["message"]
    assert client.get("/health/ready").status_code == 200  # restored


def test_ready_is_503_on_a_database_never_migrated(settings: Settings, tmp_path: Path) -> None:
    # A generous timeout: this is about the migrations check, and a fresh file's first connection (WAL, a
    # full sync) can take longer than the suite's 0.5 s on a busy machine.
    update = {"database_url": f"sqlite:///{tmp_path / 'empty.db'}", "health_timeout_seconds": 10.0}
    empty = create_app(settings.model_copy(update=update))
    with empty.test_client() as fresh:
        body = assert_tmf_error(fresh.get("/health/ready"), 503)
    assert body["checks"]["migrations"] == "not migrated (no alembic_version table)"


def test_ready_follows_the_background_work(settings: Settings, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'background.db'}"
    migrate(url)
    working = create_app(settings.model_copy(update={"database_url": url, "background_workers": True}))
    with working.test_client() as client:
        response = client.get("/health/ready")
        assert response.status_code == 200, response.text
        assert response.json()["checks"]["background"] == "ok"
        working.readiness.background.dispatcher.stop()
        body = assert_tmf_error(client.get("/health/ready"), 503)
        assert body["checks"]["background"] == "stopped"


def test_health_and_metrics_are_outside_auth_and_rate_limits(settings: Settings) -> None:
    guarded = create_app(
        settings.model_copy(
            update={"rate_limit_per_minute": 1, "auth_mode": "apikey", "auth_api_keys": "secret:tmf.read"}
        )
    )
    with guarded.test_client() as client:
        for _ in range(3):
            assert client.get("/health/live").status_code == 200
            assert client.get("/health/ready").status_code == 200
            assert client.get("/metrics").status_code == 200
        assert client.get(ORDERS).status_code == 401


# --- request metrics ---------------------------------------------------------------------------------------


def test_requests_are_counted_by_operation_and_status(client) -> None:
    before = scrape(client)
    created = [create_order(client) for _ in range(2)]
    assert client.get(f"{ORDERS}/{created[0]['id']}").status_code == 200
    assert client.get(f"{ORDERS}/no-such-order").status_code == 404
    assert client.get("/tmf-api/nowhere").status_code == 404
    after = scrape(client)

    assert requests_of(after, "createResourceOrder", 201) - requests_of(before, "createResourceOrder", 201) == 2
    assert (
        requests_of(after, "retrieveResourceOrder", 200) - requests_of(before, "retrieveResourceOrder", 200)
        == 1
    )
    assert (
        requests_of(after, "retrieveResourceOrder", 404) - requests_of(before, "retrieveResourceOrder", 404)
        == 1
    )
    assert requests_of(after, "none", 404) - requests_of(before, "none", 404) == 1
    # The first scrape itself was counted before the second one was rendered.
    assert requests_of(after, "none", 200) - requests_of(before, "none", 200) >= 1

    labels = {"operation_id": "createResourceOrder", "status": "201"}
    buckets = {
        dict(key[1])["le"]: count
        for key, count in after.items()
        if key[0] == "tmf_http_request_duration_seconds_bucket"
        and {k: v for k, v in key[1] if k != "le"} == labels
    }
    assert len(buckets) > 5 and "+Inf" in buckets, buckets
    counts = [buckets[le] for le in sorted(buckets, key=float)]
    assert counts == sorted(counts)  # cumulative
    assert buckets["+Inf"] == value(after, "tmf_http_request_duration_seconds_count", **labels)
    count_before = value(before, "tmf_http_request_duration_seconds_count", **labels)
    assert buckets["+Inf"] - count_before == 2
    assert value(after, "tmf_http_request_duration_seconds_sum", **labels) > 0


def test_refusals_before_routing_are_counted_under_their_operation(settings: Settings) -> None:
    limited = create_app(settings.model_copy(update={"rate_limit_per_minute": 1}))
    with limited.test_client() as client:
        before = scrape(client)
        assert client.get(CARTS).status_code == 200
        assert_tmf_error(client.get(CARTS), 429)
        assert_tmf_error(client.get(f"{CARTS}/"), 429)  # routed like CARTS when it gets through
        after = scrape(client)
    assert requests_of(after, "listShoppingCart", 200) - requests_of(before, "listShoppingCart", 200) == 1
    assert requests_of(after, "listShoppingCart", 429) - requests_of(before, "listShoppingCart", 429) == 2


def test_pool_gauges_follow_checked_out_connections(app, client) -> None:
    before = scrape(client)
    assert value(before, "tmf_db_pool_size") >= app.deps.engine.pool.size()
    with app.deps.engine.connect() as held:
        held.execute(text("SELECT 1"))
        during = scrape(client)
    after = scrape(client)
    checked_out = value(before, "tmf_db_pool_checked_out")
    assert value(during, "tmf_db_pool_checked_out") == checked_out + 1
    assert value(after, "tmf_db_pool_checked_out") == checked_out
    assert value(after, "tmf_db_pool_overflow") >= 0


# --- outbox and deliveries ---------------------------------------------------------------------------------


@pytest.fixture
def failing() -> Iterator[Receiver]:
    receiver = Receiver(status=500)
    yield receiver
    receiver.close()


def count_deliveries(app, state: str) -> int:
    with app.deps.sessions() as session:
        return session.scalar(select(func.count(Delivery.pk)).where(Delivery.state == state))


def test_outbox_gauges_and_delivery_outcomes(app, client, failing: Receiver) -> None:
    empty = scrape(client)
    assert value(empty, "tmf_outbox_pending_deliveries") == 0
    assert value(empty, "tmf_outbox_oldest_pending_age_seconds") == 0
    assert value(empty, "tmf_outbox_dead_letters") == 0

    hub = client.post(f"{ORDER_API}/hub", json={"callback": failing.url})
    assert hub.status_code == 201, hub.text
    started = time.time()
    client.post(ORDERS, json=KIT_ORDER)
    client.post(ORDERS, json=KIT_ORDER)
    pending = count_deliveries(app, "pending")
    assert pending >= 2
    backlog = scrape(client)
    assert value(backlog, "tmf_outbox_pending_deliveries") == pending
    assert 0 <= value(backlog, "tmf_outbox_oldest_pending_age_seconds") <= time.time() - started + 1
    assert value(backlog, "tmf_outbox_dead_letters") == 0

    # One attempt each: every delivery fails once and is dead at once.
    dispatcher = Dispatcher(
        app.deps.sessions, policy=RetryPolicy(max_attempts=1), allow_private=True, timeout_seconds=2.0
    )
    try:
        attempts = sum(iter(dispatcher.run_once, 0))
    finally:
        dispatcher.stop()
    assert attempts == pending
    dead = scrape(client)
    assert value(dead, "tmf_outbox_dead_letters") == count_deliveries(app, "dead") == pending
    assert value(dead, "tmf_outbox_pending_deliveries") == 0
    assert value(dead, "tmf_outbox_oldest_pending_age_seconds") == 0
    delta = value(dead, "tmf_event_deliveries_total", outcome="dead") - value(
        backlog, "tmf_event_deliveries_total", outcome="dead"
    )
    assert delta == pending


def test_delivery_outcomes_delivered_and_retry(app, client, failing: Receiver) -> None:
    ok = Receiver()
    try:
        client.post(f"{ORDER_API}/hub", json={"callback": ok.url})
        client.post(f"{ORDER_API}/hub", json={"callback": failing.url})
        create_order(client)
        per_subscriber = count_deliveries(app, "pending") // 2
        before = scrape(client)
        dispatcher = Dispatcher(app.deps.sessions, allow_private=True, timeout_seconds=2.0)
        try:
            dispatcher.run_once()
        finally:
            dispatcher.stop()
        after = scrape(client)
    finally:
        ok.close()
    outcome = {
        name: value(after, "tmf_event_deliveries_total", outcome=name)
        - value(before, "tmf_event_deliveries_total", outcome=name)
        for name in ("delivered", "retry", "dead")
    }
    # The failing subscriber's run stops at its first failure; the rest of its run waits behind it.
    assert outcome == {"delivered": per_subscriber, "retry": 1, "dead": 0}
    assert value(after, "tmf_outbox_pending_deliveries") == count_deliveries(app, "pending") == per_subscriber


# --- the access record -------------------------------------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def access_records() -> Iterator[list[logging.LogRecord]]:
    """Records of tmfserver.access, whatever the logging configuration says about levels and propagation."""
    logger = logging.getLogger("tmfserver.access")
    captured, level = Captured(), logger.level
    logger.addHandler(captured)
    logger.setLevel(logging.INFO)
    yield captured.records
    logger.removeHandler(captured)
    logger.setLevel(level)


FIELDS = ("method", "path_template", "operation_id", "status", "duration_ms", "client", "request_id")


def fields(record: logging.LogRecord) -> dict:
    return {name: getattr(record, name) for name in FIELDS}


def test_one_access_record_per_request(client, access_records: list[logging.LogRecord]) -> None:
    created = client.post(ORDERS, json=KIT_ORDER, headers={"X-Request-ID": "req-create-1"})
    assert created.status_code == 201
    order_id = created.json()["id"]
    client.get(f"{ORDERS}/{order_id}")
    client.get("/health/live")
    client.get("/tmf-api/nowhere")
    client.put(f"{ORDERS}/{order_id}", json={})
    records = [r for r in access_records if r.name == "tmfserver.access"]
    assert len(records) == 5, [r.getMessage() for r in records]
    assert all(r.levelno == logging.INFO for r in records)
    create, retrieve, live, unknown, wrong_method = (fields(r) for r in records)

    assert create.pop("duration_ms") > 0
    assert create == {
        "method": "POST",
        "path_template": f"{ORDERS}",
        "operation_id": "createResourceOrder",
        "status": 201,
        "client": "testclient",
        "request_id": "req-create-1",
    }
    assert retrieve["path_template"] == f"{ORDERS}/{{id}}"
    assert retrieve["operation_id"] == "retrieveResourceOrder" and retrieve["status"] == 200
    assert retrieve["request_id"] != "-"
    assert (live["path_template"], live["operation_id"], live["status"]) == ("/health/live", None, 200)
    assert (unknown["path_template"], unknown["operation_id"], unknown["status"]) == (None, None, 404)
    assert (wrong_method["operation_id"], wrong_method["status"]) == (None, 405)
    assert records[0].getMessage().startswith(f"POST {ORDERS} 201 ")


def test_access_record_client_is_the_forwarded_one_behind_a_trusted_proxy(
    app, access_records: list[logging.LogRecord]
) -> None:
    _empty_tables(app)
    with app.test_client(client=("127.0.0.1", 40000)) as proxied:  # loopback: trusted by default
        proxied.get(CARTS, headers={"X-Forwarded-For": "203.0.113.9"})
    with app.test_client(client=("198.51.100.7", 40000)) as direct:  # not trusted: its header is ignored
        direct.get(CARTS, headers={"X-Forwarded-For": "203.0.113.9"})
    assert [r.client for r in access_records] == ["203.0.113.9", "198.51.100.7"]


# --- several worker processes ------------------------------------------------------------------------------


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_metrics_add_up_every_worker_process(database_url: str, tmp_path: Path, app) -> None:
    _empty_tables(app)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_1.db").write_bytes(b"stale")  # a previous run's file: removed at start
    settings = Settings(database_url=database_url)
    pool_size = make_engine(database_url, settings.db_pool_size, settings.db_max_overflow).pool.size()
    if database_url.startswith("postgresql"):  # the request handlers' async engine has a pool of its own
        requests_pool = make_async_engine(database_url, settings.db_pool_size, settings.db_max_overflow)
        pool_size += requests_pool.sync_engine.pool.size()
    env = {"TMF_BACKGROUND_WORKERS": "false", "TMF_METRICS_DIR": str(metrics_dir)}
    with live_server(database_url, tmp_path / "server.log", workers=2, env=env) as origin:
        for _ in range(12):
            get(f"{origin}{ORDERS}?limit=1")
        deadline = time.monotonic() + 20
        # Both workers have started (each reports its pool) once the sizes add up. A request is counted just
        # after its response is sent: a scrape right after the last answer may not see it yet, so wait too.
        while True:
            samples = parse(get(f"{origin}/metrics"))
            started = value(samples, "tmf_db_pool_size") == 2 * pool_size
            counted = requests_of(samples, "listResourceOrder", 200) == 12
            if (started and counted) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert value(samples, "tmf_db_pool_size") == 2 * pool_size
        assert requests_of(samples, "listResourceOrder", 200) == 12
        assert not (metrics_dir / "counter_1.db").exists()
        assert len(list(metrics_dir.glob("gauge_livesum_*.db"))) == 2
    # Each worker marked itself dead on shutdown: its gauges stop counting, its counters stay.
    assert list(metrics_dir.glob("gauge_livesum_*.db")) == []
    assert list(metrics_dir.glob("counter_*.db"))
