"""Transport hygiene: request ids (header, log lines, error bodies), security headers, CORS, trusted proxies.

`RequestId` is the outermost middleware: every response, errors of the other middlewares included, leaves
through it. The request id lives in `tmfserver.logs` (log records and error bodies read it there).
"""

from __future__ import annotations

import json
import re
from ipaddress import ip_address

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from ulid import ULID

from ..logs import bind_request_id
from .error_responses import error_body

# A client-sent id is echoed only when it is short and plainly printable; anything else is replaced.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:+/=@-]{1,128}$")


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    for name, value in headers:
        if name.lower() == b"x-request-id":
            try:
                candidate = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if SANE_REQUEST_ID.match(candidate):
                return candidate
            break
    return str(ULID())


def is_trusted(address: str, networks: tuple) -> bool:
    """`address` is in one of the trusted proxy networks (TMF_TRUSTED_PROXIES); False when not an address."""
    try:
        parsed = ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


# Every response: no MIME sniffing, no framing (the UI included), no referrer leaks.
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
# API responses (JSON) may not load or run anything; Swagger UI pages only may not be framed.
API_CSP = b"default-src 'none'; frame-ancestors 'none'"
UI_CSP = b"frame-ancestors 'none'"


class UiPaths:
    """Swagger UI of the served documents (`<basePath>/ui` and below), not an id that happens to be `ui`.
    `path in ui_paths`; the prefixes are built once, not per request."""

    def __init__(self, base_paths: tuple[str, ...]) -> None:
        self.roots = frozenset(base + "/ui" for base in base_paths)
        self.below = tuple(base + "/ui/" for base in base_paths)

    def __contains__(self, path: str) -> bool:
        return path in self.roots or path.startswith(self.below)


class RequestId:
    """Takes the client's sane `X-Request-ID` or makes a ULID, holds it in a context variable for log
    lines and error bodies, echoes it, and adds the security headers to every response.

    API responses get `Cache-Control: no-store` unless the handler set one; Swagger UI's assets may cache.
    No `Server` header leaves (uvicorn's is disabled in `tmfserver serve`; any other is dropped here)."""

    def __init__(self, app: ASGIApp, base_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.ui_paths = UiPaths(base_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_from(scope.get("headers", []))
        ui = scope.get("path", "") in self.ui_paths
        token = bind_request_id(request_id)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() not in DROPPED]
                present = {k.lower() for k, _v in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", UI_CSP if ui else API_CSP))
                if not ui and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            token.var.reset(token)


DROPPED = {b"server", b"x-powered-by", b"x-request-id"}

CORS_METHODS = ("GET", "POST", "PATCH", "DELETE", "OPTIONS")
CORS_REQUEST_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-API-Key",
    "X-Request-ID",
    "If-Match",
    "If-None-Match",
    "Idempotency-Key",
)
CORS_EXPOSED_HEADERS = (
    "Location",
    "ETag",
    "Link",
    "X-Total-Count",
    "X-Result-Count",
    "X-Request-ID",
    "Retry-After",
    "WWW-Authenticate",
)


class Cors(CORSMiddleware):
    """Starlette's CORS middleware; a refused preflight is a TMF Error like every other refusal."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        body = json.dumps(error_body(response.status_code, bytes(response.body).decode())).encode()
        headers = {
            k: v for k, v in response.headers.items() if k.lower() not in ("content-type", "content-length")
        }
        return Response(body, status_code=response.status_code, headers=headers, media_type="application/json")


def cors_origins(setting: str) -> list[str]:
    return [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]


def cors_options(setting: str, max_age: int) -> dict:
    """Options for Starlette's CORSMiddleware. No credentials (cookies) are ever allowed: the API
    authenticates with headers, which a browser only sends when the page's script sets them."""
    return {
        "allow_origins": cors_origins(setting),
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_REQUEST_HEADERS,
        "expose_headers": CORS_EXPOSED_HEADERS,
        "allow_credentials": False,
        "max_age": max_age,
    }


__all__ = ["Cors", "RequestId", "UiPaths", "cors_options"]
