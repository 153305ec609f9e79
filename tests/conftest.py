"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with --db=postgresql) and the app.

`--db=postgresql` (or TMF_TEST_DB=postgresql) runs the suite against TMF_TEST_PG_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test) in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tmfserver import specbuild
from tmfserver.app import create_app
from tmfserver.cli import migrate
from tmfserver.logs import FORMATTERS
from tmfserver.settings import Settings
from tmfserver.store.models import Base

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("TMF_TEST_DB", "sqlite"),
        choices=("sqlite", "postgresql"),
        help="database backend for the whole suite",
    )


@pytest.fixture(autouse=True)
def _undo_process_logging() -> Iterator[None]:
    """A command run in-process (`cli.main`, a uvicorn Config) sets up logging for the whole process
    (tmfserver.logs): take its handler off again, or later tests would log into a closed capture stream."""
    level = logging.root.level
    yield
    for handler in list(logging.root.handlers):
        if isinstance(handler.formatter, tuple(FORMATTERS.values())):
            logging.root.removeHandler(handler)
    logging.root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--db")


@pytest.fixture(scope="session", autouse=True)
def served_documents() -> None:
    specbuild.build_all()


def _postgres_schema_url(base_url: str, schema: str) -> str:
    url = make_url(base_url)
    return url.set(query={**url.query, "options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "test.db"
        url = f"sqlite:///{path}"
        migrate(url)
        yield url
        return
    base = os.environ.get("TMF_TEST_PG_URL", DEFAULT_PG_URL)
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {base}: {exc.__class__.__name__}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.exit(message, returncode=3)
        pytest.skip(message)
    schema = f"tmf_test_{secrets.token_hex(4)}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = _postgres_schema_url(base, schema)
    try:
        migrate(url)
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        validate_responses=True,
        public_base_url="",
        callback_allow_private=True,
        background_workers=False,  # tests drive the dispatcher and scheduler themselves
    )


@pytest.fixture(scope="session")
def app(settings: Settings):
    return create_app(settings)


def _empty_tables(app) -> None:
    tables = [t for t in reversed(Base.metadata.sorted_tables)]
    with app.deps.engine.begin() as connection:
        for table in tables:
            connection.execute(table.delete())


@pytest.fixture
def client(app):
    _empty_tables(app)
    with app.test_client() as test_client:
        yield test_client
