"""The README's curl walk-through, run as written against a live server: the documentation cannot drift."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.live_server import live_server
from tests.receiver import Receiver

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- walkthrough:start -->\n```sh\n(.*?)\n```\n<!-- walkthrough:end -->", re.S)


def walkthrough_script() -> str:
    found = BLOCK.search((ROOT / "README.md").read_text())
    assert found, "README.md has no walk-through block between the walkthrough markers"
    return found.group(1)


@pytest.fixture
def tools() -> None:
    missing = [tool for tool in ("curl", "jq") if shutil.which(tool) is None]
    if missing:
        message = f"the README walk-through needs {', '.join(missing)}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_readme_walkthrough(client, database_url: str, tmp_path: Path, tools) -> None:
    receiver = Receiver()
    try:
        env = {"TMF_CALLBACK_ALLOW_PRIVATE": "true", "TMF_LOG_LEVEL": "WARNING"}
        with live_server(database_url, tmp_path / "server.log", env=env) as origin:
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", walkthrough_script()],
                env={**os.environ, "TMF": origin, "LISTENER": receiver.url},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert result.returncode == 0, result.stderr
            lines = result.stdout.splitlines()
            deadline = time.monotonic() + 20
            expected = {
                "ResourceOrderCreateEvent",
                "ResourceOrderAttributeValueChangeEvent",
                "ResourceOrderStateChangeEvent",
                "CancelResourceOrderCreateEvent",
                "CancelResourceOrderStateChangeEvent",
            }
            while {e["eventType"] for e in receiver.events} < expected and time.monotonic() < deadline:
                time.sleep(0.1)
    finally:
        receiver.close()

    objects = [json.loads(line) for line in lines if line.startswith("{")]
    subscription, order, started, cancel, cancelled, *rest = objects
    assert subscription["callback"] == receiver.url
    assert order["state"] == "acknowledged" and order["href"].startswith(origin + "/tmf-api/")
    assert started == {
        "state": "inProgress",
        "items": [{"id": "1", "state": "inProgress"}, {"id": "2", "state": "acknowledged"}],
    }
    assert cancel["state"] == "done" and cancel["effectiveCancellationDate"]
    assert cancelled == {
        "state": "cancelled",
        "items": [{"id": "1", "state": "cancelled"}, {"id": "2", "state": "cancelled"}],
    }
    history = [entry for entry in rest if "toState" in entry]
    order_steps = [e["toState"] for e in history if e["entity"] == "resourceOrder"]
    assert order_steps == [
        "acknowledged",
        "inProgress",
        "assessingCancellation",
        "pendingCancellation",
        "cancelled",
    ]
    counts = [line.lower() for line in lines if line.lower().startswith("x-")]
    assert sorted(counts) == ["x-result-count: 1", "x-total-count: 1"]  # what the README says step 6 prints
    totals = {(t["priceType"], t.get("recurringChargePeriod")): t["price"] for t in rest if "priceType" in t}
    recurring, one_time = totals[("recurring", "month")], totals[("oneTime", None)]
    assert (recurring["dutyFreeAmount"]["value"], recurring["taxIncludedAmount"]["value"]) == (20, 24)
    assert (one_time["dutyFreeAmount"]["value"], one_time["taxIncludedAmount"]["value"]) == (99.99, 119.99)
    assert {e["eventType"] for e in receiver.events} >= expected
