"""A keyed POST whose server dies after the commit and before the answer: the client's retry, with the same
`Idempotency-Key`, to the restarted server gets the order that was created — not a second one.

The crash is made deterministic by the test-only setting TMF_TEST_FAILPOINT=exit-after-idempotent-commit
(services/idempotency.py: `os._exit(1)` right after the unit of work commits, before the response is sent).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from tests.live_server import free_port, live_server, server_process
from tmfserver.store.models import IdempotencyKey, ResourceOrder

from ._notify import ORDERS

ORDER = {"orderItem": [{"id": "1", "action": "add"}], "description": "crash"}
KEY = {"Idempotency-Key": "crash-1"}


def test_retry_after_a_crash_between_commit_and_answer(request, backend: str, tmp_path: Path) -> None:
    if backend == "postgresql":
        request.getfixturevalue("client")  # empties the suite's schema; the server uses the same one
        database_url = request.getfixturevalue("database_url")
    else:
        database_url = f"sqlite:///{tmp_path / 'crash.db'}"
    port = free_port()
    env = {"TMF_LOG_LEVEL": "WARNING"}
    engine = create_engine(database_url)
    try:
        failing = {**env, "TMF_TEST_FAILPOINT": "exit-after-idempotent-commit"}
        with (
            server_process(database_url, tmp_path / "crash.log", env=failing, port=port) as (origin, process),
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            with pytest.raises(httpx.TransportError):  # the connection closes without an answer
                http.post(ORDERS, json=ORDER, headers=KEY)
            assert process.wait(timeout=10) != 0
        with engine.connect() as connection:
            created = connection.scalars(select(ResourceOrder.id)).all()
        assert len(created) == 1  # committed before the process died

        with (
            live_server(database_url, tmp_path / "restart.log", env=env, port=port) as origin,
            httpx.Client(base_url=origin, timeout=10) as http,
        ):
            retry = http.post(ORDERS, json=ORDER, headers=KEY)
            assert retry.status_code == 201, retry.text
            assert retry.json()["id"] == created[0]
            assert retry.headers["location"].endswith(f"{ORDERS}/{created[0]}")
            assert http.get(ORDERS).headers["X-Total-Count"] == "1"
        with engine.connect() as connection:
            assert connection.scalar(select(func.count()).select_from(ResourceOrder)) == 1
            assert connection.scalar(select(func.count()).select_from(IdempotencyKey)) == 1
    finally:
        engine.dispose()
