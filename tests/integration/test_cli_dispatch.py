"""Operator commands: `tmfserver dispatch [--once]`, `tmfserver events dead-letters | replay`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.live_server import free_port
from tests.receiver import Receiver
from tmfserver.cli import main

from ._notify import ORDERS, create, deliveries, outbox_events, subscribe, wait_until

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture, *argv: str) -> list[dict]:
    capsys.readouterr()
    main(list(argv))
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]


def test_dead_letters_and_replay(app, client, database_url: str, monkeypatch, capsys) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("TMF_CALLBACK_ALLOW_PRIVATE", "true")
    monkeypatch.setenv("TMF_DELIVERY_MAX_ATTEMPTS", "1")
    receiver = Receiver(status=503)
    try:
        subscribe(client, receiver.url)
        create(client, ORDERS, {"description": "cli"})
        assert run(capsys, "events", "dead-letters") == []
        assert run(capsys, "dispatch", "--once") == [{"deliveriesAttempted": 1, "cancellationsRun": 0}]
        [event] = outbox_events(app)
        [dead] = run(capsys, "events", "dead-letters")
        assert dead["eventId"] == event.event_id
        assert dead["eventType"] == "ResourceOrderCreateEvent"
        assert dead["callback"] == receiver.url and dead["attempts"] == 1 and dead["lastError"] == "HTTP 503"
        assert run(capsys, "events", "replay", "--id", str(dead["id"] + 1000)) == [{"replayed": 0}]

        receiver.status = 201
        assert run(capsys, "events", "replay", "--id", str(dead["id"])) == [{"replayed": 1}]
        assert run(capsys, "events", "dead-letters") == []
        assert run(capsys, "dispatch", "--once")[0]["deliveriesAttempted"] == 1
        assert [e["eventId"] for e in receiver.events] == [event.event_id]
        assert [d.state for d in deliveries(app)] == ["delivered"]
        assert run(capsys, "events", "replay") == [{"replayed": 0}]
    finally:
        receiver.close()


@pytest.mark.slow
def test_dispatch_runs_until_sigterm_and_serves_its_metrics(client, database_url: str) -> None:
    receiver = Receiver()
    metrics_port = free_port()
    try:
        subscribe(client, receiver.url)
        create(client, ORDERS, {"description": "process"})
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "TMF_CALLBACK_ALLOW_PRIVATE": "true",
            "TMF_LOG_LEVEL": "WARNING",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "tmfserver.cli", "dispatch", "--metrics-port", str(metrics_port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            assert wait_until(lambda: len(receiver.events) == 1, timeout=20), process.stderr
            assert process.poll() is None  # keeps running

            def scraped() -> list[str]:  # the outcome is counted just after the receiver has the event
                return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text.splitlines()

            assert wait_until(lambda: 'tmf_event_deliveries_total{outcome="delivered"} 1.0' in scraped(), 10)
            assert "tmf_outbox_pending_deliveries 0.0" in scraped()
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=15) == 0, process.stderr.read().decode()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        receiver.close()
    assert receiver.events[0]["eventType"] == "ResourceOrderCreateEvent"
