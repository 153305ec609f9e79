"""A real HTTP receiver on 127.0.0.1 for notification tests: records every POSTed JSON body."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, status: int = 201, delay: float = 0.0, port: int = 0) -> None:
        self.events: list[dict] = []
        self.arrivals = 0  # POSTs received so far, counted before the delay (a delivery is in progress)
        self.status = status
        self.delay = delay
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                with receiver._lock:
                    receiver.arrivals += 1
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null")
                if receiver.delay:
                    time.sleep(receiver.delay)
                if receiver.status < 300:
                    with receiver._lock:
                        receiver.events.append(body)
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/listener"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def types(self) -> list[str]:
        with self._lock:
            return [e["eventType"] for e in self.events]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
