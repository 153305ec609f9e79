"""Limits of the HTTP layer (web/http_limits.py), against a real `tmfserver serve` with raw sockets: long
request lines (414), large headers (431), HTTP/1.1 without Host (400), slow headers and bodies (408, then the
connection is closed), idle keep-alive connections (closed). Each refusal is a TMF Error.

The server runs with 1-second timeouts so that the slow-client tests take about a second each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tests.live_server import live_server
from tmfserver import serving
from tmfserver.settings import Settings
from tmfserver.web.http_limits import LINGER_SECONDS, HttpLimits, LimitedHttpToolsProtocol

from ._support import ORDERS, assert_client_message

TIMEOUT = 1.0  # header, body and keep-alive timeouts of the server under test
SLACK = 2.5  # scheduling slack on a busy machine
LIVE = b"/health/live"


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def tmf_error(self, status: int) -> dict:
        """A TMF Error with this status, `requestId` = X-Request-ID, a message in client terms."""
        assert self.status == status, (self.status, self.body[:300])
        assert self.headers["content-type"].startswith("application/json"), self.headers
        error = json.loads(self.body)
        for key in ("code", "reason", "message", "status"):
            assert isinstance(error.get(key), str) and error[key], (key, error)
        assert error["code"] == error["status"] == str(status), error
        assert error["requestId"] == self.headers["x-request-id"], (error, self.headers)
        assert self.headers["x-content-type-options"] == "nosniff"
        assert_client_message(error["message"])
        return error


@pytest.fixture(scope="module")
def origin(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "TMF_BACKGROUND_WORKERS": "false",
        "TMF_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
        "TMF_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "TMF_KEEP_ALIVE_TIMEOUT_SECONDS": str(TIMEOUT),
    }
    log = tmp_path_factory.mktemp("http-limits") / "server.log"
    with live_server(database_url, log, env=env) as served:
        yield served


def connect(origin: str) -> socket.socket:
    parts = urlsplit(origin)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    return sock


def read_response(sock: socket.socket, timeout: float = 10) -> Response:
    """One response (Content-Length framed, as every response of this server is)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers["content-length"])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of a response body"
        body += chunk
    assert len(body) == length, "more bytes than the response's Content-Length"
    return Response(int(status_line.split()[1]), headers, body)


def assert_closed(sock: socket.socket, timeout: float = SLACK) -> None:
    """The server ends the stream: end of file and nothing more."""
    sock.settimeout(timeout)
    try:
        rest = sock.recv(65536)
    except ConnectionResetError:
        return
    assert rest == b"", rest


def exchange(origin: str, request: bytes) -> tuple[Response, socket.socket]:
    sock = connect(origin)
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before it was all sent:
        sock.sendall(request)  # the answer is still there to read
    return read_response(sock), sock


def get(target: bytes, *headers: bytes, version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + b"".join(h + b"\r\n" for h in headers) + b"\r\n"


# --- settings and wiring ------------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = Settings()
    assert settings.max_request_line_bytes == 8192
    assert settings.max_header_bytes == 16_384
    assert settings.header_timeout_seconds == 10.0
    assert settings.body_timeout_seconds == 30.0
    assert settings.keep_alive_timeout_seconds == 5.0


def test_serve_reads_connections_with_the_limits() -> None:
    settings = Settings(max_header_bytes=4096, header_timeout_seconds=3, keep_alive_timeout_seconds=7)
    config = serving.uvicorn_config(settings, workers=1)
    assert config.http is LimitedHttpToolsProtocol
    assert config.loop == "asyncio"  # decision 0052: uvloop's tails
    assert config.timeout_keep_alive == 7
    assert config.http_limits == HttpLimits(8192, 4096, 3.0, 30.0)


async def _nodelay_of_a_served_connection(protocol: type) -> int:
    """TCP_NODELAY of the server's side of a connection accepted by `protocol` on a listening socket made as
    a worker process inherits it: its protocol field is 0, so asyncio does not know it is TCP."""

    async def app(scope, receive, send) -> None:  # never called: no request is sent
        raise AssertionError(scope)

    config = uvicorn.Config(app, http=protocol, lifespan="off", loop="asyncio", log_config=None)
    config.load()
    state = ServerState()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    assert listener.proto == 0
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    server = await asyncio.get_running_loop().create_server(lambda: protocol(config, state, {}), sock=listener)
    try:
        _reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        for _ in range(500):
            if state.connections:
                break
            await asyncio.sleep(0.01)
        (accepted,) = state.connections
        value = accepted.transport.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return value
    finally:
        server.close()


def test_every_connection_has_tcp_nodelay_where_asyncio_leaves_it_off() -> None:
    """Decision 0052: without it each keep-alive answer in a worker process waited for the client's delayed
    ACK (Nagle), 44 ms per request."""
    assert asyncio.run(_nodelay_of_a_served_connection(HttpToolsProtocol)) == 0  # what asyncio alone does
    assert asyncio.run(_nodelay_of_a_served_connection(LimitedHttpToolsProtocol)) != 0


# --- request line: 414 ------------------------------------------------------------------------------------


def test_a_100_kb_query_string_is_414(origin: str) -> None:
    response, sock = exchange(origin, get(ORDERS.encode() + b"?description=" + b"q" * 100_000, b"Host: t"))
    error = response.tmf_error(414)
    assert error["message"] == "the request URL is longer than 8192 bytes"
    assert response.headers["connection"] == "close"
    assert_closed(sock)


def test_the_url_limit_is_8192_bytes(origin: str) -> None:
    at_limit, _ = exchange(origin, get(b"/" + b"a" * 8191, b"Host: t", b"Connection: close"))
    at_limit.tmf_error(404)  # read and routed: an unknown path
    over, _ = exchange(origin, get(b"/" + b"a" * 8192, b"Host: t"))
    over.tmf_error(414)


def test_a_query_string_over_its_own_limit_is_414(origin: str) -> None:
    response, _ = exchange(origin, get(ORDERS.encode() + b"?description=" + b"q" * 5000, b"Host: t"))
    assert response.tmf_error(414)["message"] == "the query string is longer than 4096 bytes"


# --- headers: 431 -----------------------------------------------------------------------------------------


def test_headers_over_16_kb_in_total_are_431(origin: str) -> None:
    many = [b"X-Pad-%d: " % i + b"p" * 1000 for i in range(17)]
    response, sock = exchange(origin, get(LIVE, b"Host: t", *many))
    error = response.tmf_error(431)
    assert error["message"] == "the request headers are larger than 16384 bytes"
    assert_closed(sock)


def test_a_20_mb_header_is_431_and_never_buffered(origin: str) -> None:
    response, sock = exchange(origin, get(LIVE, b"Host: t", b"X-Big: " + b"b" * 20_000_000))
    response.tmf_error(431)
    assert_closed(sock, LINGER_SECONDS + SLACK)


def test_headers_under_the_limit_are_served(origin: str) -> None:
    many = [b"X-Pad-%d: " % i + b"p" * 1000 for i in range(15)]
    response, _ = exchange(origin, get(LIVE, b"Host: t", b"Connection: close", *many))
    assert response.status == 200, response.body


# --- Host and malformed requests: 400 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "request_bytes",
    [get(LIVE), get(LIVE, b"Host: a", b"Host: b")],
    ids=["no Host", "two Hosts"],
)
def test_http_1_1_needs_one_host(origin: str, request_bytes: bytes) -> None:
    response, sock = exchange(origin, request_bytes)
    assert "Host header" in response.tmf_error(400)["message"]
    assert_closed(sock)


def test_http_1_0_may_omit_host(origin: str) -> None:
    response, _ = exchange(origin, get(LIVE, version=b"HTTP/1.0"))
    assert response.status == 200, response.body


def test_a_refused_pipelined_request_closes_after_the_earlier_answer(origin: str) -> None:
    """An error cannot be written into the middle of the earlier request's response: that one is answered
    whole, then the connection is closed."""
    response, sock = exchange(origin, get(LIVE, b"Host: t") + get(LIVE))
    assert response.status == 200
    assert json.loads(response.body) == {"status": "live"}
    assert_closed(sock)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"hello\r\n\r\n",
        b"GET / HTTP/9.9\r\nHost: t\r\n\r\n",
        b"GET /health/live HTTP/1.1\r\nBad Header\r\n\r\n",
    ],
    ids=["not HTTP", "version", "header line"],
)
def test_what_is_not_http_is_a_tmf_400(origin: str, request_bytes: bytes) -> None:
    response, sock = exchange(origin, request_bytes)
    assert response.tmf_error(400)["message"] == "the request is not a valid HTTP/1.1 request"
    assert_closed(sock)


# --- slow clients: 408 and closed ---------------------------------------------------------------------------


def trickle(sock: socket.socket, data: bytes, interval: float, until: float) -> float:
    """Send `data` one byte per `interval` until the server answers (returns when, from now) or `until` s."""
    started = time.monotonic()
    for byte in data:
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            return time.monotonic() - started
        sock.sendall(bytes([byte]))
        assert time.monotonic() - started < until, "the server never answered the slow client"
    readable, _, _ = select.select([sock], [], [], until)
    assert readable, "the server never answered the slow client"
    return time.monotonic() - started


def assert_server_hung_up(sock: socket.socket) -> None:
    """Writing on goes on failing soon: the server has closed its end, not only stopped answering."""
    deadline = time.monotonic() + LINGER_SECONDS + SLACK
    with pytest.raises((BrokenPipeError, ConnectionResetError)):
        while time.monotonic() < deadline:
            sock.sendall(b"x")
            time.sleep(0.05)


def test_slowloris_headers_are_cut_off_after_the_header_timeout(origin: str) -> None:
    sock = connect(origin)
    slow = get(LIVE, b"Host: t", b"X-Slow: " + b"s" * 200)
    elapsed = trickle(sock, slow, interval=0.05, until=TIMEOUT + SLACK)
    assert TIMEOUT - 0.2 <= elapsed <= TIMEOUT + SLACK
    response = read_response(sock)
    assert "headers did not arrive within 1 s" in response.tmf_error(408)["message"]
    assert_closed(sock)
    assert_server_hung_up(sock)


def test_deadlines_run_per_request_on_a_long_lived_connection(origin: str) -> None:
    """Quick requests on one connection for three header timeouts are all served (the deadline is each
    request's, not the connection's); a slow head on the same connection is then still cut off in time."""
    sock = connect(origin)
    started = time.monotonic()
    while time.monotonic() - started < 3 * TIMEOUT:
        sock.sendall(get(LIVE, b"Host: t"))
        assert read_response(sock).status == 200
        time.sleep(TIMEOUT * 0.4)
    elapsed = trickle(
        sock, get(LIVE, b"Host: t", b"X-Slow: " + b"s" * 200), interval=0.05, until=TIMEOUT + SLACK
    )
    assert TIMEOUT - 0.2 <= elapsed <= TIMEOUT + SLACK
    read_response(sock).tmf_error(408)


def test_a_slow_body_is_cut_off_after_the_body_timeout(origin: str) -> None:
    sock = connect(origin)
    sock.sendall(
        b"POST " + ORDERS.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 200\r\n\r\n" + b'{"description": "'
    )
    elapsed = trickle(sock, b"d" * 200, interval=0.1, until=TIMEOUT + SLACK)
    assert TIMEOUT - 0.2 <= elapsed <= TIMEOUT + SLACK
    response = read_response(sock)
    assert "body did not arrive within 1 s" in response.tmf_error(408)["message"]
    assert_closed(sock)
    assert_server_hung_up(sock)


def test_a_slow_body_after_the_answer_only_closes(origin: str) -> None:
    """The request guard answered 413 from Content-Length alone; the connection is then closed at the body
    timeout, with no second answer."""
    sock = connect(origin)
    sock.sendall(
        b"POST " + ORDERS.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2000000\r\n\r\n{"
    )
    read_response(sock).tmf_error(413)
    started = time.monotonic()
    sock.settimeout(0.2)
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            sock.sendall(b" ")
            assert time.monotonic() - started < TIMEOUT + SLACK, "still open"
            continue
        except ConnectionResetError:
            break
        assert chunk == b"", chunk  # nothing but the end of the stream
        break


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(origin: str) -> None:
    sock = connect(origin)
    started = time.monotonic()
    assert_closed(sock, TIMEOUT + SLACK)
    assert TIMEOUT - 0.2 <= time.monotonic() - started <= TIMEOUT + SLACK


def test_an_idle_keep_alive_connection_is_closed(origin: str) -> None:
    sock = connect(origin)
    sock.sendall(get(LIVE, b"Host: t"))
    assert read_response(sock).status == 200
    time.sleep(TIMEOUT / 2)
    sock.sendall(get(LIVE, b"Host: t"))  # kept alive: the same connection serves a second request
    response = read_response(sock)
    assert response.status == 200
    assert "connection" not in response.headers
    started = time.monotonic()
    assert_closed(sock, TIMEOUT + SLACK)
    assert TIMEOUT - 0.2 <= time.monotonic() - started <= TIMEOUT + SLACK


# --- observability, worker processes --------------------------------------------------------------------------


def test_refusals_are_counted(origin: str) -> None:
    exchange(origin, get(LIVE))  # no Host: 400 before any route
    response, _ = exchange(origin, get(b"/metrics", b"Host: t", b"Connection: close"))
    assert response.status == 200
    counted = [
        line
        for line in response.body.decode().splitlines()
        if line.startswith('tmf_http_requests_total{operation_id="none",status="400"}')
    ]
    assert counted and float(counted[0].split()[-1]) >= 1


@pytest.mark.slow
def test_worker_processes_get_the_limits(database_url: str, tmp_path: Path) -> None:
    """`serve --workers N` pickles the uvicorn configuration, limits included, to each worker."""
    env = {"TMF_BACKGROUND_WORKERS": "false", "TMF_MAX_HEADER_BYTES": "2048"}
    with live_server(database_url, tmp_path / "server.log", workers=2, env=env) as served:
        for _ in range(4):  # whichever worker accepts the connection
            refused, _ = exchange(served, get(LIVE, b"Host: t", b"X-Pad: " + b"p" * 3000))
            assert "larger than 2048 bytes" in refused.tmf_error(431)["message"]
            served_ok, _ = exchange(
                served, get(LIVE, b"Host: t", b"Connection: close", b"X-Pad: " + b"p" * 1500)
            )
            assert served_ok.status == 200
