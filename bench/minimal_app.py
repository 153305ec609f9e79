"""The minimum Connexion app of the HTTP benchmark (bench/README.md "Against the minimum Connexion app").

What a request costs in the framework alone, next to what it costs in this server: the same served TMF652
document (build/openapi/TMF652.json, passed as a dict like the server does) in a plain Connexion 3 AsyncApp
with the server's validation settings (src/tmfserver/app.py): `strict_validation=False`, `validate_responses`
off (the production default), `resolver_error=501`, and the server's JSON body validators
(`tmfserver.web.validation.validator_map`, imported alone: that module needs only Connexion and jsonschema).
No middleware of its own; Connexion's defaults otherwise (its Swagger UI included).

Handlers are async and do the least a real server must, on one stdlib sqlite3 connection per process, called
on the event loop (no worker thread, no ORM, no pool), or with `--pg URL` on PostgreSQL through psycopg's async
connections (autocommit, `synchronous_commit=on` like the server, a small pool of its own per process: the
targets minimal-pg-N, the ceiling of what this server could reach on PostgreSQL on the same machine):
- retrieveResourceOrder: one SELECT by id → 200 with the stored document, or 404;
- listResourceOrder: one page SELECT (`state` filter from the query string, `limit`/`offset`, newest first,
  an index on (state, pk)) → 200 with the page and X-Result-Count (no count query, no Link header);
- createResourceOrder: one INSERT in its own transaction (WAL) → 201 with the document and Location.
Every other operationId resolves to nothing, so Connexion answers 501.

Run (the harness does): `python bench/minimal_app.py --db PATH|--pg URL --port PORT --workers N`; it creates
the table (like `tmfserver serve` migrates first), then runs uvicorn with the server's options (access log and
server header off). BENCH_MINIMAL_SYNCHRONOUS (default FULL, the server's default: TMF_SQLITE_SYNCHRONOUS)
sets PRAGMA synchronous.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sqlite3
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connexion import AsyncApp, request
from connexion.resolver import Resolver

HERE = Path(__file__).resolve().parent
DOCUMENT = HERE.parent / "build" / "openapi" / "TMF652.json"
DB_ENV = "BENCH_MINIMAL_DB"
PG_ENV = "BENCH_MINIMAL_PG"
PG_POOL = 10  # connections per process (the server's request pool: pool_size 5 + max_overflow 10)
SYNCHRONOUS = os.environ.get("BENCH_MINIMAL_SYNCHRONOUS", "FULL").upper()
if SYNCHRONOUS not in ("OFF", "NORMAL", "FULL", "EXTRA"):
    sys.exit(f"BENCH_MINIMAL_SYNCHRONOUS must be OFF, NORMAL, FULL or EXTRA, not {SYNCHRONOUS!r}")
MAX_LIMIT = 1000  # the server's defaults (settings.py: default_limit, max_limit)
DEFAULT_LIMIT = 100

try:
    from tmfserver.web.validation import validator_map

    # The server's defaults (settings.py: max_json_depth, max_array_items, max_string_length).
    VALIDATOR_MAP: dict | None = validator_map(32, 1000, 10_000)
    VALIDATORS = "tmfserver.web.validation"
except ImportError:  # pragma: no cover - the project is installed in .venv
    VALIDATOR_MAP = None
    VALIDATORS = "Connexion's default"

SCHEMA = """
CREATE TABLE IF NOT EXISTS resource_order (
    pk INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_resource_order_state ON resource_order (state, pk);
"""

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS resource_order (
    pk BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    state TEXT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_resource_order_state ON resource_order (state, pk);
"""

_connection: sqlite3.Connection | None = None


def connect(path: str) -> sqlite3.Connection:
    # Autocommit (isolation_level=None): each statement is its own transaction, so a create is one INSERT
    # and one commit. check_same_thread=False only because uvicorn may finish the loop in another thread.
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA busy_timeout=10000")
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
    return connection


def db() -> sqlite3.Connection:
    global _connection
    if _connection is None:
        _connection = connect(os.environ[DB_ENV])
    return _connection


def prepare(path: str) -> None:
    """The table and its index (journal_mode=WAL is stored in the file)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.executescript(SCHEMA)


class PostgreSQL:
    """psycopg async connections, opened on demand up to PG_POOL and handed out through a queue."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.opened = 0
        self.idle: asyncio.Queue | None = None

    @contextlib.asynccontextmanager
    async def connection(self) -> Any:
        import psycopg

        if self.idle is None:
            self.idle = asyncio.Queue()
        if self.idle.empty() and self.opened < PG_POOL:
            self.opened += 1
            connection = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
            await connection.execute("SET synchronous_commit TO on")
        else:
            connection = await self.idle.get()
        try:
            yield connection
        finally:
            self.idle.put_nowait(connection)

    async def rows(self, sql: str, args: tuple) -> list[tuple]:
        async with self.connection() as connection:
            cursor = await connection.execute(sql.replace("?", "%s"), args)
            return await cursor.fetchall() if cursor.description else []


_postgresql: PostgreSQL | None = None


async def rows(sql: str, args: tuple) -> list[tuple]:
    """Run one statement (`?` placeholders) on this process's database; its rows."""
    global _postgresql
    if PG_ENV in os.environ:
        if _postgresql is None:
            _postgresql = PostgreSQL(os.environ[PG_ENV])
        return await _postgresql.rows(sql, args)
    return db().execute(sql, args).fetchall()


def prepare_postgresql(conninfo: str) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as connection:
        for statement in filter(str.strip, PG_SCHEMA.split(";")):
            connection.execute(statement)


def _not_found(order_id: str) -> tuple[dict, int]:
    return {"code": "404", "reason": "Not Found", "message": f"no ResourceOrder {order_id}"}, 404


async def retrieve(id: str, fields: str | None = None) -> tuple:
    found = await rows("SELECT doc FROM resource_order WHERE id = ?", (id,))
    if not found:
        return _not_found(id)
    return json.loads(found[0][0]), 200


async def list_page(fields: str | None = None, offset: int | None = None, limit: int | None = None) -> tuple:
    # `state` is not in the document (TMF630 filters): read it from the query string rather than through a
    # **kwargs handler argument, which makes Connexion log an error per request for each such parameter.
    state = request.query_params.get("state")
    limit = DEFAULT_LIMIT if limit is None else min(max(limit, 0), MAX_LIMIT)
    offset = max(offset or 0, 0)
    if state is None:
        sql, args = "SELECT doc FROM resource_order ORDER BY pk DESC LIMIT ? OFFSET ?", (limit, offset)
    else:
        sql = "SELECT doc FROM resource_order WHERE state = ? ORDER BY pk DESC LIMIT ? OFFSET ?"
        args = (state, limit, offset)
    documents = [json.loads(doc) for (doc,) in await rows(sql, args)]
    return documents, 200, {"X-Result-Count": str(len(documents))}


async def create(resourceOrder: dict) -> tuple:
    order_id = str(uuid.uuid4())
    href = f"http://{request.headers.get('host', 'localhost')}{BASE_PATH}/resourceOrder/{order_id}"
    document = {
        **resourceOrder,
        "id": order_id,
        "href": href,
        "@type": resourceOrder.get("@type", "ResourceOrder"),
        "state": "acknowledged",
        "orderDate": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }
    await rows(
        "INSERT INTO resource_order (id, state, doc) VALUES (?, ?, ?)",
        (order_id, document["state"], json.dumps(document)),
    )
    return document, 201, {"Location": href}


HANDLERS = {
    "retrieveResourceOrder": retrieve,
    "listResourceOrder": list_page,
    "createResourceOrder": create,
}


class SmallResolver(Resolver):
    """operationId → one of HANDLERS; anything else is unresolved, so Connexion answers 501 (resolver_error)."""

    def __init__(self) -> None:
        super().__init__(function_resolver=self._function)

    @staticmethod
    def _function(operation_id: str) -> Any:
        try:
            return HANDLERS[operation_id]
        except KeyError:
            raise ImportError(f"not implemented in the minimal app: {operation_id}") from None


class PassSecurity:
    """The document declares apiKey/oauth2 schemes; without a handler per scheme Connexion's SecurityMiddleware
    refuses every request. The server gives it one that reports the caller its own middleware verified
    (web/auth.py DelegatedSecurity: {} when auth is off, as in the benchmark); this is the same, minus that
    middleware."""

    def get_fn(self, _scheme: dict, _scopes: list[str]) -> Any:
        def verified(_request: Any) -> dict:
            return {}

        return verified


def create_app() -> AsyncApp:
    document = json.loads(DOCUMENT.read_text())
    app = AsyncApp(__name__)
    options: dict[str, Any] = {}
    if VALIDATOR_MAP is not None:
        options["validator_map"] = VALIDATOR_MAP
    app.add_api(
        document,
        resolver=SmallResolver(),
        resolver_error=501,
        validate_responses=False,
        strict_validation=False,
        security_map={"oauth2": PassSecurity, "apiKey": PassSecurity},
        **options,
    )
    return app


BASE_PATH = json.loads(DOCUMENT.read_text())["basePath"].rstrip("/") if DOCUMENT.exists() else ""
# Built in each uvicorn worker, not in the launcher.
app = create_app() if DB_ENV in os.environ or PG_ENV in os.environ else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    database = parser.add_mutually_exclusive_group(required=True)
    database.add_argument("--db", help="SQLite file (created if missing)")
    database.add_argument("--pg", help="PostgreSQL URL, libpq form (the table is created if missing)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    if args.pg:
        prepare_postgresql(args.pg)
        os.environ[PG_ENV] = args.pg
        storage = f"PostgreSQL, synchronous_commit=on, {PG_POOL} connections per process"
    else:
        prepare(args.db)
        os.environ[DB_ENV] = str(Path(args.db).resolve())
        storage = f"SQLite, PRAGMA synchronous={SYNCHRONOUS}"
    facts = f"validators {VALIDATORS}, {storage}, {args.workers} process(es)"
    print(f"minimal app: {facts}", file=sys.stderr, flush=True)

    import uvicorn

    uvicorn.run(
        "minimal_app:app",
        app_dir=str(HERE),
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )


if __name__ == "__main__":
    main()
