"""A database outage as the rest of the code sees it: one exception, `DatabaseUnavailable`, and the pause-and-
log discipline of the loops that must wait it out.

SQLAlchemy reports an unreachable or unusable database in many shapes; `unavailability` recognises the
connection-level ones (and only those: a constraint violation or a bad statement stays what it is), and
`database_errors` turns them into `DatabaseUnavailable` around every unit of work and the by-id read. The
services hand it on in their own terms (`services.exceptions.Unavailable`), the web layer answers 503 with
`Retry-After` (web/error_responses.py), and the background loops back off with `Outage`
(docs/decisions/0039-database-outage-is-a-503.md).
"""

from __future__ import annotations

import logging
import random
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout


class DatabaseUnavailable(Exception):
    """The database cannot serve right now: unreachable, restarting, out of connections, read-only, locked
    past the busy timeout. Trying again later may succeed. `detail` (one line) is for logs, not clients."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


# SQLite result codes (the primary code: the low byte of the extended one) that say the database file cannot
# be used now, rather than that the statement is wrong: it cannot be opened, is read-only (file, mount or
# `query_only`), an I/O error, locked by another writer past `busy_timeout`, the disk is full, the WAL
# locking protocol failed.
SQLITE_UNAVAILABLE = frozenset(
    {
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_PROTOCOL,
    }
)
# PostgreSQL SQLSTATEs of the same kind: class 08 (connection exception), class 53 (insufficient resources:
# disk full, out of memory, too many connections), the server shutting down or starting (57P01, 57P02,
# 57P03), and a read-only transaction (25006: a hot standby, e.g. the old primary after a failover).
PG_UNAVAILABLE_CLASSES = ("08", "53")
PG_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "25006"})


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else error.__class__.__name__


def unavailability(error: BaseException) -> str | None:
    """Why `error` means the database is unavailable (one line), or None when it means something else."""
    if isinstance(error, DatabaseUnavailable):
        return error.detail
    if isinstance(error, PoolTimeout):
        return f"no pooled connection free in time ({_first_line(error)})"
    if not isinstance(error, DBAPIError):
        return None
    original = error.orig
    detail = f"{original.__class__.__name__}: {_first_line(original)}" if original else _first_line(error)
    if error.connection_invalidated:  # SQLAlchemy saw a disconnect and discarded the pool's connections
        return detail
    code = getattr(original, "sqlite_errorcode", None)
    if code is not None:
        return detail if code & 0xFF in SQLITE_UNAVAILABLE else None
    if isinstance(error, OperationalError | InterfaceError):
        sqlstate = getattr(original, "sqlstate", None)
        # psycopg: a failure on the client side of the connection (refused, timed out, lost) has no SQLSTATE.
        if sqlstate is None or sqlstate[:2] in PG_UNAVAILABLE_CLASSES or sqlstate in PG_UNAVAILABLE_STATES:
            return detail
    elif getattr(original, "sqlstate", None) in PG_UNAVAILABLE_STATES:  # 25006 arrives as InternalError
        return detail
    return None


@contextmanager
def database_errors() -> Iterator[None]:
    """Connection-level failures inside the block leave as `DatabaseUnavailable`; anything else unchanged."""
    try:
        yield
    except (DBAPIError, PoolTimeout) as error:
        detail = unavailability(error)
        if detail is None:
            raise
        raise DatabaseUnavailable(detail) from error


class Outage:
    """What a background loop (dispatcher, scheduler) remembers about the database: whether its last attempt
    failed, and how long to pause before the next one.

    `failed` logs one WARNING when the database goes away and returns the pause: exponential from `base`,
    capped at `cap`, with equal jitter (half fixed, half random) so that the processes of a deployment do not
    come back in step; `succeeded` logs one INFO when it is back and resets the pause. No traceback: an
    outage is an operating condition, not a bug."""

    def __init__(
        self,
        log: logging.Logger,
        *,
        base: float = 0.2,
        cap: float = 10.0,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.log = log
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.failures = 0

    @property
    def ongoing(self) -> bool:
        return self.failures > 0

    def failed(self, detail: str) -> float:
        self.failures += 1
        step = min(self.cap, self.base * 2 ** (self.failures - 1))
        pause = step / 2 + step / 2 * self.jitter()
        if self.failures == 1:
            self.log.warning(
                "database unavailable; pausing and retrying with backoff",
                extra={"error": detail, "max_pause_seconds": self.cap},
            )
        return pause

    def succeeded(self) -> None:
        if self.failures:
            self.log.info("database available again", extra={"failed_attempts": self.failures})
            self.failures = 0
