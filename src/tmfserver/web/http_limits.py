"""HTTP/1.1 limits enforced while uvicorn reads a connection, each refusal a TMF Error.

uvicorn 0.54 serves HTTP/1.1 with httptools (what its `auto` setting picks here). It buffers a request line
and headers of any size (only a URL over 64 KB fails, with a text/plain 400), serves HTTP/1.1 requests without
`Host`, and waits for the rest of a request's headers or body as long as the client likes; the one timeout it
has is for idle keep-alive connections (`timeout_keep_alive`, set from TMF_KEEP_ALIVE_TIMEOUT_SECONDS in
serving.py). Its h11 protocol would cap the head at 16 KB and require `Host`, but answers both with a text/plain
400, has no read timeouts either and is slower. So `LimitedHttpToolsProtocol` is uvicorn's httptools protocol
(pinned in pyproject.toml; tests/e2e/test_http_limits.py drives a real server with raw sockets) plus:

- a request URL longer than `max_request_line_bytes` → 414;
- a header section larger than `max_header_bytes` → 431, counted as the bytes arrive: an endless header is
  never buffered;
- HTTP/1.1 without exactly one `Host` → 400; a request that is not HTTP at all → 400;
- headers not complete `header_timeout_seconds` after the connection was made or the request's first byte
  arrived → 408 (a connection that sent nothing is closed without an answer);
- a body not complete `body_timeout_seconds` after its headers → 408 (unless the app has answered already).

Each refusal is a TMF Error (with `requestId`, `X-Request-ID` and the API security headers) sent with
`Connection: close`, and the connection is closed (after a short lingering half-close, see LINGER_SECONDS):
nothing more of it is parsed. When an earlier pipelined
request's response is still being written, no error can be put in the middle of it: the connection is
closed once that response is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from .. import metrics
from ..logs import bind_request_id
from .error_responses import error_body
from .transport import API_CSP, SECURITY_HEADERS, request_id_from

log = logging.getLogger("tmfserver.http")

# Bytes of a request line besides its URL: method, two spaces, "HTTP/1.1", CRLF (the longest method is 15).
REQUEST_LINE_OVERHEAD = 32
# After a refusal the connection is half-closed and what the client still sends is read and dropped for this
# long: closing with unread data would reset the connection, and the client might lose the error response.
LINGER_SECONDS = 2.0


@dataclass(frozen=True)
class HttpLimits:
    max_request_line_bytes: int = 8192
    max_header_bytes: int = 16384
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0

    @classmethod
    def from_settings(cls, settings: Any) -> HttpLimits:
        return cls(
            max_request_line_bytes=settings.max_request_line_bytes,
            max_header_bytes=settings.max_header_bytes,
            header_timeout_seconds=settings.header_timeout_seconds,
            body_timeout_seconds=settings.body_timeout_seconds,
        )


class Refused(Exception):
    """Raised from a parser callback: the request is answered with this status and the connection closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _seconds(value: float) -> str:
    return f"{value:g} s"


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits above; `config.http_limits` (serving.Config) sets them."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.limits: HttpLimits = getattr(config, "http_limits", None) or HttpLimits()
        self._max_head = self.limits.max_header_bytes + REQUEST_LINE_OVERHEAD  # plus the URL's own bytes
        self.url = b""
        self._in_head = True  # between requests, or reading a request line and headers
        self._head_bytes = 0  # bytes of this head fed to the parser so far
        self._url_bytes = 0  # of them, the URL's
        self._started = 0.0  # the request's first byte (loop time), 0 while no request has begun
        # When the headers (then the body) must be complete, and what happens then. One timer per connection
        # checks it lazily: it is re-armed when it fires before the current deadline, instead of a call_later
        # and a cancel for every request.
        self._deadline_at: float | None = None
        self._on_deadline: Callable[[], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._refused = False

    # --- connection --------------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # asyncio sets TCP_NODELAY only on sockets it knows are TCP; in a worker process the inherited listening
        # socket reports protocol 0, so without this each response waited for the client's delayed ACK (Nagle):
        # 44 ms per keep-alive request (docs/decisions/0052-asyncio-event-loop.md).
        connection = transport.get_extra_info("socket")
        if connection is not None and connection.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._set_deadline(self.limits.header_timeout_seconds, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        self._clear_deadline()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # closing: what else arrives is dropped
        self._unset_keepalive_if_required()
        while data:
            if self._in_head:  # what the head may still grow by
                room = self._max_head + self._url_bytes - self._head_bytes
                if room <= 0:
                    limit = self.limits.max_header_bytes
                    self._refuse(431, f"the request headers are larger than {limit} bytes")
                    return
                if len(data) > room:
                    piece, data = data[:room], data[room:]
                else:
                    piece, data = data, b""
                self._head_bytes += len(piece)
            else:
                piece, data = data, b""
            if not self._feed(piece):
                return

    def _feed(self, data: bytes) -> bool:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._clear_deadline()  # the connection is no longer HTTP/1.1 requests
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return False
        except httptools.HttpParserError as exc:
            refusal = exc.__context__
            if isinstance(refusal, Refused):
                self._refuse(refusal.status, refusal.message)
            else:
                log.debug("unparseable request: %s", exc)
                self._refuse(400, "the request is not a valid HTTP/1.1 request")
            return False
        return not self._refused

    # --- parser callbacks -------------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._started = self.loop.time()
        if self._deadline_at is None:  # the first request's deadline runs from the connection
            self._set_deadline(self.limits.header_timeout_seconds, self._head_timed_out, self._started)

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_request_line_bytes:
            raise Refused(414, f"the request URL is longer than {self.limits.max_request_line_bytes} bytes")
        super().on_url(url)

    def on_headers_complete(self) -> None:
        self._clear_deadline()
        hosts, has_body = 0, False
        for name, value in self.headers:
            if name == b"host":
                hosts += 1
            elif name == b"content-length":
                has_body = value.strip() != b"0"
            elif name == b"transfer-encoding":
                has_body = True
        if hosts != 1 and self.parser.get_http_version() == "1.1":  # RFC 9112, section 3.2
            raise Refused(400, "an HTTP/1.1 request needs one Host header" + (" only" if hosts else ""))
        self._in_head = False
        super().on_headers_complete()
        if has_body:
            self._set_deadline(self.limits.body_timeout_seconds, self._body_timed_out)

    def on_message_complete(self) -> None:
        self._clear_deadline()
        self._in_head = True
        self._head_bytes = self._url_bytes = 0
        self._started = 0.0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._refused:  # an earlier response was being written when this connection was refused
            self.transport.close()
        super().on_response_complete()

    # --- deadlines and refusals ---------------------------------------------------------------------------

    def _set_deadline(self, seconds: float, callback: Callable[[], None], now: float | None = None) -> None:
        at = (self.loop.time() if now is None else now) + seconds
        self._deadline_at, self._on_deadline = at, callback
        if self._timer is None or at < self._timer_at:
            if self._timer is not None:
                self._timer.cancel()
            self._timer_at = at
            self._timer = self.loop.call_at(at, self._check_deadline)

    def _clear_deadline(self) -> None:
        self._deadline_at = self._on_deadline = None  # a pending timer finds nothing to do

    def _check_deadline(self) -> None:
        self._timer = None
        at, callback = self._deadline_at, self._on_deadline
        if at is None or callback is None:
            return
        if at > self.loop.time():  # a later deadline than the one the timer was set for
            self._timer_at = at
            self._timer = self.loop.call_at(at, self._check_deadline)
            return
        self._clear_deadline()
        callback()

    def _head_timed_out(self) -> None:
        if not self._started:
            self.transport.close()  # nothing was asked: nothing to answer
            return
        seconds = _seconds(self.limits.header_timeout_seconds)
        self._refuse(408, f"the request headers did not arrive within {seconds}")

    def _body_timed_out(self) -> None:
        seconds = _seconds(self.limits.body_timeout_seconds)
        self._refuse(408, f"the request body did not arrive within {seconds}")

    def _refuse(self, status: int, message: str) -> None:
        if self._refused:
            return
        self._refused = True
        self._clear_deadline()
        self._unset_keepalive_if_required()
        queued = bool(self.pipeline)
        self.pipeline.clear()
        cycle = self.cycle
        earlier = queued or self._in_head or (cycle is not None and cycle.response_started)
        if cycle is not None and not cycle.response_complete and earlier:
            return  # an earlier response is being written: on_response_complete closes after it
        if not self._in_head and cycle is not None:  # this request's own exchange
            if cycle.response_complete:  # answered without waiting for the whole body
                self.transport.close()
                return
            cycle.disconnected = True  # the app's receive() gets http.disconnect; anything it sends is dropped
            cycle.message_event.set()
        self._answer(status, message)

    def _answer(self, status: int, message: str) -> None:
        request_id = request_id_from(self.headers or [])
        body = json.dumps({**error_body(status, message), "requestId": request_id}).encode()
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", request_id.encode()),
            *SECURITY_HEADERS,
            (b"content-security-policy", API_CSP),
            (b"cache-control", b"no-store"),
        ]
        head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(STATUS_LINE[status] + head + b"\r\n" + body)
        if self.transport.can_write_eof():
            self.transport.write_eof()  # the client reads the answer, then end of stream
            self.flow.resume_reading()
            self._set_deadline(LINGER_SECONDS, self.transport.close)  # see LINGER_SECONDS
        else:
            self.transport.close()
        seconds = self.loop.time() - self._started if self._started else 0.0
        metrics.observe_request(None, status, seconds)
        token = bind_request_id(request_id)  # for the log record, like a request's own records
        try:
            client = self.client[0] if self.client else None
            log.info("request refused: %s %s", status, message, extra={"status": status, "client": client})
        finally:
            token.var.reset(token)


__all__ = ["HttpLimits", "LimitedHttpToolsProtocol"]
