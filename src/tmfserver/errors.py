"""The one error type handlers and domain adapters raise; rendered as a TMF `Error` body."""

from __future__ import annotations

from http import HTTPStatus

from .client_messages import quoted
from .web.transport import current_request_id


class ApiError(Exception):
    """An HTTP-visible failure. `code` is the TMF Error code (the status by default)."""

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


class NotFound(ApiError):
    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(404, f"{resource} '{quoted(resource_id)}' does not exist")


class BadRequest(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(400, message)


class Conflict(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(409, message)
