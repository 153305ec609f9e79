"""Work a server process does besides answering requests: event delivery, scheduled cancellations and,
when enabled, the fulfilment simulator.

Each server process runs one of these; both loops are safe with several processes (see outbox.claim_due
and orders.run_due_cancellations). `tmfserver dispatch` runs the same loops in a process of their own.
"""

from __future__ import annotations

import logging
import random
import threading

from ..clock import utc_now_iso
from ..notify.dispatcher import Dispatcher, RetryPolicy
from ..store.errors import Outage
from .dependencies import Dependencies
from .exceptions import Unavailable
from .idempotency import purge_expired
from .orders import run_due_cancellations
from .simulator import simulate_step

log = logging.getLogger("tmfserver.background")

SCHEDULER_INTERVAL_SECONDS = 1.0  # how often due cancellations (and simulator steps) are looked for


def make_dispatcher(deps: Dependencies) -> Dispatcher:
    settings = deps.settings
    return Dispatcher(
        deps.sessions,
        policy=RetryPolicy(
            base_seconds=settings.delivery_backoff_base_seconds,
            cap_seconds=settings.delivery_backoff_cap_seconds,
            max_attempts=settings.delivery_max_attempts,
            max_age_seconds=settings.delivery_max_age_seconds,
        ),
        timeout_seconds=settings.delivery_timeout_seconds,
        allow_private=settings.callback_allow_private,
        outage_cap_seconds=settings.db_backoff_cap_seconds,
    )


# Why: docs/decisions/0031-background-work-in-every-process.md
class BackgroundWork:
    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.dispatcher = make_dispatcher(deps)
        self._stop = threading.Event()
        self._scheduler = threading.Thread(target=self._schedule, name="tmf-scheduler", daemon=True)
        self._rng = random.Random()
        self.outage = Outage(log, cap=deps.settings.db_backoff_cap_seconds)

    def _schedule(self) -> None:
        """Every second: due cancellations, expired idempotency keys (a bounded purge) and simulator steps.
        While the database is unavailable, pause with backoff and log the outage once (`Outage`); log an
        unexpected error with its traceback."""
        pause = SCHEDULER_INTERVAL_SECONDS
        while not self._stop.wait(pause):
            pause = SCHEDULER_INTERVAL_SECONDS
            try:
                run_due_cancellations(self.deps, utc_now_iso())
                purge_expired(self.deps)
                if self.deps.settings.simulate_fulfilment:
                    simulate_step(self.deps, utc_now_iso(), self._rng)
                self.outage.succeeded()
            except Unavailable as error:
                pause = max(pause, self.outage.failed(error.detail))
            except Exception:  # keep scheduling after an unexpected error
                log.exception("scheduled work failed")

    def start(self) -> None:
        self.dispatcher.start()
        self._scheduler.start()

    def alive(self) -> bool:
        """Both loops are running: the dispatcher and the scheduler (what /health/ready reports)."""
        return self.dispatcher.alive() and self._scheduler.is_alive() and not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        self._scheduler.join(timeout=5)
        self.dispatcher.stop()
