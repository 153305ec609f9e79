"""Events benchmark: delivery throughput of the outbox dispatcher, and what the outbox adds to a write.

In-process, no HTTP in front of the writes: the services layer writes through the same unit of work the
handlers use, a `Dispatcher` (background loop, as in the server) delivers to a local keep-alive receiver.

1. Write cost: median / p95 latency of creating a ResourceOrder (services.resources.create, one
   transaction incl. outbox rows) with 0, 1 and 5 hub subscriptions, and the writer thread's CPU per create
   (time.thread_time: less sensitive than latency to other load on the machine).
2. Throughput: EVENTS events are written first (dispatcher stopped), then the dispatcher is started and
   timed until every delivery is `delivered`. Two shapes: one event per resource (all independent), and
   EVENTS / 20 events on each of 20 resources (per-resource order must be kept).

Run with `make bench-events`. Options: --db sqlite|postgresql (BENCH_PG_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/test; a schema of its own, dropped afterwards), --events 2000,
--writes 600 (per subscription count), --workers 8 (dispatcher threads), --json build/bench/events_bench.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pg_schema import new_schema
from sqlalchemy import func, select

from tmfserver import specbuild
from tmfserver.app import create_app
from tmfserver.cli import migrate
from tmfserver.clock import utc_now_iso
from tmfserver.notify.dispatcher import Dispatcher
from tmfserver.services import notifications, resources
from tmfserver.services.orders import ORDER_KIND
from tmfserver.settings import Settings
from tmfserver.store.models import Base, Delivery

BASE_URL = "http://bench.local"
ORDER = {"orderItem": [{"id": "1", "action": "add"}], "description": "bench"}


class Receiver:
    """Counts POSTed events; HTTP/1.1 keep-alive so the dispatcher's connection pool is used."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver.lock:
                    receiver.count += 1
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/listener"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def empty(deps) -> None:
    with deps.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())


def subscribe(deps, callback: str, count: int) -> None:
    for _ in range(count):
        notifications.register(deps, "TMF652", callback, None)


def write_latency(deps, callback: str, writes: int, rounds: int = 3) -> list[dict]:
    """Rounds alternate 0, 1, 5 subscriptions so drift (cache, WAL growth) spreads evenly over them."""
    counts = (0, 1, 5)
    samples: dict[int, list[float]] = {n: [] for n in counts}
    cpu: dict[int, float] = dict.fromkeys(counts, 0.0)  # CPU seconds of this thread (the writer) only
    for _ in range(rounds):
        for subscriptions in counts:
            empty(deps)
            subscribe(deps, callback, subscriptions)
            for _ in range(10):  # warm-up
                resources.create(deps, ORDER_KIND, ORDER, BASE_URL, utc_now_iso())
            for _ in range(writes // rounds):
                started, started_cpu = time.perf_counter(), time.thread_time()
                resources.create(deps, ORDER_KIND, ORDER, BASE_URL, utc_now_iso())
                samples[subscriptions].append((time.perf_counter() - started) * 1000)
                cpu[subscriptions] += time.thread_time() - started_cpu
    rows = []
    for subscriptions in counts:
        ordered = sorted(samples[subscriptions])
        rows.append(
            {
                "subscriptions": subscriptions,
                "writes": len(ordered),
                "median_ms": statistics.median(ordered),
                "p95_ms": ordered[int(len(ordered) * 0.95) - 1],
                "cpu_ms": cpu[subscriptions] * 1000 / len(ordered),
            }
        )
    return rows


def pending(deps) -> int:
    with deps.sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(Delivery.state != "delivered"))


def throughput(deps, receiver: Receiver, events: int, resources_count: int | None, workers: int) -> dict:
    """resources_count None: one event per resource; otherwise events spread over that many resources."""
    empty(deps)
    subscribe(deps, receiver.url, 1)
    if resources_count is None:
        for _ in range(events):
            resources.create(deps, ORDER_KIND, ORDER, BASE_URL, utc_now_iso())
    else:
        ids = [
            resources.create(deps, ORDER_KIND, ORDER, BASE_URL, utc_now_iso()).document["id"]
            for _ in range(resources_count)
        ]
        for n in range(events - resources_count):
            change = resources.merge_patch({"description": f"change {n}"})
            resources.update(deps, ORDER_KIND, ids[n % resources_count], change, utc_now_iso())
    assert pending(deps) == events, pending(deps)
    receiver.count = 0
    dispatcher = Dispatcher(deps.sessions, allow_private=True, workers=workers, timeout_seconds=5.0)
    started = time.perf_counter()
    dispatcher.start(idle_seconds=0.01)
    try:
        while pending(deps):
            if time.perf_counter() - started > 600:
                raise SystemExit("deliveries did not finish within 600 s")
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
    finally:
        dispatcher.stop()
    assert receiver.count >= events, receiver.count
    return {
        "shape": "1 event per resource"
        if resources_count is None
        else f"{events // resources_count} per resource",
        "events": events,
        "seconds": elapsed,
        "events_per_second": events / elapsed,
    }


def database(db: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    if db == "sqlite":
        url, drop = f"sqlite:///{workdir / 'events_bench.db'}", lambda: None
    else:
        url, drop = new_schema("tmf_bench")
    migrate(url)
    return url, drop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--writes", type=int, default=600)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--json", default="build/bench/events_bench.json")
    args = parser.parse_args(argv)

    specbuild.build_all()
    with tempfile.TemporaryDirectory() as workdir:
        url, drop = database(args.db, Path(workdir))
        app = create_app(
            Settings(database_url=url, callback_allow_private=True, background_workers=False, log_level="ERROR")
        )
        deps = app.deps
        receiver = Receiver()
        try:
            latency = write_latency(deps, receiver.url, args.writes)
            rates = [
                throughput(deps, receiver, args.events, None, args.workers),
                throughput(deps, receiver, args.events, 20, args.workers),
            ]
        finally:
            receiver.close()
            deps.engine.dispose()
            drop()

    print(f"Events benchmark ({args.db}, {args.workers} dispatcher threads)")
    print("\n| subscriptions | create median (ms) | create p95 (ms) | create CPU (ms) |\n|---|---|---|---|")
    for row in latency:
        figures = (row["median_ms"], row["p95_ms"], row["cpu_ms"])
        print(f"| {row['subscriptions']} | " + " | ".join(f"{f:.2f}" for f in figures) + " |")
    print("\n| shape | events | seconds | events/s |\n|---|---|---|---|")
    for row in rates:
        print(f"| {row['shape']} | {row['events']} | {row['seconds']:.2f} | {row['events_per_second']:.0f} |")
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"db": args.db, "workers": args.workers, "latency": latency, "throughput": rates})
    )


if __name__ == "__main__":
    sys.exit(main())
