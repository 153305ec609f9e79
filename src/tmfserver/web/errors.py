"""Every failure leaves as a TMF `Error` body: ours, Connexion's problem+json, Starlette's 404/405, crashes."""

from __future__ import annotations

import json
import logging
import re
from functools import lru_cache
from pathlib import Path

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ..errors import ApiError, error_body

log = logging.getLogger("tmfserver.errors")
JSON = "application/json"


def tmf_response(
    status: int, message: str, *, reason: str | None = None, headers: dict | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(error_body(status, message, reason=reason)),
        content_type=JSON,
        headers=headers or {},
    )


def api_error(_request: ConnexionRequest, exc: ApiError) -> ConnexionResponse:
    return tmf_response(exc.status, exc.message, reason=exc.reason, headers=exc.headers)


def problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    status = exc.status or 400
    message = exc.detail or exc.title or "request rejected"
    return tmf_response(status, str(message), reason=exc.title or None, headers=exc.headers)


class AllowedMethods:
    """`Allow` for a 405, from the served documents (Connexion's own header is wrong)."""

    def __init__(self, documents: list[Path]) -> None:
        self._routes: list[tuple[re.Pattern[str], str]] = []
        for path in documents:
            document = json.loads(path.read_text())
            base = document.get("basePath", "").rstrip("/")
            for template, operations in document.get("paths", {}).items():
                pattern = re.escape(base + template)
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", pattern)
                methods = ", ".join(sorted(m.upper() for m in operations if m != "parameters"))
                self._routes.append((re.compile(f"^{pattern}/?$"), methods))

    @lru_cache(maxsize=1024)  # noqa: B019 - one instance per app, bounded
    def for_path(self, path: str) -> str | None:
        for pattern, methods in self._routes:
            if pattern.match(path):
                return methods
        return None


def http_exception_handler(allowed: AllowedMethods):
    def handle(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        if exc.status_code == 405:
            methods = allowed.for_path(request.url.path) or ""
            return tmf_response(
                405,
                f"{request.method} is not allowed on {request.url.path}",
                headers={"Allow": methods},
            )
        if exc.status_code == 404:
            return tmf_response(404, f"{request.url.path} is not a resource of this server")
        return tmf_response(exc.status_code, str(exc.detail))

    return handle


def not_found(request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    return tmf_response(404, f"{request.url.path} is not a resource of this server")


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return tmf_response(500, "internal error; it has been logged")
