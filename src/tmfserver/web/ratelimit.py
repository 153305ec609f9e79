"""Per-client rate limiting: a token bucket per client address, in memory, per process.

Off unless TMF_RATE_LIMIT_PER_MINUTE > 0. Each bucket holds up to that many tokens (the burst) and refills
at that rate; a request takes one token, and without one it is answered 429 with `Retry-After`. The buckets
live in the server process: with N worker processes (or N replicas) a client may get up to N times the
limit. A shared limit needs a shared store (a gateway, Redis) in front of the server.

The client is the TCP peer; when the peer is a trusted proxy (TMF_TRUSTED_PROXIES) it is the rightmost
X-Forwarded-For address that is not itself a trusted proxy.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from ..settings import Settings
from .middleware import send_tmf_error
from .transport import is_trusted

MAX_CLIENTS = 100_000  # buckets kept; the least recently seen client is forgotten first (it was full)


def client_address(scope: Scope, trusted_networks: tuple) -> str:
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if not is_trusted(peer, trusted_networks):
        return peer
    for name, value in scope.get("headers", []):
        if name.lower() == b"x-forwarded-for":
            hops = [hop.strip() for hop in value.decode("latin-1").split(",") if hop.strip()]
            for hop in reversed(hops):
                if not is_trusted(hop, trusted_networks):
                    return hop
    return peer


class TokenBuckets:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, at)

    def take(self, client: str) -> float:
        """0 when the request may go, else the seconds until a token is there."""
        now = self.clock()
        tokens, at = self.buckets.pop(client, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1:
            self.buckets[client] = (tokens - 1, now)
            wait = 0.0
        else:
            self.buckets[client] = (tokens, now)
            wait = (1 - tokens) / self.rate
        while len(self.buckets) > MAX_CLIENTS:
            self.buckets.popitem(last=False)
        return wait


# Why: docs/decisions/0033-rate-limit-in-memory-per-process.md
class RateLimit:
    """429 with `Retry-After` (whole seconds) when a client's bucket is empty."""

    def __init__(self, app: ASGIApp, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.settings = settings
        self.buckets = (
            TokenBuckets(settings.rate_limit_per_minute, clock) if settings.rate_limit_per_minute > 0 else None
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.buckets is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wait = self.buckets.take(client_address(scope, self.settings.trusted_proxy_networks))
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            await send_tmf_error(
                send,
                429,
                f"rate limit of {self.settings.rate_limit_per_minute} requests per minute exceeded; "
                f"retry in {retry_after} s",
                headers=[(b"retry-after", str(retry_after).encode())],
            )
            return
        await self.app(scope, receive, send)
