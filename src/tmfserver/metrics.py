"""Prometheus metrics: what each server process counts, what the database says at scrape time, and the
multi-process mode of `tmfserver serve --workers N`.

Counters, histograms and the pool gauges live in each process (prometheus-client's default registry). With
several worker processes prometheus-client keeps them in memory-mapped files under PROMETHEUS_MULTIPROC_DIR,
which has to be in the environment before a process imports prometheus_client: the CLI calls
`prepare_multiprocess_metrics` before uvicorn spawns its workers (each imports the library afresh), and
/metrics then adds up the files of every worker. Outbox figures are read from the database at scrape time,
so they are right whichever process answers the scrape.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from pathlib import Path

from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import SQLAlchemyError

from .settings import Settings
from .store.errors import unavailability
from .store.models import Delivery, OutboxEvent

log = logging.getLogger("tmfserver.metrics")

# No `*_created` series: they double the output, and the multi-process mode has none.
disable_created_metrics()

# Requests without an operation of the served documents (unknown paths, wrong methods, /health, /metrics).
NO_OPERATION = "none"

REQUESTS = Counter(
    "tmf_http_requests",
    "HTTP requests answered, by operationId and status",
    ["operation_id", "status"],
)
REQUEST_SECONDS = Histogram(
    "tmf_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by operationId and status",
    ["operation_id", "status"],
)
DELIVERIES = Counter(
    "tmf_event_deliveries",
    "Event delivery attempts by outcome: delivered, retry (failed, tried again later), dead (retries spent)",
    ["outcome"],
)
# Pool gauges: each process reports its own pool; across workers the live processes are summed.
POOL_SIZE = Gauge(
    "tmf_db_pool_size",
    "Connections the database pool keeps open (QueuePool size)",
    multiprocess_mode="livesum",
)
POOL_CHECKED_OUT = Gauge(
    "tmf_db_pool_checked_out",
    "Database connections in use (checked out of the pool)",
    multiprocess_mode="livesum",
)
POOL_OVERFLOW = Gauge(
    "tmf_db_pool_overflow",
    "Database connections open beyond the pool size",
    multiprocess_mode="livesum",
)
# prometheus-client's own file names in PROMETHEUS_MULTIPROC_DIR.
METRIC_FILES = ("counter_*.db", "gauge_*.db", "histogram_*.db", "summary_*.db")


def multiprocess() -> bool:
    """Whether this process keeps its metric values in files: prometheus_client decided it at import, from
    PROMETHEUS_MULTIPROC_DIR."""
    return values.ValueClass is not values.MutexValue


def prepare_multiprocess_metrics(settings: Settings, workers: int) -> None:
    """Before uvicorn starts N > 1 worker processes: one empty directory for their metric files, exported as
    PROMETHEUS_MULTIPROC_DIR for the workers to inherit. A single process keeps its metrics in memory."""
    if workers <= 1:
        return
    if settings.metrics_dir:
        directory = Path(settings.metrics_dir)
        directory.mkdir(parents=True, exist_ok=True)
        for pattern in METRIC_FILES:  # a previous run's counts would be added to this run's
            for stale in directory.glob(pattern):
                stale.unlink()
    else:
        directory = Path(tempfile.mkdtemp(prefix="tmfserver-metrics-"))
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def mark_this_process_dead() -> None:
    """At a worker's shutdown: its pool gauges stop counting (its counters keep adding to the totals)."""
    if multiprocess():
        mark_process_dead(os.getpid())


class _PoolUsage:
    """One engine's share of the process's pool gauges, kept from the pool's events.

    Deltas, never `set`: a process may have several engines (tests, `tmfserver dispatch`) and each adds its
    own connections to the process's figures."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.open = 0
        self.overflow = 0
        self.lock = threading.Lock()
        POOL_SIZE.inc(size)

    def opened(self, delta: int) -> None:
        with self.lock:
            self.open += delta
            overflow = max(0, self.open - self.size)
            POOL_OVERFLOW.inc(overflow - self.overflow)
            self.overflow = overflow


def instrument_pool(engine: Engine) -> None:
    """Keep the pool gauges current from `engine`'s pool events (checkout/checkin, connect/close)."""
    size = engine.pool.size() if hasattr(engine.pool, "size") else 0  # QueuePool; SQLite :memory: has none
    usage = _PoolUsage(size)
    event.listen(engine, "checkout", lambda *_args: POOL_CHECKED_OUT.inc())
    event.listen(engine, "checkin", lambda *_args: POOL_CHECKED_OUT.dec())
    event.listen(engine, "connect", lambda *_args: usage.opened(1))
    event.listen(engine, "close", lambda *_args: usage.opened(-1))


class OutboxCollector(Collector):
    """Outbox figures read from the database at scrape time: one indexed query for the pending deliveries
    (count, oldest event), one for the dead letters. A database failure leaves them out of the scrape."""

    def __init__(self, engine: Engine, clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        pending_query = (
            select(func.count(Delivery.pk), func.min(OutboxEvent.created_at))
            .join(OutboxEvent, OutboxEvent.pk == Delivery.event_pk)
            .where(Delivery.state == "pending")
        )
        dead_query = select(func.count(Delivery.pk)).where(Delivery.state == "dead")
        try:
            with self.engine.connect() as connection:
                pending, oldest = connection.execute(pending_query).one()
                dead = connection.execute(dead_query).scalar_one()
        except SQLAlchemyError as exc:
            reason = unavailability(exc) or f"{exc.__class__.__name__}: {str(exc).splitlines()[0]}"
            log.warning("outbox metrics left out of this scrape: %s", reason)
            return
        if oldest is not None and oldest.tzinfo is None:  # SQLite returns the stored UTC time naive
            oldest = oldest.replace(tzinfo=UTC)
        age = max(0.0, self.clock() - oldest.timestamp()) if oldest is not None else 0.0
        yield GaugeMetricFamily(
            "tmf_outbox_pending_deliveries", "Event deliveries not yet delivered nor dead (backlog)", pending
        )
        yield GaugeMetricFamily(
            "tmf_outbox_oldest_pending_age_seconds",
            "Age of the oldest event with an undelivered delivery (0 when there is none)",
            age,
        )
        yield GaugeMetricFamily("tmf_outbox_dead_letters", "Deliveries whose retries are spent", dead)


class Exposition(Collector):
    """What /metrics shows for one app: this process's metrics (every worker's in multi-process mode), then
    the outbox figures from the database."""

    def __init__(self, engine: Engine) -> None:
        if multiprocess():
            self.processes = CollectorRegistry()
            MultiProcessCollector(self.processes)
        else:
            self.processes = REGISTRY
        self.outbox = OutboxCollector(engine)

    def collect(self) -> Iterator[Metric]:
        yield from self.processes.collect()
        yield from self.outbox.collect()

    def render(self) -> bytes:
        """The text exposition format; blocking (it queries the database)."""
        return generate_latest(self)


def observe_request(operation_id: str | None, status: int, seconds: float) -> None:
    labels = (operation_id or NO_OPERATION, str(status))
    REQUESTS.labels(*labels).inc()
    REQUEST_SECONDS.labels(*labels).observe(seconds)


def count_delivery(outcome: str) -> None:
    DELIVERIES.labels(outcome).inc()


__all__ = [
    "Exposition",
    "count_delivery",
    "instrument_pool",
    "mark_this_process_dead",
    "multiprocess",
    "observe_request",
    "prepare_multiprocess_metrics",
]
