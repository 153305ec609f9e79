"""Operational endpoints outside the TMF base paths: `/health/live`, `/health/ready` and `/metrics`.

They sit in front of rate limiting and authentication (no token, no bucket: a probe or a scrape must never
be refused for being frequent), answer GET and HEAD only (anything else: a 405 TMF Error with `Allow`),
and never touch Connexion.

Readiness is three checks: the database answers (`SELECT 1`), its Alembic revision is the head of
migrations/ (computed once at start), and the background work (event dispatcher and cancellation scheduler)
is running when this process is meant to run it. A not-ready answer is a 503 TMF Error, like every other
failure a client sees, with the checks as the extension attribute `checks`: load balancers look only at
the status, an operator reads which check failed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread
from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import specbuild
from ..metrics import Exposition
from ..store.errors import unavailability
from .error_responses import error_body
from .middleware import send_tmf_error

log = logging.getLogger("tmfserver.health")

LIVE = "/health/live"
READY = "/health/ready"
METRICS = "/metrics"
PATHS = frozenset({LIVE, READY, METRICS})
MIGRATIONS_DIR = specbuild.PROJECT_ROOT / "migrations"

OK = "ok"
OFF = "off"  # a check that does not apply to this process (background work disabled)


class BackgroundLoops(Protocol):
    def alive(self) -> bool: ...


def migration_heads(migrations_dir: Path = MIGRATIONS_DIR) -> frozenset[str]:
    return frozenset(ScriptDirectory(str(migrations_dir)).get_heads())


class Readiness:
    """The checks behind `/health/ready`. The database checks run in a worker thread with a deadline
    (TMF_HEALTH_TIMEOUT_SECONDS); at most one runs at a time, so a hanging database ties up one thread."""

    def __init__(self, engine: Engine, timeout_seconds: float, background_expected: bool) -> None:
        self.engine = engine
        self.timeout = timeout_seconds
        self.background_expected = background_expected
        self.heads = migration_heads()
        self.background: BackgroundLoops | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._database_down = False

    def attach(self, background: BackgroundLoops) -> None:
        """The background work this process started (from the app's lifespan)."""
        self.background = background

    def _database(self) -> dict[str, str]:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            try:
                revisions = frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))
            except SQLAlchemyError:
                return {"database": OK, "migrations": "not migrated (no alembic_version table)"}
        if revisions != self.heads:
            found = ", ".join(sorted(revisions)) or "none"
            return {"database": OK, "migrations": f"at {found}, head is {', '.join(sorted(self.heads))}"}
        return {"database": OK, "migrations": OK}

    def _background(self) -> str:
        if not self.background_expected:
            return OFF
        if self.background is None:
            return "not started"
        return OK if self.background.alive() else "stopped"

    async def checks(self) -> dict[str, str]:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        try:
            with anyio.fail_after(self.timeout):
                checks = await anyio.to_thread.run_sync(
                    self._database, abandon_on_cancel=True, limiter=self._limiter
                )
        except TimeoutError:
            checks = {"database": f"no answer within {self.timeout:g} s", "migrations": "not checked"}
            self._note(checks["database"])
        except SQLAlchemyError as exc:
            checks = {"database": f"unreachable ({exc.__class__.__name__})", "migrations": "not checked"}
            self._note(unavailability(exc) or exc.__class__.__name__)
        else:
            self._note(None)
        checks["background"] = self._background()
        return checks

    def _note(self, error: str | None) -> None:
        """Log when the database check starts failing and when it passes again, not at every probe."""
        if error is not None and not self._database_down:
            log.warning("readiness: database unreachable", extra={"error": error})
        elif error is None and self._database_down:
            log.info("readiness: database reachable again")
        self._database_down = error is not None


def failed(checks: dict[str, str]) -> list[str]:
    return [name for name, outcome in checks.items() if outcome not in (OK, OFF)]


# Why: docs/decisions/0034-operational-endpoints-outside-base-paths.md
class OperationalEndpoints:
    """Serves `/health/live` (200 while the process runs), `/health/ready` (200 or 503) and `/metrics`."""

    def __init__(self, app: ASGIApp, readiness: Readiness, exposition: Exposition) -> None:
        self.app = app
        self.readiness = readiness
        self.exposition = exposition

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in PATHS:
            await self.app(scope, receive, send)
            return
        if scope["method"] not in ("GET", "HEAD"):
            message = f"{scope['method']} is not allowed on {path}"
            await send_tmf_error(send, 405, message, headers=[(b"allow", b"GET, HEAD")])
            return
        content_type = b"application/json"
        if path == LIVE:
            status, body = 200, json.dumps({"status": "live"}).encode()
        elif path == READY:
            checks = await self.readiness.checks()
            failing = failed(checks)
            if failing:
                message = "not ready: " + "; ".join(f"{name} {checks[name]}" for name in failing)
                status, body = 503, json.dumps({**error_body(503, message), "checks": checks}).encode()
            else:
                status, body = 200, json.dumps({"status": "ready", "checks": checks}).encode()
        else:
            status, body = 200, await anyio.to_thread.run_sync(self.exposition.render)
            content_type = CONTENT_TYPE_LATEST.encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})
