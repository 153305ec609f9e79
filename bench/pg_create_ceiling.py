"""PostgreSQL's own ceiling for this server's create: the statements of one `createResourceOrder`, replayed
by pgbench (a C client: next to no client CPU) with 32 clients, and the database's CPU per create.

    .venv/bin/python bench/pg_create_ceiling.py [--seconds 8] [--clients 32]   (make bench-pg-ceiling)

It creates a schema of its own on BENCH_PG_URL (bench/pg_schema.py), migrates it, makes one order through
the service layer (as a POST does, without HTTP) with every statement recorded as sent, and writes them as a
pgbench script (literal SQL; the order's id and event id become per-transaction variables). It prints the
transactions per second and the CPU the `postgres` processes used per transaction (from /proc, so only for
a database on this machine). With the server's CPU per create from `make bench`, this says how many creates
per second the machine's cores can give at all: (cores - wrk) / (server CPU + database CPU) per create.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from pg_schema import new_schema
from sqlalchemy import event, make_url

from tmfserver.bootstrap import wire
from tmfserver.cli import migrate
from tmfserver.clock import utc_now_iso
from tmfserver.services import resources
from tmfserver.services.orders import ORDER_KIND
from tmfserver.settings import Settings

ORDER = {  # as bench/http_bench.py posts
    "externalId": "seed-1",
    "description": "seeded order",
    "orderItem": [{"id": "1", "action": "add"}],
    "relatedParty": [{"id": "456-dd-df45", "@referredType": "Individual"}],
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def create_statements(database_url: str) -> tuple[list[str], bool]:
    """The SQL of one create, as the server sends it, with its parameters inlined (psycopg's mogrify), and
    whether it runs in a transaction (False: autocommit, store/deferred_inserts.py)."""
    deps = wire(Settings(database_url=database_url, background_workers=False)).deps
    sent: list[tuple[str, object]] = []
    autocommit: list[bool] = []

    def record(connection, _cursor, statement, parameters, _context, _many) -> None:
        sent.append((statement, parameters))
        autocommit.append(connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT")

    resources.create(deps, ORDER_KIND, dict(ORDER), "http://127.0.0.1:8000", utc_now_iso())  # warm caches
    event.listen(deps.engine, "before_cursor_execute", record)
    stored = resources.create(deps, ORDER_KIND, dict(ORDER), "http://127.0.0.1:8000", utc_now_iso())
    deps.engine.dispose()
    order_id = stored.document["id"]
    with psycopg.connect(_libpq(database_url)) as connection:
        cursor = psycopg.ClientCursor(connection)
        statements = [" ".join(cursor.mogrify(sql, parameters).split()) for sql, parameters in sent]
        found = connection.execute("SELECT event_id FROM outbox_event WHERE resource_id = %s", [order_id])
        event_ids = {row[0] for row in found}
    replaced = []
    for statement in statements:
        statement = statement.replace(order_id, "R:n")  # pgbench substitutes :n in the text
        for event_id in event_ids:
            statement = statement.replace(event_id, "E:n")
        replaced.append(statement)
    return replaced, not all(autocommit)


def postgres_cpu_seconds() -> float:
    """utime + stime of every `postgres` process alive now (backends included)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = status.read_text().rsplit(")", 1)
            if not fields[0].endswith("(postgres"):
                continue
            values = fields[1].split()
            total += int(values[11]) + int(values[12])
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return total / CLOCK_TICKS


def count_orders(conninfo: str) -> int:
    with psycopg.connect(conninfo) as connection:
        return connection.execute("SELECT count(*) FROM resource_order").fetchone()[0]


def _libpq(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8, help="measured window (pgbench runs 4 s longer)")
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    pgbench = shutil.which("pgbench")
    if not pgbench:
        sys.exit("ERROR: pgbench is not installed (it comes with the PostgreSQL client tools)")
    database_url, drop = new_schema("bench_ceiling")
    script_path: Path | None = None
    try:
        migrate(database_url)
        statements, in_transaction = create_statements(database_url)
        if in_transaction:
            statements = ["BEGIN", *statements, "COMMIT"]
        conninfo = _libpq(database_url)
        with tempfile.NamedTemporaryFile("w", suffix=".pgbench", delete=False) as script:
            script.write("\\set n random(1, 1000000000000)\n")
            script.write("".join(f"{statement};\n" for statement in statements))
        script_path = Path(script.name)
        shape = "in a transaction" if in_transaction else "in autocommit"
        print(f"one create: {len(statements)} statement(s) {shape}")
        url = make_url(database_url)
        command = [pgbench, "-n", "-c", str(args.clients), "-j", "2", "-T", str(args.seconds + 4)]
        command += ["-f", script.name, "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)]
        command += ["-U", url.username or "postgres", url.database or "postgres"]
        environment = {**os.environ, "PGOPTIONS": url.query["options"]}  # the schema's search_path
        run = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        time.sleep(2)  # connected and warm; the backends must be alive for their CPU to be read
        cpu, orders, start = postgres_cpu_seconds(), count_orders(conninfo), time.monotonic()
        time.sleep(args.seconds)
        cpu, orders = postgres_cpu_seconds() - cpu, count_orders(conninfo) - orders
        elapsed = time.monotonic() - start
        output = run.communicate()[0].decode()
        if run.returncode != 0 or "failed transactions: 0 " not in output:
            sys.exit(f"ERROR: pgbench failed:\n{output}")
        print(
            f"{orders / elapsed:.0f} creates/s; postgres used {cpu / elapsed:.2f} cores, "
            f"{1000 * cpu / orders:.3f} ms CPU per create ({args.clients} clients, {elapsed:.1f} s, "
            f"load average {os.getloadavg()[0]:.1f})"
        )
    finally:
        drop()
        if script_path:
            script_path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
