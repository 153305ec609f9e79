"""Every failure leaves as a TMF `Error` body: ours, Connexion's problem+json, Starlette's 404/405, crashes."""

from __future__ import annotations

import json
import logging
import re

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from ..client_messages import one_line, quoted
from ..errors import ApiError, error_body
from .routes import Operations

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
