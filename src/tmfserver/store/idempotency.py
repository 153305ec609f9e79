"""The rows behind `Idempotency-Key`: the first response to a keyed POST, its fingerprint and expiry."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, text
from sqlalchemy.orm import Session

from .models import IdempotencyKey

# Core statements on the unit of work's connection: a keyed create needs no ORM object either.
_keys = IdempotencyKey.__table__
_this_key = (_keys.c.scope == bindparam("scope")) & (_keys.c.key == bindparam("key"))
_READ_KEY = select(_keys).where(_this_key)
_DELETE_EXPIRED_KEY = _keys.delete().where(_this_key, _keys.c.expires_at <= bindparam("now"))
_INSERT_KEY = _keys.insert()


def lock_id(scope: str, key: str) -> int:
    """A signed 64-bit number for (scope, key): the PostgreSQL advisory lock of that key."""
    digest = hashlib.sha256(f"{scope}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class IdempotencyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def try_lock(self, scope: str, key: str) -> bool:
        """Take the key for the rest of the transaction. PostgreSQL: a transaction-level advisory lock, False
        when another transaction holds it (never waits). SQLite: always True — a writing transaction holds
        the database's write lock from BEGIN IMMEDIATE on, so a second request with the key waits for the
        first to commit (busy_timeout) and then finds its row."""
        if self.session.get_bind().dialect.name != "postgresql":
            return True
        statement = text("SELECT pg_try_advisory_xact_lock(:id)")
        return bool(self.session.scalar(statement, {"id": lock_id(scope, key)}))

    def live(self, scope: str, key: str, now: datetime) -> Row | None:
        """The key's row (attributes named as the columns) unless expired; an expired row is deleted (the
        key is new again)."""
        connection = self.session.connection()
        connection.execute(_DELETE_EXPIRED_KEY, {"scope": scope, "key": key, "now": now})
        return connection.execute(_READ_KEY, {"scope": scope, "key": key}).one_or_none()

    def add(
        self,
        scope: str,
        key: str,
        fingerprint: str,
        status: int,
        body: Any,
        headers: dict[str, str],
        now: datetime,
        expires_at: datetime,
    ) -> None:
        row = {
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
            "status": status,
            "response_body": body,
            "response_headers": headers,
            "created_at": now,
            "expires_at": expires_at,
        }
        self.session.connection().execute(_INSERT_KEY, row)

    def purge_expired(self, now: datetime, limit: int) -> int:
        """Delete at most `limit` expired rows, oldest expiry first; how many were deleted."""
        oldest = (
            select(IdempotencyKey.pk)
            .where(IdempotencyKey.expires_at <= now)
            .order_by(IdempotencyKey.expires_at)
            .limit(limit)
        )
        result = self.session.execute(delete(IdempotencyKey).where(IdempotencyKey.pk.in_(oldest)))
        return result.rowcount or 0
