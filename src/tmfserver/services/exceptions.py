"""What a service call can fail with, in the application's terms. The web layer (web/error_responses.py)
maps each to a TMF `Error` response; nothing here knows HTTP."""

from __future__ import annotations

from ..client_messages import quoted


class ServiceError(Exception):
    """A request the application refuses; `message` is for the client."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidRequest(ServiceError):
    """The request itself is wrong: a value, a reference, a filter or a patch."""


class NotFound(ServiceError):
    """The addressed resource does not exist."""

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(f"{resource} '{quoted(resource_id)}' does not exist")


class Conflict(ServiceError):
    """The request is well formed but the resource's current state refuses it."""


class Unprocessable(ServiceError):
    """The request is well formed but cannot be processed as sent: an `Idempotency-Key` already used with
    another request."""


class PreconditionFailed(ServiceError):
    """The client's expected version (If-Match) is not the stored one."""

    def __init__(self, current_version: int) -> None:
        super().__init__(f"the resource has changed; its current version is {current_version}")
        self.current_version = current_version


class Unavailable(ServiceError):
    """The database cannot serve the request now (unreachable, restarting, out of connections, read-only);
    the same request may succeed later. `detail` says why, for logs; the client is told when to try again."""

    def __init__(self, detail: str, retry_after_seconds: int) -> None:
        super().__init__(f"the database is unavailable; try again in {retry_after_seconds} s")
        self.detail = detail
        self.retry_after_seconds = retry_after_seconds
