"""SQLite's one writer per process (store/batch_writer.py): jobs queued while a batch runs share the next
transaction, each in its own savepoint; a failing job fails alone; answers come after the commit."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tmfserver.cli import migrate
from tmfserver.store.batch_writer import BatchWriter
from tmfserver.store.db import make_engine, make_session_factory
from tmfserver.store.models import Subscription
from tmfserver.store.unit_of_work import unit_of_work, use_immediate_transactions_on_sqlite


@pytest.fixture
def sessions(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'writer.db'}"
    migrate(url)
    engine = make_engine(url)
    use_immediate_transactions_on_sqlite(engine)
    yield make_session_factory(engine)
    engine.dispose()


def _subscribe(sessions, subscription_id: str) -> str:
    with unit_of_work(sessions, write=True) as uow:
        uow.subscriptions.add(subscription_id, "TMF652", "http://127.0.0.1/cb", None)
    return subscription_id


def _stored(sessions) -> list[str]:
    with sessions() as session:
        return sorted(session.scalars(select(Subscription.id)))


def _blocker(started: threading.Event, release: threading.Event):
    def job() -> None:
        started.set()
        assert release.wait(10)

    return job


async def _batch(writer: BatchWriter, jobs: list) -> list:
    """Hold the writer in one job, queue `jobs` behind it, release: they run together in the next batch."""
    started, release = threading.Event(), threading.Event()
    holding = asyncio.ensure_future(writer.submit(_blocker(started, release)))
    assert await asyncio.to_thread(started.wait, 10)
    queued = [asyncio.ensure_future(writer.submit(job)) for job in jobs]
    await asyncio.sleep(0.05)  # every job is on the queue
    release.set()
    await holding
    outcomes = []
    for future in queued:
        try:
            outcomes.append(await future)
        except Exception as error:
            outcomes.append(Raised(error))
    return outcomes


class Raised:
    def __init__(self, error: Exception) -> None:
        self.error = error


def test_one_failing_job_fails_alone_and_the_rest_of_its_batch_commits(sessions) -> None:
    _subscribe(sessions, "taken")
    writer = BatchWriter(sessions)

    async def scenario() -> tuple[list, int]:
        before = writer.batches
        results = await _batch(
            writer,
            [
                lambda: _subscribe(sessions, "a"),
                lambda: _subscribe(sessions, "taken"),  # violates the unique id
                lambda: _subscribe(sessions, "b"),
            ],
        )
        return results, writer.batches - before

    try:
        results, batches = asyncio.run(scenario())
    finally:
        writer.stop()
    assert results[0] == "a" and results[2] == "b"
    assert isinstance(results[1], Raised) and isinstance(results[1].error, IntegrityError)
    assert batches == 2  # the holding job's batch, then one transaction for the three queued jobs
    assert _stored(sessions) == ["a", "b", "taken"]


def test_a_failed_commit_fails_every_job_of_the_batch_and_stores_nothing(sessions, monkeypatch) -> None:
    writer = BatchWriter(sessions)
    failing = {"on": False}
    commit = Session.commit

    def commit_or_fail(self: Session) -> None:
        if failing["on"]:
            raise OSError("disk full")
        commit(self)

    monkeypatch.setattr(Session, "commit", commit_or_fail)

    async def scenario() -> list:
        def fail_from_now_on() -> None:
            failing["on"] = True

        return await _batch(writer, [lambda: _subscribe(sessions, "c"), fail_from_now_on])

    try:
        results = asyncio.run(scenario())
    finally:
        failing["on"] = False
        writer.stop()
    assert all(isinstance(result, Raised) and isinstance(result.error, OSError) for result in results)
    assert _stored(sessions) == []


def test_an_answer_comes_after_its_commit(sessions) -> None:
    """When a job's future settles, another connection already sees what it wrote."""
    writer = BatchWriter(sessions)

    async def scenario() -> list[bool]:
        seen = []
        for index in range(20):
            subscription_id = await writer.submit(lambda i=index: _subscribe(sessions, f"s{i}"))
            seen.append(subscription_id in _stored(sessions))
        return seen

    try:
        assert all(asyncio.run(scenario()))
    finally:
        writer.stop()


def test_stop_commits_what_is_queued(sessions) -> None:
    writer = BatchWriter(sessions)

    async def scenario() -> None:
        started, release = threading.Event(), threading.Event()
        pending = [asyncio.ensure_future(writer.submit(_blocker(started, release)))]
        assert await asyncio.to_thread(started.wait, 10)
        for index in range(5):
            pending.append(asyncio.ensure_future(writer.submit(lambda i=index: _subscribe(sessions, f"q{i}"))))
        await asyncio.sleep(0.05)
        release.set()
        await asyncio.to_thread(writer.stop)
        await asyncio.gather(*pending)

    asyncio.run(scenario())
    assert _stored(sessions) == [f"q{i}" for i in range(5)]
