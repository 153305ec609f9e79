"""The fulfilment simulator moves items through the lifecycle with the same rules and history as a client."""

from __future__ import annotations

import random
from dataclasses import replace

from tests.e2e._support import ORDERS
from tmfserver.clock import utc_now_iso
from tmfserver.services.simulator import next_item_state, simulate_step


def test_next_item_state_follows_the_item_table() -> None:
    rng = random.Random(1)
    assert next_item_state("acknowledged", rng, 0.0) == "inProgress"
    assert next_item_state("inProgress", rng, 0.0) == "completed"
    assert next_item_state("inProgress", rng, 1.0) == "failed"
    assert next_item_state("completed", rng, 1.0) == "completed"


def test_simulator_walks_an_order_to_completion(app, client) -> None:
    deps = replace(app.deps, settings=app.deps.settings.model_copy(update={"simulate_step_seconds": 0}))
    order = client.post(ORDERS, json={"orderItem": [{"action": "add"}, {"action": "add"}]}).json()
    assert simulate_step(deps, utc_now_iso(), random.Random(0)) == 1
    moving = client.get(f"{ORDERS}/{order['id']}").json()
    assert moving["state"] == "inProgress"
    assert [i["state"] for i in moving["orderItem"]] == ["inProgress", "inProgress"]
    assert simulate_step(deps, utc_now_iso(), random.Random(0)) == 1
    done = client.get(f"{ORDERS}/{order['id']}").json()
    assert done["state"] == "completed"  # failure rate 0.1 with seed 0: both items complete
    assert "completionDate" in done
    history = client.get(f"{ORDERS}/{order['id']}/stateHistory").json()
    assert {entry["cause"] for entry in history} >= {"create", "simulator"}
    assert simulate_step(deps, utc_now_iso(), random.Random(0)) == 0  # terminal orders are left alone


def test_simulator_waits_for_idle_orders(app, client) -> None:
    client.post(ORDERS, json={"orderItem": [{"action": "add"}]})
    deps = replace(app.deps, settings=app.deps.settings.model_copy(update={"simulate_step_seconds": 3600}))
    assert simulate_step(deps, utc_now_iso(), random.Random(0)) == 0
