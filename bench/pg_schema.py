"""A PostgreSQL schema of its own for one benchmark run (imported by the scripts beside it)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable

from sqlalchemy import create_engine, make_url, text

PG_URL = os.environ.get("BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def new_schema(prefix: str) -> tuple[str, Callable[[], None]]:
    """Create `<prefix>_<random>` on BENCH_PG_URL's server; the URL pins search_path to it, `drop()` removes
    it (CASCADE)."""
    schema = f"{prefix}_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(PG_URL)
    url = url.set(query={**url.query, "options": f"-csearch_path={schema}"})

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return url.render_as_string(hide_password=False), drop
