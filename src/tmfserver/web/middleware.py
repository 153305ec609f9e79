"""ASGI middleware in front of Connexion: dependencies in scope, body limits, content-type default."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..services.dependencies import Dependencies
from .context import SCOPE_KEY
from .error_responses import HttpError, error_body


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


def _has_nul(query: bytes) -> bool:
    return b"\x00" in query or b"%00" in query


class BodyTooLarge(HttpError):
    """Raised from `receive` while the body streams in; Connexion's error handling renders it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


# Why: docs/decisions/0010-request-guard-before-connexion.md
class RequestGuard:
    """Attaches the app's dependencies to each request and refuses what must never reach the handlers:
    bodies over the size limit (413), over-long query strings (414). A body sent without a
    Content-Type is treated as JSON (Connexion would otherwise hand raw bytes to the handler)."""

    def __init__(self, app: ASGIApp, deps: Dependencies) -> None:
        self.app = app
        self.deps = deps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        scope[SCOPE_KEY] = self.deps
        settings = self.deps.settings
        if len(scope.get("query_string", b"")) > settings.max_query_length:
            await send_tmf_error(
                send, 414, f"the query string is longer than {settings.max_query_length} bytes"
            )
            return
        if "\x00" in scope.get("path", "") or _has_nul(scope.get("query_string", b"")):
            # PostgreSQL refuses NUL in text: never let one reach a filter or an id lookup.
            await send_tmf_error(send, 400, "NUL characters are not allowed in the path or the query")
            return
        headers = dict(scope.get("headers", []))
        limit = settings.max_body_bytes
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await send_tmf_error(send, 413, f"the request body is larger than {limit} bytes")
            return
        if b"content-type" not in headers and scope["method"] in ("POST", "PATCH", "PUT"):
            scope["headers"] = [*scope["headers"], (b"content-type", b"application/json")]
        if declared is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            # Connexion reads a body only when Content-Length says there is one: buffer a chunked body
            # (within the limit) and declare its length, or it would be refused as missing.
            chunks, size, more = [], 0, True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    return
                chunks.append(message.get("body", b""))
                size += len(chunks[-1])
                if size > limit:
                    await send_tmf_error(send, 413, f"the request body is larger than {limit} bytes")
                    return
                more = message.get("more_body", False)
            buffered: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]
            scope["headers"] = [
                *((k, v) for k, v in scope["headers"] if k.lower() != b"transfer-encoding"),
                (b"content-length", str(size).encode()),
            ]
            upstream = receive

            async def receive() -> Message:
                return buffered.pop() if buffered else await upstream()

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


# Why: docs/decisions/0006-documents-parsed-once-served-byte-for-byte.md
class ServedDocuments:
    """Serves each document exactly as built (`<basePath>/swagger.json`), byte for byte.

    Connexion's own spec endpoint re-serialises the resolved document, which fails on TMF663's recursive
    CartItem ("Circular reference detected"), and would hide the official document behind an extension
    document sharing its basePath.
    """

    def __init__(self, app: ASGIApp, documents: dict[str, bytes]) -> None:
        self.app = app
        self.documents = documents

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            document = self.documents.get(scope["path"])
            if document is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(document)).encode()),
                        ],
                    }
                )
                await send(
                    {"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else document}
                )
                return
        await self.app(scope, receive, send)
