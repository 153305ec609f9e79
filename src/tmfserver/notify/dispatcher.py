"""Delivers outbox events to subscribers: at-least-once, with backoff, dead-lettering and a lease per attempt.

One loop claims due deliveries (store/outbox.claim_due) and hands each to a thread pool, so a slow or
dead subscriber ties up one worker for at most the timeout and never delays the others. Time comes from
an injectable clock so retry timing is testable without sleeping.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from .. import metrics
from ..store import outbox
from ..store.errors import DatabaseUnavailable, Outage
from ..store.unit_of_work import unit_of_work
from .callbacks import UnsafeCallback, check_callback

log = logging.getLogger("tmfserver.dispatcher")


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_attempts: int = 12
    max_age_seconds: float = 24 * 3600.0

    def next_attempt(
        self, attempts_done: int, first_attempt_at: float, now: float, jitter: float
    ) -> float | None:
        """When to try again after `attempts_done` failures, or None when the budget is spent.

        Exponential backoff with "equal jitter": half the step is fixed, half random (`jitter` in [0, 1)).
        """
        if attempts_done >= self.max_attempts or now - first_attempt_at >= self.max_age_seconds:
            return None
        step = min(self.cap_seconds, self.base_seconds * 2 ** (attempts_done - 1))
        return now + step / 2 + step / 2 * jitter


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        policy: RetryPolicy | None = None,
        timeout_seconds: float = 5.0,
        allow_private: bool = False,
        workers: int = 8,
        batch: int = 50,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = random.random,
        transport: httpx.BaseTransport | None = None,
        outage_cap_seconds: float = 10.0,
    ) -> None:
        self.sessions = sessions
        self.policy = policy or RetryPolicy()
        self.timeout = timeout_seconds
        self.allow_private = allow_private
        self.batch = batch
        self.clock = clock
        self.jitter = jitter
        self.client = httpx.Client(timeout=timeout_seconds, transport=transport, follow_redirects=False)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tmf-deliver")
        self.in_flight: set[Future] = set()
        self.outage = Outage(log, cap=outage_cap_seconds, jitter=jitter)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- one pass -------------------------------------------------------------------------------------
    def claim(self) -> list[outbox.ClaimedDelivery]:
        # The lease outlives the HTTP timeout so a live attempt is never claimed twice.
        now = self.clock()
        with unit_of_work(self.sessions, write=False) as uow:
            if not outbox.any_due(uow.session, now):
                return []
        with unit_of_work(self.sessions, write=True) as uow:
            return outbox.claim_due(uow.session, now, self.timeout * 3 + 5, self.batch)

    def deliver(self, delivery: outbox.ClaimedDelivery) -> bool:
        facts = {
            "delivery_id": delivery.pk,
            "event_id": delivery.payload.get("eventId"),
            "event_type": delivery.payload.get("eventType"),
            "callback": delivery.callback,
            "attempt": delivery.attempts + 1,
        }
        error = None
        try:
            # Re-checked at delivery time: DNS may have changed since registration.
            check_callback(delivery.callback, allow_private=self.allow_private)
            response = self.client.post(delivery.callback, json=delivery.payload)
            if response.status_code >= 300:
                error = f"HTTP {response.status_code}"
        except UnsafeCallback as exc:
            error = str(exc)
        except httpx.HTTPError as exc:
            error = f"{exc.__class__.__name__}: {exc}"
        with unit_of_work(self.sessions, write=True) as uow:
            if error is None:
                outbox.record_success(uow.session, delivery.pk)
                metrics.count_delivery("delivered")
                log.debug("event delivered", extra=facts)
                return True
            now = self.clock()
            first = delivery.first_attempt_at or now
            retry_at = self.policy.next_attempt(delivery.attempts + 1, first, now, self.jitter())
            outbox.record_failure(uow.session, delivery.pk, error, retry_at)
        metrics.count_delivery("dead" if retry_at is None else "retry")
        if retry_at is None:
            log.error("event delivery given up: dead letter", extra={**facts, "error": error})
        else:
            retry = {"error": error, "retry_in_seconds": round(retry_at - now, 3)}
            log.warning("event delivery failed, will retry", extra={**facts, **retry})
        return False

    def deliver_run(self, run: list[outbox.ClaimedDelivery]) -> int:
        """Deliver one resource's consecutive deliveries in order; stop at the first failure and give the
        rest back, so nothing overtakes an event that is waiting for its retry. When the dispatcher is
        stopping, the delivery being sent is finished and the rest are given back the same way (the next
        dispatcher takes them at once, in order). Returns attempts made.

        When the database goes away meanwhile, the outcome of the attempt cannot be recorded: the run stops
        and its deliveries stay leased; once the lease ends they are claimed again and sent again (at least
        once: a subscriber may see such an event twice, with the same eventId)."""
        index = 0
        try:
            for index, delivery in enumerate(run):
                if self._stop.is_set():
                    self._release(run[index:])
                    return index
                if not self.deliver(delivery):
                    self._release(run[index + 1 :])
                    return index + 1
        except DatabaseUnavailable as error:  # the loop's next claim notices and logs the outage
            log.debug("delivery outcome not recorded: database unavailable", extra={"error": error.detail})
            return index + 1
        return len(run)

    def _release(self, rest: list[outbox.ClaimedDelivery]) -> None:
        if rest:
            with unit_of_work(self.sessions, write=True) as uow:
                outbox.release(uow.session, [d.pk for d in rest])

    @staticmethod
    def runs(claimed: list[outbox.ClaimedDelivery]) -> list[list[outbox.ClaimedDelivery]]:
        grouped: dict[str, list[outbox.ClaimedDelivery]] = {}
        for delivery in claimed:
            grouped.setdefault(delivery.ordering_key, []).append(delivery)
        return list(grouped.values())

    def run_once(self) -> int:
        """Claim and deliver synchronously (used by tests and `tmfserver dispatch --once`); returns attempts."""
        futures = [self.pool.submit(self.deliver_run, run) for run in self.runs(self.claim())]
        return sum(future.result() for future in futures)

    # --- background loop ------------------------------------------------------------------------------
    def _loop(self, idle_seconds: float) -> None:
        """Claim and hand out deliveries until stopped. While the database is unavailable, pause with backoff
        (one WARNING when it goes, one INFO when it is back: `Outage`); an unexpected error is logged with
        its traceback and paused on a backoff of its own, so that neither floods the log."""
        errors = 0
        while not self._stop.is_set():
            self.in_flight = {f for f in self.in_flight if not f.done()}
            claimed: list = []
            pause = idle_seconds
            try:
                if len(self.in_flight) < self.batch:
                    claimed = self.claim()
                    self.outage.succeeded()
                    for run in self.runs(claimed):
                        self.in_flight.add(self.pool.submit(self.deliver_run, run))
                errors = 0
            except DatabaseUnavailable as error:
                pause = max(idle_seconds, self.outage.failed(error.detail))
            except Exception:
                log.exception("dispatcher pass failed")
                errors += 1
                pause = min(self.outage.cap, idle_seconds * 2**errors)
            if not claimed or pause > idle_seconds:
                self._stop.wait(pause)

    def start(self, idle_seconds: float = 0.2) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(idle_seconds,), name="tmf-dispatcher", daemon=True
        )
        self._thread.start()

    def alive(self) -> bool:
        """The background loop is running (started and not stopped)."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def stop(self) -> None:
        """Claim nothing more, finish the deliveries being sent (each at most the HTTP timeout) and record
        their outcome; deliveries claimed but not yet started are given back (see deliver_run)."""
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)
        self.pool.shutdown(wait=True, cancel_futures=False)
        self.client.close()
