"""CPU cost per request of uvicorn's httptools protocol vs tmfserver's LimitedHttpToolsProtocol
(bench/README.md, "HTTP limits").

    .venv/bin/python bench/protocol_bench.py [requests] [rounds]

Requests are fed to the protocol in-process (no sockets: a fake transport, an ASGI app that answers 200 at
once), timed in CPU time, the two classes alternated and the best round kept, so that the load of a shared
machine does not drown a difference of microseconds.
"""

import asyncio
import sys
import time

import uvloop
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from tmfserver.web.http_limits import LimitedHttpToolsProtocol

ORDERS = b"/tmf-api/resourceOrderingManagement/v4/resourceOrder"
WRK = b"GET " + ORDERS + b"/01M8QE55RQ6QTKP6NR8Q3C90G9 HTTP/1.1\r\nHost: 127.0.0.1:18202\r\n\r\n"
BROWSERISH = (
    b"POST " + ORDERS + b"?fields=id,state HTTP/1.1\r\nHost: api.example\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Test/1.0\r\nAccept: application/json\r\n"
    b"Accept-Encoding: gzip\r\n"
    b"Content-Type: application/json\r\nAuthorization: Bearer " + b"t" * 600 + b"\r\nX-Request-ID: abc-123\r\n"
    b"Content-Length: 60\r\n\r\n" + b'{"orderItem": [{"id": "1", "action": "add"}], "note": []}   '
)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Transport(asyncio.Transport):
    def __init__(self):
        super().__init__()
        self.written = 0
        self.closing = False

    def write(self, data):
        self.written += len(data)

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def is_closing(self):
        return self.closing

    def close(self):
        self.closing = True

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass

    def can_write_eof(self):
        return True

    def write_eof(self):
        pass


async def run(cls, request: bytes, n: int) -> float:
    config = Config(app=app, lifespan="off", log_level="warning", access_log=False)
    config.load()
    protocol = cls(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    started = time.process_time()  # CPU time: other processes' load does not count
    for _ in range(n):
        protocol.data_received(request)
        while not (protocol.cycle and protocol.cycle.response_complete):
            await asyncio.sleep(0)
    elapsed = time.process_time() - started
    assert not transport.closing
    protocol.connection_lost(None)
    return elapsed / n * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    uvloop.install()
    for label, request in (("wrk GET (Host only)", WRK), ("POST, 8 headers, 60-byte body", BROWSERISH)):
        results = {HttpToolsProtocol: [], LimitedHttpToolsProtocol: []}
        for _ in range(rounds):
            for cls in results:  # alternated, so that drift in the machine's load hits both
                results[cls].append(asyncio.run(run(cls, request, n)))
        base, limited = (min(results[c]) for c in results)  # best of: the least disturbed run
        print(
            f"{label}: uvicorn HttpToolsProtocol {base:.1f} µs/request, LimitedHttpToolsProtocol {limited:.1f} "
            f"µs/request (best of {rounds} rounds of {n}, CPU time); +{limited - base:.1f} µs"
        )


if __name__ == "__main__":
    main()
