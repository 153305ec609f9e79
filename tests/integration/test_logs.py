"""Log lines as an operator sees them: JSON lines from a command, readable lines on a terminal, the level,
and the notable events (migration applied, delivery failed, dead letter) with their facts as fields."""

from __future__ import annotations

import json
import logging
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from tests.live_server import live_server
from tests.receiver import Receiver
from tmfserver.cli import alembic_config
from tmfserver.logs import JsonLines
from tmfserver.notify.dispatcher import Dispatcher, RetryPolicy

from ._notify import ORDERS, Clock, create, deliveries, outbox_events, subscribe

ROOT = Path(__file__).resolve().parents[2]
TMFSERVER = Path(sys.executable).parent / "tmfserver"
# The migrations in order, oldest first, and the newest: read from migrations/versions, not repeated here.
REVISIONS = [
    script.revision
    for script in reversed(list(ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()))
]
HEAD = REVISIONS[-1]


def clean_env(**settings: str) -> dict[str, str]:
    """The outer environment without any setting, plus the given ones: a stray TMF_* must not decide."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TMF_") and k not in ("HOST", "PORT")}
    base.pop("DATABASE_URL", None)
    return {**base, **settings}


def migrate(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess:
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}", **settings)
    result = subprocess.run(
        [str(TMFSERVER), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result


def test_migrate_writes_one_json_object_per_line(tmp_path: Path) -> None:
    result = migrate(tmp_path)  # stderr is a pipe: auto means JSON
    lines = [json.loads(line) for line in result.stderr.splitlines()]  # every line parses
    applied = [line for line in lines if line["message"] == "migration applied"]  # one per revision
    assert len(applied) == len(REVISIONS)
    assert [(a["from_revision"], a["to_revision"]) for a in applied] == list(
        zip([None, *REVISIONS[:-1]], REVISIONS, strict=True)
    )
    assert applied[-1]["to_revision"] == HEAD
    for record in applied:
        assert record["logger"] == "tmfserver.migrations" and record["level"] == "INFO"
        assert record["direction"] == "upgrade" and record["request_id"] == "-"
        assert record["time"].endswith("Z")
    # Alembic's own lines would say the same thing again, in another format.
    assert not [line for line in lines if line["logger"].startswith("alembic")]


def test_migrating_an_up_to_date_database_applies_nothing(tmp_path: Path) -> None:
    migrate(tmp_path)
    again = migrate(tmp_path)
    assert "migration applied" not in again.stderr


def test_level_setting_drops_lower_records(tmp_path: Path) -> None:
    result = migrate(tmp_path, TMF_LOG_LEVEL="warning")
    assert result.stderr == ""  # the INFO record is below the level


def test_forced_text_format_is_readable(tmp_path: Path) -> None:
    result = migrate(tmp_path, TMF_LOG_FORMAT="text")
    line = result.stderr.splitlines()[-1]  # one line per revision; the last reaches head
    assert " INFO tmfserver.migrations [-] migration applied " in line
    assert f"to_revision={HEAD}" in line
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)


def test_a_terminal_gets_readable_lines(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'tty.db'}")
    process = subprocess.Popen(
        [str(TMFSERVER), "migrate"], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=terminal
    )
    os.close(terminal)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([controller], [], [], 60)
            assert ready, "no output from tmfserver migrate"
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        assert process.wait(timeout=60) == 0
    text = output.decode()
    assert "migration applied" in text and f"to_revision={HEAD}" in text
    assert not text.lstrip().startswith("{")


def test_serve_writes_json_lines_from_every_process_and_one_line_per_request(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with live_server(f"sqlite:///{tmp_path / 'served.db'}", log, workers=2) as origin:
        response = httpx.get(f"{origin}{ORDERS}?limit=1", headers={"X-Request-ID": "one-line-7"})
        assert response.status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # the workers' lines too
    [request] = [line for line in lines if line["request_id"] == "one-line-7"]  # not uvicorn's as well
    assert request["logger"] == "tmfserver.access"
    assert (request["method"], request["operation_id"], request["status"]) == ("GET", "listResourceOrder", 200)
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert not [line for line in lines if line["level"] in ("WARNING", "ERROR")]  # a clean start and stop
    server = [line for line in lines if line["logger"] == "tmfserver.server"]
    assert [line["message"] for line in server] == ["server starting", "server stopped"]
    assert server[0]["workers"] == 2
    # Each worker wrote its lines through its own writer thread, the last ones too (tmfserver.logs.QueuedLines).
    started = {
        line["message"].split()[-1] for line in lines if line["message"].startswith("Started server process")
    }
    finished = {
        line["message"].split()[-1] for line in lines if line["message"].startswith("Finished server process")
    }
    assert len(started) == 2 and finished == started


def test_serve_in_one_process_writes_its_last_lines_before_it_exits(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with live_server(f"sqlite:///{tmp_path / 'served.db'}", log) as origin:
        response = httpx.get(f"{origin}{ORDERS}?limit=1", headers={"X-Request-ID": "last-lines-1"})
        assert response.status_code == 200
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all("request_id" in line and "time" in line for line in lines)
    [request] = [line for line in lines if line["request_id"] == "last-lines-1"]
    assert {"method", "path_template", "operation_id", "status", "duration_ms", "client"} <= set(request)
    assert [line["message"].split(" [")[0] for line in lines[-3:]] == [
        "Application shutdown complete.",
        "Finished server process",
        "server stopped",
    ]


# --- notable events from the dispatcher ------------------------------------------------------------------


def test_failed_delivery_and_dead_letter_are_records_with_their_facts(app, client, caplog) -> None:
    receiver = Receiver(status=503)
    policy = RetryPolicy(base_seconds=10.0, cap_seconds=10.0, max_attempts=2, max_age_seconds=1e6)
    clock = Clock()
    dispatcher = Dispatcher(
        app.deps.sessions,
        policy=policy,
        allow_private=True,
        timeout_seconds=2.0,
        clock=clock,
        jitter=lambda: 0,
    )
    try:
        subscribe(client, receiver.url)
        create(client, ORDERS, {"description": "logged"})
        [event] = outbox_events(app)
        with caplog.at_level(logging.WARNING, logger="tmfserver.dispatcher"):
            assert dispatcher.run_once() == 1
            clock.advance(10)
            assert dispatcher.run_once() == 1
    finally:
        dispatcher.stop()
        receiver.close()
    [delivery] = deliveries(app)
    assert delivery.state == "dead"
    failed, dead = [r for r in caplog.records if r.name == "tmfserver.dispatcher"]
    expected = {
        "delivery_id": delivery.pk,
        "event_id": event.event_id,
        "event_type": "ResourceOrderCreateEvent",
        "callback": receiver.url,
        "error": "HTTP 503",
    }
    assert failed.levelno == logging.WARNING and failed.attempt == 1
    assert {k: getattr(failed, k) for k in expected} == expected
    assert failed.retry_in_seconds == pytest.approx(5.0)  # half the 10 s step, no jitter
    assert dead.levelno == logging.ERROR and dead.attempt == 2 and "dead letter" in dead.getMessage()
    assert {k: getattr(dead, k) for k in expected} == expected
    # The same facts are members of the JSON line.
    line = json.loads(JsonLines().format(dead))
    assert {k: line[k] for k in expected} == expected and line["attempt"] == 2
