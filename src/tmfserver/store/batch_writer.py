"""One writer per process for SQLite, with group commit.

SQLite lets one transaction write at a time, and with `synchronous=FULL` every commit waits for the disk.
Writers in many threads queue on the database lock (`busy_timeout`) and pay one sync each, which made creates
slow with second-long tails. Here every write of the process is a job on one queue, run by one thread: it
takes what is queued (up to `max_batch` jobs), runs them in ONE transaction with a savepoint per unit of work
(store/unit_of_work.py joins the batch through `BATCH_SESSION`), commits once, and only then settles each
job's future, so no answer is sent before its write is durable. A job that fails is rolled back to its
savepoint and gets its own error; the others commit. If the commit itself fails, every job of the batch gets
that error and nothing of it is stored. Readers use other connections and never wait (WAL).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from .errors import database_errors
from .unit_of_work import BATCH_SESSION

log = logging.getLogger("tmfserver.store")

T = TypeVar("T")
MAX_BATCH = 64  # jobs per transaction: bounds the work lost to a failed commit and the first job's wait


@dataclass
class _Job:
    run: Callable[[], Any]
    context: contextvars.Context  # the submitting request's (request id in logs, Connexion's request)
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


_STOP = object()


# Why: docs/decisions/0047-async-requests-and-sqlite-group-commit.md
class BatchWriter:
    def __init__(self, sessions: sessionmaker[Session], max_batch: int = MAX_BATCH) -> None:
        self.sessions = sessions
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.batches = 0  # committed or failed transactions (tests read it)

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="tmf-sqlite-writer", daemon=True)
                self._thread.start()

    def stop(self) -> None:
        """Run what is queued, then end the thread."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    async def submit(self, job: Callable[[], T]) -> T:
        """Run `job` in the next batch; its result (or exception) once the batch has committed."""
        self.start()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._queue.put(_Job(job, contextvars.copy_context(), loop, future))
        return await future

    def _serve(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stopping = True
                    break
                batch.append(job)
            self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        outcomes: list[tuple[bool, Any]] = []
        try:
            with database_errors(), self.sessions() as session:
                session.connection(execution_options={"tmf_write": True})  # BEGIN IMMEDIATE
                try:
                    outcomes = [self._call(session, job) for job in batch]
                    session.commit()
                except BaseException:
                    with contextlib.suppress(SQLAlchemyError):  # a connection that is gone cannot roll back
                        session.rollback()
                    raise
        except Exception as error:  # the transaction could not begin or commit: nothing of the batch stored
            log.warning("a write batch of %d failed: %s", len(batch), error)
            # A job that failed on its own keeps its error; the others get the batch's.
            outcomes = [outcome if not outcome[0] else (False, error) for outcome in outcomes] or [
                (False, error)
            ] * len(batch)
        finally:
            self.batches += 1
        for job, (ok, value) in zip(batch, outcomes, strict=True):
            with contextlib.suppress(RuntimeError):  # the submitting loop is closed: nobody waits any more
                job.loop.call_soon_threadsafe(_settle, job.future, ok, value)

    @staticmethod
    def _call(session: Session, job: _Job) -> tuple[bool, Any]:
        def call() -> Any:
            token = BATCH_SESSION.set(session)
            try:
                return job.run()
            finally:
                BATCH_SESSION.reset(token)

        try:
            return True, job.context.run(call)
        except Exception as error:  # this job's own error: its savepoint is rolled back, the batch goes on
            return False, error


def _settle(future: asyncio.Future, ok: bool, value: Any) -> None:
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
