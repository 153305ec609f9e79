"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with --db=postgresql) and the app.

`--db=postgresql` (or TMF_TEST_DB=postgresql) runs the suite against TMF_TEST_PG_URL
(default postgresql+psycopg://postgres@127.0.0.1:5432/test) in a schema of its own, dropped afterwards.
"""

from __future__ import annotations

import contextlib
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
from tmfserver.logs import FORMATTERS, QueuedLines
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
        if isinstance(handler, QueuedLines) or isinstance(handler.formatter, tuple(FORMATTERS.values())):
            logging.root.removeHandler(handler)
            with contextlib.suppress(ValueError, OSError):  # the capture stream may be closed by now
                handler.close()  # QueuedLines: its writer thread ends
    logging.root.setLevel(level)
    logging.captureWarnings(False)


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--db")


# --- the served documents: built once, before the first module outside tests/unit is collected -----------


def stale_documents() -> list[specbuild.Pin]:
    """The pins whose build/openapi/<name>.json is missing or older than one of its build's inputs: its pin
    file, its patch files, its official file in the mirror (when there) and specbuild.py itself."""
    stale = []
    for pin_file in sorted(specbuild.OPENAPI_DIR.glob("*.pin.toml")):  # as specbuild.pins() reads them
        pin = specbuild.Pin.load(pin_file)
        target = specbuild.BUILD_DIR / f"{pin.name}.json"
        official = specbuild.DEFAULT_MIRROR / pin.file
        inputs = [pin_file, Path(specbuild.__file__), *pin.patches, *([official] if official.is_file() else [])]
        if not target.is_file() or any(
            not path.is_file() or path.stat().st_mtime_ns > target.stat().st_mtime_ns for path in inputs
        ):
            stale.append(pin)
    return stale


TESTS_DIR = Path(__file__).resolve().parent
_DOCUMENTS_CHECKED = pytest.StashKey[bool]()


def pytest_collectstart(collector: pytest.Collector) -> None:
    """`make openapi`, for the stale documents only (a few stat calls when none is), once per session, before
    the first module outside tests/unit is collected: every app and server serves the documents, and some
    modules make their tests from them at import (test_auth's operation matrix, the Schemathesis suites).
    tests/unit runs without them."""
    if not isinstance(collector, pytest.Module) or collector.config.stash.get(_DOCUMENTS_CHECKED, False):
        return
    if collector.path.resolve().is_relative_to(TESTS_DIR / "unit"):
        return
    collector.config.stash[_DOCUMENTS_CHECKED] = True
    try:
        for pin in stale_documents():
            specbuild.build(pin)
    except (specbuild.SpecBuildError, OSError) as exc:
        pytest.exit(f"the served documents (build/openapi/) could not be built: {exc}")


# --- tiers: `live` and `slow` tests, left out of `make test-fast` (-m "not live and not slow") -------------

# A test is `live` when its code -- the test function, every fixture it uses, and the functions and classes of
# tests/ that those name -- names one of these: it needs a real socket or process. Nobody marks it by hand;
# `pytest --collect-only -q -m live` lists them, and each mark's `reason` says what was found.
LIVE_NAMES = {
    "live_server": "a `tmfserver serve` process (tests/live_server.py)",
    "server_process": "a `tmfserver serve` process (tests/live_server.py)",
    "Receiver": "an HTTP server on 127.0.0.1 that the app delivers notifications to (tests/receiver.py)",
    "ThreadingHTTPServer": "an HTTP server of the test's own on 127.0.0.1",
    "subprocess": "another process, e.g. the `tmfserver` console script",
    "sync_playwright": "a headless browser (tests/ui)",
}

# Not live, but the slowest of the rest: `slow`, so that `make test-fast` stays under a minute on two cores.
# So is every Hypothesis property test (100 generated cases each, 2-6 s apiece).
SLOW_TESTS = {
    "tests/integration/test_query_engine.py::test_filter": "~90 filter cases x 3 resource tables, each loading "
    "its documents first (10-14 s); the sort and paging cases of the module stay in the fast tier",
    "tests/e2e/test_lifecycle_http.py::test_forbidden_order_transition": "every forbidden order transition "
    "over HTTP (~90 cases, 5-7 s); tests/unit/test_lifecycle.py checks the same table in-process",
    "tests/e2e/test_lifecycle_http.py::test_forbidden_item_transition": "every forbidden item transition "
    "over HTTP (~70 cases, 4-5 s); tests/unit/test_lifecycle.py checks the same table in-process",
    "tests/integration/test_notifications.py::test_private_callbacks_are_refused_unless_allowed": "builds a "
    "second app (`strict_app`, function-scoped) for each of its 8 callbacks: 4-7 s",
    "tests/integration/test_validation_differential.py::test_schemathesis_bodies_get_the_same_decision": "runs "
    "Schemathesis' generators (Hypothesis) on every body operation; the seeded corpus of the same module, in "
    "the fast tier, covers every operation too",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not isinstance(item, pytest.Function):
            continue
        live = set(_live_names(item.function))
        for fixturedefs in item._fixtureinfo.name2fixturedefs.values():
            live.update(*(_live_names(fixturedef.func) for fixturedef in fixturedefs))
        if live:
            item.add_marker(pytest.mark.live(reason="; ".join(LIVE_NAMES[name] for name in sorted(live))))
        slow = SLOW_TESTS.get(item.nodeid.partition("[")[0])
        if slow or getattr(item.function, "is_hypothesis_test", False):
            item.add_marker(pytest.mark.slow(reason=slow or "a Hypothesis property test"))


_LIVE_NAMES_OF: dict[object, frozenset[str]] = {}  # per test or fixture function


def _live_names(function: object) -> frozenset[str]:
    if function not in _LIVE_NAMES_OF:
        _LIVE_NAMES_OF[function] = frozenset(LIVE_NAMES.keys() & set(_names(function, set())))
    return _LIVE_NAMES_OF[function]


def _names(obj: object, seen: set[int]) -> Iterator[str]:
    """The names `obj`'s code uses (its nested functions and classes included), then those of the functions
    and classes of tests/ that it names, and so on."""
    if id(obj) in seen:
        return
    seen.add(id(obj))
    if isinstance(obj, type):
        if obj.__module__.startswith("tests."):
            for member in vars(obj).values():
                yield from _names(member, seen)
        return
    code = getattr(obj, "__code__", None)
    if code is None or not Path(code.co_filename).resolve().is_relative_to(TESTS_DIR):
        return
    namespace = getattr(obj, "__globals__", {})
    codes = [code]
    while codes:
        code = codes.pop()
        for name in code.co_names:
            yield name
            if name in namespace:
                yield from _names(namespace[name], seen)
        codes.extend(const for const in code.co_consts if isinstance(const, type(code)))


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
