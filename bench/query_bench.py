"""Query benchmark: TMF630 filters over N stored ResourceOrders (see bench/README.md, "Query benchmark").

    .venv/bin/python bench/query_bench.py [N ...] [--database-url URL] [--repeat R]

Per size: a fresh SQLite file under build/bench/ migrated with `tmfserver.cli.migrate` (or, with
--database-url, that database, whose resource tables are emptied first), N realistic ~1 KB documents
inserted in bulk (resource_order rows and their search_value rows, the repository's own indexing, without
HTTP), then the median latency of each query over R repetitions: page + count, as repository.page does.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session

from tmfserver.cli import migrate
from tmfserver.clock import iso_ms
from tmfserver.query.parse import parse_query
from tmfserver.query.values import canonical_instant
from tmfserver.store import search
from tmfserver.store.db import make_engine
from tmfserver.store.models import ResourceOrder, SearchValue
from tmfserver.store.repository import DocumentRepository

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
BATCH = 10_000
PAGE = 20
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
ORDER_STATES = ["acknowledged"] * 10 + ["inProgress"] * 5 + ["completed"] * 80 + ["failed"] * 3 + ["held"] * 2
ITEM_STATES = ["completed"] * 93 + ["inProgress"] * 5 + ["failed"] + ["cancelled"]
PARTIES = 20_000


def document(index: int, rng: random.Random) -> dict:
    """A realistic resource order of about 1 KB."""
    order_id = f"ro-{index:09d}"
    ordered = EPOCH + timedelta(seconds=index * 60 + rng.randrange(60))
    items = [
        {
            "id": str(n),
            "action": "add",
            "quantity": rng.randint(1, 5),
            "state": rng.choice(ITEM_STATES),
            "resource": {"id": f"res-{index}-{n}", "name": "Mobile line", "@type": "LogicalResource"},
            "resourceSpecification": {"id": f"spec-{rng.randrange(50)}", "name": "MSISDN", "version": "1.0"},
            "@type": "ResourceOrderItem",
        }
        for n in (1, 2, 3)
    ]
    return {
        "id": order_id,
        "href": f"/tmf-api/resourceOrderingManagement/v4/resourceOrder/{order_id}",
        "@type": "ResourceOrder",
        "externalId": f"EXT-{index:09d}",
        "category": rng.choice(["mobile", "fixed", "iot"]),
        "description": "Order for the activation of mobile lines at a branch office",
        "priority": rng.randint(0, 4),
        "state": rng.choice(ORDER_STATES),
        "orderDate": iso_ms(ordered),
        "requestedStartDate": iso_ms(ordered + timedelta(days=1)),
        "requestedCompletionDate": iso_ms(ordered + timedelta(days=7)),
        "note": [
            {
                "id": "1",
                "author": "Jane Doe",
                "date": iso_ms(ordered),
                "text": "Customer asked for a callback.",
            },
            {"id": "2", "author": "System", "date": iso_ms(ordered), "text": "Validated."},
        ],
        "relatedParty": [
            {"id": f"party-{rng.randrange(PARTIES)}", "role": "customer", "@referredType": "Individual"},
            {"id": f"party-{rng.randrange(PARTIES)}", "role": "seller", "@referredType": "Organization"},
        ],
        "orderItem": items,
    }


def load(engine: Engine, size: int, seed: int = 1) -> float:
    """Bulk-insert `size` orders (pk 1..size); seconds taken."""
    rng = random.Random(seed)
    started = time.perf_counter()
    now = datetime.now(UTC)
    indexes = sorted(SearchValue.__table__.indexes, key=lambda index: index.name)
    with engine.begin() as connection:
        connection.execute(delete(SearchValue))
        connection.execute(delete(ResourceOrder))
        # Building the search_value indexes once at the end is much faster than maintaining them per row.
        for index in indexes:
            connection.exec_driver_sql(f"DROP INDEX IF EXISTS {index.name}")
    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    # Plain DBAPI executemany: the ORM/Core per-row overhead would dominate the load time.
    order_sql = (
        "INSERT INTO resource_order (pk, id, type, version, doc, created_at, updated_at, state, order_date,"
        f" external_id) VALUES ({', '.join([mark] * 10)})"
    )
    value_sql = (
        "INSERT INTO search_value (resource_type, resource_pk, path, v_text, v_num, v_time)"
        f" VALUES ({', '.join([mark] * 6)})"
    )
    stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else now
    for first in range(0, size, BATCH):
        orders, values = [], []
        for index in range(first, min(first + BATCH, size)):
            doc = document(index, rng)
            pk = index + 1
            orders.append(
                (
                    pk,
                    doc["id"],
                    doc["@type"],
                    1,
                    json.dumps(doc),
                    stamp,
                    stamp,
                    doc["state"],
                    canonical_instant(doc["orderDate"]),
                    doc["externalId"],
                )
            )
            values.extend(
                (ResourceOrder.resource_type, pk, path, text, number, instant)
                for path, text, number, instant in search.leaves(doc)
            )
        with engine.begin() as connection:
            if sqlite:
                connection.exec_driver_sql("PRAGMA synchronous=OFF")  # a benchmark file: no durability needed
            connection.exec_driver_sql(order_sql, orders)
            connection.exec_driver_sql(value_sql, values)
    with engine.begin() as connection:
        for index in indexes:
            index.create(connection)
        if engine.dialect.name == "postgresql":
            sequence = "pg_get_serial_sequence('resource_order', 'pk')"
            connection.exec_driver_sql(f"SELECT setval({sequence}, {max(size, 1)})")
        connection.exec_driver_sql("ANALYZE")
    return time.perf_counter() - started


def queries(size: int) -> dict[str, Callable[[Session], object]]:
    rng = random.Random(size)
    some_id = f"ro-{rng.randrange(size):09d}"
    party = f"party-{rng.randrange(PARTIES)}"
    recent = iso_ms(EPOCH + timedelta(seconds=int(size * 60 * 0.99)))

    def page(*pairs: tuple[str, str]) -> Callable[[Session], object]:
        query = parse_query([*pairs, ("limit", str(PAGE))])
        return lambda session: DocumentRepository(session, ResourceOrder).page(query)

    return {
        "get by id": lambda session: DocumentRepository(session, ResourceOrder).get(some_id),
        "list page 1": page(),
        "state=inProgress": page(("state", "inProgress")),
        "relatedParty.id=X": page(("relatedParty.id", party)),
        "orderItem.state=failed": page(("orderItem.state", "failed")),
        "orderDate.gt&sort=-orderDate": page(("orderDate.gt", recent), ("sort", "-orderDate")),
        "deepest page": page(("offset", str(max(size - PAGE, 0)))),
    }


def measure(engine: Engine, run: Callable[[Session], object], repeat: int) -> float:
    timings = []
    with Session(engine) as session:
        run(session)  # warm-up (caches, statement compilation)
        for _ in range(repeat):
            started = time.perf_counter()
            run(session)
            timings.append(time.perf_counter() - started)
            session.expunge_all()
    return statistics.median(timings) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="*", type=int, default=list(DEFAULT_SIZES))
    parser.add_argument("--database-url", help="benchmark this database instead of build/bench/*.db")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="query build/bench/query_<N>.db as a previous run left it instead of loading it again (to compare "
        "two versions of the code on one database: PYTHONPATH=<other checkout>/src .venv/bin/python ...)",
    )
    args = parser.parse_args(argv)

    results: dict[int, dict[str, float]] = {}
    for size in args.sizes:
        if args.database_url:
            url = args.database_url
        else:
            path = ROOT / "build" / "bench" / f"query_{size}.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            reused = args.reuse and path.exists()
            for stale in () if reused else path.parent.glob(f"{path.name}*"):
                stale.unlink()
            url = f"sqlite:///{path}"
        engine = make_engine(url)
        if args.database_url or not reused:
            migrate(url)
            seconds = load(engine, size)
            print(f"N={size}: loaded in {seconds:.1f}s", file=sys.stderr, flush=True)
        results[size] = {name: measure(engine, run, args.repeat) for name, run in queries(size).items()}
        engine.dispose()
        print(json.dumps({"size": size, "ms": results[size]}), file=sys.stderr, flush=True)

    names = list(next(iter(results.values())))
    header = "| query (median ms) | " + " | ".join(f"N={size:,}" for size in results) + " |"
    print(header)
    print("|" + "---|" * (len(results) + 1))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results[size][name]:.2f}" for size in results) + " |")


if __name__ == "__main__":
    main()
