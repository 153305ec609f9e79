"""Optional fulfilment simulator (TMF_SIMULATE_FULFILMENT): walks new orders' items through
inProgress → completed/failed so demos and client developers see a living system.

Every move goes through the same lifecycle rules, history and events as a client's PATCH (cause
"simulator"). Each step only touches orders unchanged for `simulate_step_seconds`, so a client always has
time to see each state; several processes are safe (SKIP LOCKED on PostgreSQL, exclusive writes on SQLite).
"""

from __future__ import annotations

import copy
import random
from datetime import UTC, datetime, timedelta

from ..domain import lifecycle
from .dependencies import Dependencies
from .orders import ORDER_KIND
from .resources import WriteContext

ACTIVE_ORDER_STATES = ("acknowledged", "inProgress")


def next_item_state(state: str, rng: random.Random, failure_rate: float) -> str:
    if state == "acknowledged":
        return "inProgress"
    if state == "inProgress":
        return "failed" if rng.random() < failure_rate else "completed"
    return state


def simulate_step(deps: Dependencies, now: str, rng: random.Random, batch: int = 20) -> int:
    """Advance every item of up to `batch` idle orders by one state; returns how many orders moved."""
    settings = deps.settings
    idle_since = datetime.now(UTC) - timedelta(seconds=settings.simulate_step_seconds)
    with deps.unit_of_work(write=True) as uow:
        context = WriteContext(uow, deps, now)
        moved = 0
        for row in uow.claim_idle_orders(ACTIVE_ORDER_STATES, idle_since, batch):
            candidate = copy.deepcopy(row.doc)
            items = candidate.get("orderItem") or []
            for item in items:
                item["state"] = next_item_state(
                    item.get("state", "acknowledged"), rng, settings.simulate_failure_rate
                )
            if not items or candidate == row.doc:
                continue
            try:
                document, changes = lifecycle.apply_order_update(row.doc, candidate, now, cause="simulator")
            except lifecycle.LifecycleError:
                continue  # e.g. the order is being cancelled: leave it to the cancellation
            context.store_update(ORDER_KIND, row, document, changes)
            moved += 1
        return moved
