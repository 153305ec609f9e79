"""Run TM Forum's conformance kits (CTK) with newman against a live `tmfserver serve`.

    NEWMAN=/abs/path/to/newman python -m tests.conformance.ctk_run [--db=auto|sqlite|postgresql]

For each backend a real server process is started on a free port and a fresh database (a new SQLite file
under build/ctk/, or a new PostgreSQL schema that is dropped afterwards), then newman runs:

* TMF663 — TM Forum's official kit, read in place from `<repo>/../shared/ctk/TMF663-ShoppingCart/` (never
  copied into the repository), with its official environment; the base-URL variable the collection uses
  (`{{Shopping_Cart}}`) is overridden to point at our server, keeping the path `config.json` gives.
* TMF652 — our reconstruction `tests/conformance/tmf652_ctk.postman_collection.json` (TM Forum's TMF652 kit
  is not available; see ../shared/specs/ctk-report-notes.md).

Reports (cli on stdout; junit and json files) go to build/ctk/<backend>/. The exit status is non-zero when
any assertion fails, a run did not execute, or the server could not start. The server is always stopped.

Backends: `--db` (or TMF_CTK_DB) is `auto` by default: SQLite, and PostgreSQL too when it is reachable at
TMF_CTK_PG_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test). With CI=true an unreachable
PostgreSQL is an error, not a skip. `--db=postgresql` requires PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests.live_server import ServerError, live_server

REPO = Path(__file__).resolve().parents[2]
CTK_DIR = REPO.parent / "shared" / "ctk"
OUT_DIR = REPO / "build" / "ctk"
HERE = Path(__file__).resolve().parent
DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_NEWMAN = REPO / "build" / "node" / "node_modules" / ".bin" / "newman"
MAX_LISTED_FAILURES = 12


class CtkError(ServerError):
    """Something that prevents a conformance run (not an assertion failure)."""


@dataclass(frozen=True)
class Kit:
    name: str  # "TMF663"
    collection: Path
    environment: Path | None
    base_variable: str  # the variable the collection's URLs start with, e.g. Shopping_Cart
    api_path: str  # "/tmf-api/shoppingCart/v4/" (ends with "/")
    expected_requests: int


@dataclass
class RunResult:
    backend: str
    kit: str
    returncode: int
    requests: int = 0
    assertions: int = 0
    failed_assertions: int = 0
    failures: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return (
            self.returncode == 0
            and self.failed_assertions == 0
            and self.assertions > 0
            and self.requests > 0
            and not self.failures
        )


# --------------------------------------------------------------------------------------------- kits


def _config_path(config: dict, kit_dir: Path) -> str:
    """The API path from the kit's config.json `url` (which ends with `/`)."""
    url = str(config.get("url", "")).strip()
    path = urlsplit(url).path
    if not path.startswith("/tmf-api/") or not path.endswith("/"):
        raise CtkError(f"{kit_dir / 'config.json'}: unexpected url {url!r} (want …/tmf-api/…/v4/)")
    return path


def _post_bodies(collection: dict) -> list[str]:
    bodies: list[str] = []

    def walk(items: list[dict]) -> None:
        for item in items:
            if "item" in item:
                walk(item["item"])
            elif item.get("request", {}).get("method") == "POST":
                bodies.append(item["request"].get("body", {}).get("raw", ""))

    walk(collection.get("item", []))
    return bodies


def tmf663_kit() -> Kit:
    kit_dir = CTK_DIR / "TMF663-ShoppingCart"
    collection = kit_dir / "CTK-Shopping_Cart-4.0.0.postman_collection.json"
    environment = kit_dir / "TMFENV-V4.0.0.postman_environment.json"
    for path in (collection, environment, kit_dir / "config.json"):
        if not path.is_file():
            raise CtkError(f"TM Forum's TMF663 kit file is missing: {path}")
    config = json.loads((kit_dir / "config.json").read_text())
    # config.json says what the kit POSTs; the collection carries it inline. Check they agree (`{}`).
    payload = config["payloads"]["ShoppingCart"]["POST"]["payload"]
    bodies = _post_bodies(json.loads(collection.read_text()))
    if not bodies or any(json.loads(body or "null") != payload for body in bodies):
        raise CtkError(f"TMF663 collection POST bodies {bodies!r} differ from config.json payload {payload!r}")
    return Kit("TMF663", collection, environment, "Shopping_Cart", _config_path(config, kit_dir), 8)


def tmf652_kit() -> Kit:
    collection = HERE / "tmf652_ctk.postman_collection.json"
    return Kit("TMF652", collection, None, "Resource_Ordering", "/tmf-api/resourceOrderingManagement/v4/", 8)


# ---------------------------------------------------------------------------------------- databases


def pg_url() -> str:
    return os.environ.get("TMF_CTK_PG_URL") or os.environ.get("TMF_TEST_PG_URL") or DEFAULT_PG_URL


def pg_reachable(url: str) -> str | None:
    """None when PostgreSQL answers, else the reason."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return None
    except Exception as exc:  # any connection failure means "not there"
        return f"{exc.__class__.__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        engine.dispose()


@contextmanager
def sqlite_database(work_dir: Path) -> Iterator[str]:
    path = work_dir / "ctk.db"
    for leftover in work_dir.glob("ctk.db*"):
        leftover.unlink()
    yield f"sqlite:///{path}"


@contextmanager
def postgresql_database(base_url: str) -> Iterator[str]:
    """A fresh schema, created before and dropped (CASCADE) after; the URL pins search_path to it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    schema = f"tmf_ctk_{secrets.token_hex(4)}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base_url)
        url = url.set(query={**url.query, "options": f"-csearch_path={schema}"})
        # render_as_string percent-encodes the option: ?options=-csearch_path%3D<schema>
        yield url.render_as_string(hide_password=False)
    finally:
        try:
            with admin.connect() as connection:
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        finally:
            admin.dispose()


# ------------------------------------------------------------------------------------------- newman


def newman_path() -> Path:
    configured = os.environ.get("NEWMAN")
    path = Path(configured) if configured else DEFAULT_NEWMAN
    if not path.is_file():
        found = shutil.which("newman") if not configured else None
        if found:
            return Path(found)
        raise CtkError(f"newman not found at {path} (run `make ctk`, which installs newman into build/node)")
    return path


def run_kit(newman: Path, kit: Kit, origin: str, backend: str, work_dir: Path) -> RunResult:
    base = f"{origin}{kit.api_path}"
    junit = work_dir / f"{kit.name}.junit.xml"
    summary = work_dir / f"{kit.name}.newman.json"
    command = [str(newman), "run", str(kit.collection)]
    if kit.environment is not None:
        command += ["--environment", str(kit.environment)]
    command += [
        "--env-var",
        f"{kit.base_variable}={base}",
        "--color",
        "off",
        "--timeout-request",
        "30000",
        "--reporters",
        "cli,junit,json",
        "--reporter-junit-export",
        str(junit),
        "--reporter-json-export",
        str(summary),
    ]
    print(f"\n=== {kit.name} on {backend}: {kit.collection} → {base}", flush=True)
    completed = subprocess.run(command, cwd=work_dir, check=False)
    result = RunResult(backend, kit.name, completed.returncode)
    try:
        run = json.loads(summary.read_text())["run"]
    except (OSError, ValueError, KeyError):
        result.failures = ("newman wrote no summary",)
        return result
    stats = run["stats"]
    result.requests = stats["requests"]["total"]
    result.assertions = stats["assertions"]["total"]
    result.failed_assertions = stats["assertions"]["failed"]
    failures = [
        f"{f.get('source', {}).get('name', '?')}: {f.get('error', {}).get('test') or ''} "
        f"{f.get('error', {}).get('message', '')}".strip()
        for f in run.get("failures", [])
    ]
    if result.requests != kit.expected_requests:
        failures.append(f"{result.requests} requests sent, {kit.expected_requests} expected")
    result.failures = tuple(failures)
    return result


# --------------------------------------------------------------------------------------------- main


def backends(choice: str) -> list[str]:
    if choice == "sqlite":
        return ["sqlite"]
    url = pg_url()
    reason = pg_reachable(url)
    if choice == "postgresql":
        if reason:
            raise CtkError(f"PostgreSQL is not reachable at {url} ({reason}); --db=postgresql requires it")
        return ["postgresql"]
    if reason is None:
        return ["sqlite", "postgresql"]
    if os.environ.get("CI") == "true":
        raise CtkError(f"PostgreSQL is not reachable at {url} ({reason}); CI=true requires the PostgreSQL run")
    print(f"NOTE: PostgreSQL is not reachable at {url} ({reason}): CTK runs on SQLite only", flush=True)
    return ["sqlite"]


def run_backend(backend: str, newman: Path, kits: list[Kit]) -> list[RunResult]:
    work_dir = OUT_DIR / backend
    work_dir.mkdir(parents=True, exist_ok=True)
    database = sqlite_database(work_dir) if backend == "sqlite" else postgresql_database(pg_url())
    with database as database_url, live_server(database_url, work_dir / "server.log") as origin:
        return [run_kit(newman, kit, origin, backend, work_dir) for kit in kits]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ctk_run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--db",
        choices=("auto", "sqlite", "postgresql"),
        default=os.environ.get("TMF_CTK_DB") or "auto",
        help="auto (default): SQLite, plus PostgreSQL when reachable (required when CI=true)",
    )
    args = parser.parse_args(argv)

    results: list[RunResult] = []
    errors: list[str] = []
    try:
        newman = newman_path()
        kits = [tmf663_kit(), tmf652_kit()]
        chosen = backends(args.db)
    except CtkError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    for backend in chosen:
        try:
            results += run_backend(backend, newman, kits)
        except CtkError as exc:
            errors.append(f"{backend}: {exc}")
            print(f"ERROR: {backend}: {exc}", file=sys.stderr, flush=True)

    print("\n=== CTK summary (reports in build/ctk/<backend>/)")
    for r in results:
        verdict = "PASS" if r.ok else "FAIL"
        print(
            f"{verdict}  {r.kit} on {r.backend}: {r.requests} requests, {r.assertions} assertions, "
            f"{r.failed_assertions} failed"
        )
        for failure in r.failures[:MAX_LISTED_FAILURES]:
            print(f"      - {failure}")
        if len(r.failures) > MAX_LISTED_FAILURES:
            print(f"      … {len(r.failures) - MAX_LISTED_FAILURES} more (see newman's output above)")
    for error in errors:
        print(f"FAIL  {error.splitlines()[0]}")
    return 0 if results and not errors and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
