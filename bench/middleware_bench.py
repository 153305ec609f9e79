"""What the server's own ASGI middleware and its access log cost per request, in-process (no socket, no wrk).

The app is `create_app` on a fresh migrated SQLite file (1 seeded order), driven by calling it as an ASGI app
from one asyncio loop, one request at a time. CPU per request is measured two ways: `process` = the whole
process (`time.process_time`, the log writer thread included) and `loop` = the event-loop thread alone
(`time.thread_time`: what a request costs on the request path). Variants, alternated round by round:

- `app`: the app as `create_app` builds it;
- `app-bare`: the same app with the project's middleware (every `add_middleware` of `create_app`) replaced by
  one that only attaches the dependencies (what the handlers need): the difference is what the middleware
  costs inside a real request (GET /resourceOrder/{id} only: without the middleware /health/live is a 404);
- `chain` / `chain-bare`: the project's middleware alone, in its order, around an ASGI app that answers
  200 at once (`chain-bare`: that app alone): the middleware's own cost, without Connexion's noise.

Each at TMF_LOG_LEVEL INFO (one access record per request, written by the log writer thread to /dev/null) and
WARNING (no access record). Requests: GET /health/live (answered by the operational endpoints, inside the
middleware) and GET /resourceOrder/{id} (through Connexion, validation and a handler).

Run: `.venv/bin/python bench/middleware_bench.py` (BENCH_REQUESTS=2000 per round, BENCH_ROUNDS=5; the median
round is printed). Results also go to build/bench/middleware_bench.json.
"""

from __future__ import annotations

import asyncio
import json
import logging
import logging.config
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

from connexion import AsyncApp
from connexion.middleware import MiddlewarePosition

from tmfserver.app import create_app
from tmfserver.cli import migrate
from tmfserver.logs import install_log_record_factory, logging_config
from tmfserver.settings import Settings
from tmfserver.web.context import SCOPE_KEY

REPO = Path(__file__).resolve().parents[1]
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
OUT = Path(os.environ.get("BENCH_JSON", REPO / "build/bench/middleware_bench.json"))
ORDERS = "/tmf-api/resourceOrderingManagement/v4/resourceOrder"
ORDER = {"description": "bench", "orderItem": [{"id": "1", "action": "add", "quantity": 1}]}


def scope(method: str, path: str, body: bytes = b"") -> dict:
    headers = [(b"host", b"127.0.0.1:8080"), (b"accept", b"application/json")]
    if body:
        headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }


async def call(app: Callable, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    sent = False
    status, chunks = 0, []

    async def receive() -> dict:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)  # a client that stays connected
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope(method, path, body), receive, send)
    return status, b"".join(chunks)


class AttachDependencies:
    """`app-bare`: only what the handlers need from the project's middleware."""

    def __init__(self, app: Callable, deps: object) -> None:
        self.app, self.deps = app, deps

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        scope[SCOPE_KEY] = self.deps
        await self.app(scope, receive, send)


async def answer_200(scope: dict, receive: Callable, send: Callable) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"{}"})


def build(settings: Settings) -> dict[str, Callable]:
    """The four variants; the project's middleware as `create_app` adds it (class and options, in order)."""
    added: list[tuple[type, dict]] = []
    original = AsyncApp.add_middleware

    def recording(self: AsyncApp, middleware_class: type, position: MiddlewarePosition, **options: object):
        added.append((middleware_class, options))
        return original(self, middleware_class, position=position, **options)

    with mock.patch.object(AsyncApp, "add_middleware", recording):
        app = create_app(settings)
    middleware = list(added)

    def skipping(self: AsyncApp, middleware_class: type, position: MiddlewarePosition, **options: object):
        return None

    with mock.patch.object(AsyncApp, "add_middleware", skipping):
        bare = create_app(settings)
    original(bare, AttachDependencies, position=MiddlewarePosition.BEFORE_EXCEPTION, deps=bare.deps)

    def chain(terminal: Callable) -> Callable:
        for middleware_class, options in reversed(middleware):
            terminal = middleware_class(terminal, **options)
        return terminal

    return {"app": app, "app-bare": bare, "chain": chain(answer_200), "chain-bare": answer_200}


async def measure(app: Callable, method: str, path: str, requests: int) -> tuple[float, float]:
    process, thread = time.process_time(), time.thread_time()
    for _ in range(requests):
        await call(app, method, path)
    # The log writer thread's share: wait until it has written what this round queued.
    for handler in logging.getLogger().handlers:
        handler.flush()
    return (
        (time.process_time() - process) * 1000 / requests,
        (time.thread_time() - thread) * 1000 / requests,
    )


def configure(level: str) -> None:
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115  (for the whole run)
    settings = Settings(log_level=level, log_format="json")
    logging.config.dictConfig(logging_config(settings))


async def run(variants: dict[str, Callable], order_id: str) -> list[dict]:
    cases = [
        ("GET /health/live", "GET", "/health/live", ("app", "chain", "chain-bare")),
        ("GET /resourceOrder/{id}", "GET", f"{ORDERS}/{order_id}", ("app", "app-bare", "chain", "chain-bare")),
    ]
    results = []
    for level in ("INFO", "WARNING"):
        logging.getLogger().setLevel(level)
        for label, method, path, names in cases:
            for name in names:
                status, _body = await call(variants[name], method, path)  # warm-up, and a check
                assert status == 200, (name, path, status)
                for _ in range(200):
                    await call(variants[name], method, path)
            rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
            for round_number in range(ROUNDS):
                for name in names if round_number % 2 == 0 else reversed(names):  # no variant always first
                    rounds[name].append(await measure(variants[name], method, path, REQUESTS))
            for name in names:
                process = statistics.median(r[0] for r in rounds[name])
                loop = statistics.median(r[1] for r in rounds[name])
                results.append(
                    {"level": level, "request": label, "variant": name, "process_ms": process, "loop_ms": loop}
                )
    return results


def main() -> None:
    install_log_record_factory()
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/bench.db"
        migrate(url)
        configure("INFO")
        settings = Settings(database_url=url, background_workers=False, public_base_url="")
        variants = build(settings)
        status, body = asyncio.run(call(variants["app"], "POST", ORDERS, json.dumps(ORDER).encode()))
        assert status == 201, body
        order_id = json.loads(body)["id"]
        results = asyncio.run(run(variants, order_id))
    sys.stderr = sys.__stderr__
    print(
        f"{REQUESTS} requests x {ROUNDS} rounds (median round), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; CPU ms per request"
    )
    print("| level | request | variant | process ms | loop thread ms |")
    print("|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['level']} | {r['request']} | {r['variant']} | {r['process_ms']:.3f} | {r['loop_ms']:.3f} |"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
