"""Where a request's database work runs, so that the event loop never waits on the database.

The services are synchronous code over SQLAlchemy sessions; the request handlers are `async`. An execution
runs a service call (a job: a function of no arguments) for a handler:
- SQLite (`SqliteExecution`): writes go to the process's one `BatchWriter` thread (group commit); reads run
  on the loop's thread: a read of the local database file in WAL mode never waits for a lock, and costs less
  than a hand-off to a thread would.
- PostgreSQL (`GreenletExecution`): the job runs on the loop in a greenlet over SQLAlchemy's async engine
  (psycopg's async mode): each statement awaits the network instead of blocking, the same mechanism as
  `AsyncSession.run_sync`. Its `engine` and `sessions` (the async engine's synchronous facade) must be the
  ones the job uses; they work only inside such a job. Background threads and the CLI keep a plain engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.util import greenlet_spawn

from .batch_writer import BatchWriter

T = TypeVar("T")


class Execution(Protocol):
    # The engine and sessions a job must use, or None: the application's own.
    engine: Engine | None
    sessions: sessionmaker[Session] | None

    async def run(self, job: Callable[[], T], *, write: bool) -> T: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class SqliteExecution:
    engine = None
    sessions = None

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.writer = BatchWriter(sessions)

    async def run(self, job: Callable[[], T], *, write: bool) -> T:
        if write:
            return await self.writer.submit(job)
        return job()

    def start(self) -> None:
        self.writer.start()

    async def stop(self) -> None:
        self.writer.stop()


# Why: docs/decisions/0047-async-requests-and-sqlite-group-commit.md
class GreenletExecution:
    def __init__(self, async_engine: AsyncEngine, make_sessions: Callable[[Engine], Any]) -> None:
        self.async_engine = async_engine
        self.engine = async_engine.sync_engine
        self.sessions = make_sessions(self.engine)

    async def run(self, job: Callable[[], T], *, write: bool) -> T:
        return await greenlet_spawn(job)

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        # Pooled connections belong to the loop that opened them: close them with it.
        await self.async_engine.dispose()
