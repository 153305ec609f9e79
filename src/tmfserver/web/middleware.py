"""ASGI middleware in front of Connexion: services in scope, body limits, content-type default."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ApiError, error_body
from .context import SCOPE_KEY, Services


async def send_tmf_error(send: Send, status: int, message: str, headers: list | None = None) -> None:
    body = json.dumps(error_body(status, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(ApiError):
    """Raised from `receive` while the body streams in; Connexion's error handling renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class RequestGuard:
    """Attaches the app's services to each request and refuses what must never reach the handlers:
    bodies over the size limit (413), over-long query strings (400). A body sent without a
    Content-Type is treated as JSON (Connexion would otherwise hand raw bytes to the handler)."""

    def __init__(self, app: ASGIApp, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.services
        settings = self.services.settings
        if len(scope.get("query_string", b"")) > settings.max_query_length:
            await send_tmf_error(
                send, 400, f"the query string is longer than {settings.max_query_length} bytes"
            )
            return
        headers = dict(scope.get("headers", []))
        limit = settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_tmf_error(send, 413, f"the request body is larger than {limit} bytes")
            return
        if b"content-type" not in headers and scope["method"] in ("POST", "PATCH", "PUT"):
            scope["headers"] = [*scope["headers"], (b"content-type", b"application/json")]

        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as exc:
            if not response_started:
                await send_tmf_error(send, exc.status, exc.message)
