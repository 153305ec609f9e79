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

from sqlalchemy import select

from ..domain import lifecycle
from ..store.models import ResourceOrder
from ..store.unit_of_work import unit_of_work
from ..web.context import Services
from .orders import ORDER_KIND
from .resources import store_update

ACTIVE_ORDER_STATES = ("acknowledged", "inProgress")


def next_item_state(state: str, rng: random.Random, failure_rate: float) -> str:
    if state == "acknowledged":
        return "inProgress"
    if state == "inProgress":
        return "failed" if rng.random() < failure_rate else "completed"
    return state


def simulate_step(services: Services, now: str, rng: random.Random, batch: int = 20) -> int:
    """Advance every item of up to `batch` idle orders by one state; returns how many orders moved."""
    settings = services.settings
    idle_since = datetime.now(UTC) - timedelta(seconds=settings.simulate_step_seconds)
    with unit_of_work(services.sessions, write=True) as uow:
        statement = (
            select(ResourceOrder)
            .where(ResourceOrder.state.in_(ACTIVE_ORDER_STATES), ResourceOrder.updated_at <= idle_since)
            .order_by(ResourceOrder.pk)
            .limit(batch)
            .with_for_update(skip_locked=True)  # PostgreSQL; SQLite renders none (writes are exclusive)
        )
        moved = 0
        for row in uow.session.scalars(statement):
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
            store_update(uow, ORDER_KIND, row, document, changes, now)
            moved += 1
        return moved
