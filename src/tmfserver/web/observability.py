"""Per request: the Prometheus request metrics and one access log record (ASGI middleware).

`ObserveRequests` sits just inside `RequestId` (so its record carries the request id) and outside every
other middleware, so the refusals of CORS, rate limiting, authentication and the request guard are counted
and logged like any other answer.

The operationId comes from Connexion's routing, which runs further in: it writes
`scope["extensions"]["connexion_routing"]` into a shallow copy of the scope, so the `extensions` dict is
shared only when it exists before routing. This middleware puts it in the scope first and reads it back
afterwards. A request refused before routing (401, 413, 429) gets the operation its method and path
name in the served documents.
"""

from __future__ import annotations

import logging
import time

from connexion.middleware.abstract import ROUTING_CONTEXT
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import metrics
from ..settings import Settings
from .ratelimit import client_address
from .routes import Operation, Operations

# The per-request record; its formatting (JSON or text) is the logging configuration's business.
access_log = logging.getLogger("tmfserver.access")


# Why: docs/decisions/0014-operation-names-for-refused-requests.md
class ObserveRequests:
    """Counts and times every HTTP request and logs one `tmfserver.access` record for it."""

    def __init__(
        self,
        app: ASGIApp,
        operations: Operations,
        settings: Settings,
        named_paths: frozenset[str] = frozenset(),
    ) -> None:
        self.app = app
        self.operations = operations
        self.trusted = settings.trusted_proxy_networks
        self.named_paths = named_paths  # routes of our own (/health/…, /metrics): their path is their template

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extensions = scope.setdefault("extensions", {})
        started = time.perf_counter()
        status: int | None = None

        async def observing_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            # No response started: the app failed (or was cancelled) before answering; the server answers 500.
            self.record(scope, extensions.get(ROUTING_CONTEXT) or {}, status or 500, started)

    def operation(self, scope: Scope, routing: dict) -> Operation | None:
        if routing.get("operation_id"):
            return self.operations.routed(routing.get("api_base_path") or "", routing["operation_id"])
        if "api_base_path" in routing:  # routed, and no operation has this method and path
            return None
        return self.operations.match(scope["method"], scope["path"])

    def record(self, scope: Scope, routing: dict, status: int, started: float) -> None:
        seconds = time.perf_counter() - started
        operation = self.operation(scope, routing)
        operation_id = operation.operation_id if operation else None
        metrics.observe_request(operation_id, status, seconds)
        if not access_log.isEnabledFor(logging.INFO):
            return  # TMF_LOG_LEVEL above INFO: no record, so no client address or template to work out
        if operation:
            template = operation.path_template
        else:
            template = scope["path"] if scope["path"] in self.named_paths else None
        duration_ms = round(seconds * 1000, 3)
        access_log.info(
            "%s %s %s %.1fms",
            scope["method"],
            scope["path"],
            status,
            duration_ms,
            extra={
                "method": scope["method"],
                "path_template": template,
                "operation_id": operation_id,
                "status": status,
                "duration_ms": duration_ms,
                "client": client_address(scope, self.trusted),
            },
        )
