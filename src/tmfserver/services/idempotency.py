"""Safe retries of POSTs that create something (IETF HTTPAPI draft "The Idempotency-Key HTTP Header Field").

A keyed POST runs in one unit of work that also stores its first response (status, body, headers) under
(scope, key); a retry with the same key and the same request gets that response again and creates nothing,
with another request 422, while the first is still running 409 (PostgreSQL) or a wait then the replay
(SQLite). Why the response is stored, not rebuilt: docs/decisions/0041-idempotency-key.md.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from ..store.unit_of_work import UnitOfWork
from .dependencies import Dependencies
from .exceptions import Conflict, Unprocessable

log = logging.getLogger("tmfserver.idempotency")

# What a handler answers: body, status, headers (the first response, stored as it was sent).
Reply = tuple[Any, int, dict[str, str]]
PURGE_BATCH = 1000  # expired keys deleted per scheduler pass (a bounded DELETE)
EXIT_AFTER_COMMIT = "exit-after-idempotent-commit"  # TMF_TEST_FAILPOINT, test only


@dataclass(frozen=True)
class RequestKey:
    """A client's `Idempotency-Key` and what it is scoped to, as the web layer read them."""

    scope: str  # the authenticated client's subject; "" when authentication is off
    key: str
    method: str
    path: str

    def fingerprint(self, body: Any) -> str:
        """SHA-256 of the method, the path and the body as canonical JSON (sorted keys, no spaces)."""
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(f"{self.method}\n{self.path}\n{canonical}".encode()).hexdigest()


def run_once(
    deps: Dependencies, request_key: RequestKey | None, body: Any, write: Callable[[UnitOfWork], Reply]
) -> Reply:
    """`write` in a writing unit of work; with a key, at most once per (scope, key) within the retention:
    a repeat gets the stored first reply. A refused request (an exception) stores nothing: a retry runs
    again."""
    if request_key is None:
        with deps.unit_of_work(write=True) as uow:
            return write(uow)
    fingerprint = request_key.fingerprint(body)
    scope, key = request_key.scope, request_key.key
    with deps.unit_of_work(write=True) as uow:
        keys = uow.idempotency
        if not keys.try_lock(scope, key):
            raise Conflict("a request with this Idempotency-Key is still in progress")
        now = datetime.now(UTC)
        stored = keys.live(scope, key, now)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise Unprocessable("this Idempotency-Key was already used with a different request")
            return stored.response_body, stored.status, dict(stored.response_headers)
        reply_body, status, headers = write(uow)
        expires_at = now + timedelta(seconds=deps.settings.idempotency_retention_seconds)
        keys.add(scope, key, fingerprint, status, reply_body, dict(headers), now, expires_at)
        if deps.settings.test_failpoint == EXIT_AFTER_COMMIT:
            uow.after_commit(_exit_before_answering)
    return reply_body, status, headers


def _exit_before_answering() -> None:
    log.warning("test failpoint %s: exiting after the commit, before the response", EXIT_AFTER_COMMIT)
    logging.shutdown()
    os._exit(1)


def purge_expired(deps: Dependencies, limit: int = PURGE_BATCH) -> int:
    """Delete up to `limit` expired keys (the scheduler calls this every pass); how many."""
    with deps.unit_of_work(write=True) as uow:
        return uow.idempotency.purge_expired(datetime.now(UTC), limit)
