"""Every failure leaves as a TMF `Error` body: the services' refusals, the web layer's own, Connexion's
problem+json, Starlette's 404/405, and crashes. The one place that says which status each refusal gets."""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ..client_messages import one_line, quoted
from ..logs import current_request_id
from ..services.exceptions import (
    Conflict,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    ServiceError,
    Unavailable,
    Unprocessable,
)
from .routes import Operations

log = logging.getLogger("tmfserver.errors")
JSON = "application/json"

# Why: docs/decisions/0011-every-failure-is-a-tmf-error.md
STATUS_OF: dict[type[ServiceError], int] = {
    InvalidRequest: 400,
    NotFound: 404,
    Conflict: 409,
    PreconditionFailed: 412,
    Unprocessable: 422,  # an Idempotency-Key reused with another request
    Unavailable: 503,  # the database is unreachable, out of connections or read-only: try again later
}


class HttpError(Exception):
    """A refusal of the HTTP layer itself (authentication, limits, transport); `code` is the TMF Error code
    (the status by default)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason or HTTPStatus(status).phrase
        self.code = code or str(status)
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return error_body(self.status, self.message, reason=self.reason, code=self.code)


def error_body(
    status: int, message: str, *, reason: str | None = None, code: str | None = None
) -> dict[str, str]:
    body = {
        "@type": "Error",
        "code": code or str(status),
        "reason": reason or HTTPStatus(status).phrase,
        "message": message,
        "status": str(status),
    }
    # Extension attribute (the TMF Error schema allows them): the id also in X-Request-ID and the logs.
    request_id = current_request_id()
    if request_id:
        body["requestId"] = request_id
    return body


def tmf_response(
    status: int, message: str, *, reason: str | None = None, headers: dict | None = None
) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=status,
        body=json.dumps(error_body(status, message, reason=reason)),
        content_type=JSON,
        headers=headers or {},
    )


def service_error(_request: ConnexionRequest, exc: ServiceError) -> ConnexionResponse:
    status = next(status for kind, status in STATUS_OF.items() if isinstance(exc, kind))
    if isinstance(exc, PreconditionFailed):
        return tmf_response(status, f'If-Match does not match the current ETag "{exc.current_version}"')
    if isinstance(exc, Unavailable):
        # No log line per request (an outage would flood the log): the access log counts the 503s, and the
        # background loops and /health/ready log the outage once
        # (docs/decisions/0039-database-outage-is-a-503.md).
        return tmf_response(status, exc.message, headers={"Retry-After": str(exc.retry_after_seconds)})
    return tmf_response(status, exc.message)


def http_error(_request: ConnexionRequest, exc: HttpError) -> ConnexionResponse:
    return tmf_response(exc.status, exc.message, reason=exc.reason, headers=exc.headers)


# Connexion's 415 detail: "Invalid Content-type (text/html), expected ['application/json', ...]".
_MEDIA_TYPE_DETAIL = re.compile(r"^Invalid Content-type \((.*)\), expected \[(.*)\]$", re.DOTALL)


def problem(_request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion's problems. The request validators (web/validation.py) already word theirs for the client;
    anything else is cut to its first line, and the 415 detail (a Python list) is reworded."""
    status = exc.status or 400
    message = str(exc.detail or exc.title or "request rejected")
    media_type = _MEDIA_TYPE_DETAIL.match(message) if status == 415 else None
    if media_type:
        accepted = ", ".join(re.findall(r"'([^']*)'", media_type.group(2)))
        message = f"Content-Type '{quoted(media_type.group(1))}' is not accepted here; use {accepted}"
    return tmf_response(status, one_line(message), reason=exc.title or None, headers=exc.headers)


# Why: docs/decisions/0012-405-allow-from-the-documents.md
def http_exception_handler(operations: Operations):
    """Starlette's 404/405 as TMF Errors; a 405's `Allow` comes from the served documents (Connexion's own
    header is wrong)."""

    def handle(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        if exc.status_code == 405:
            methods = operations.allowed(request.url.path) or ""
            return tmf_response(
                405,
                f"{quoted(request.method)} is not allowed on {quoted(request.url.path)}",
                headers={"Allow": methods},
            )
        if exc.status_code == 404:
            return not_found(request, exc)
        return tmf_response(exc.status_code, str(exc.detail))

    return handle


def not_found(request: ConnexionRequest, _exc: Exception) -> ConnexionResponse:
    return tmf_response(404, f"{quoted(request.url.path)} is not a resource of this server")


def unexpected(request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return tmf_response(500, "internal error; it has been logged")
