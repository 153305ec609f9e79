"""Validation benchmark: request validation before and after compiled body validators (bench/README.md,
"Validation benchmark"; docs/decisions/0042-compiled-body-validation.md).

    .venv/bin/python bench/validation_bench.py [--repeat N] [--requests N]

In-process, one thread. Needs `make openapi`.

1. Body validation, µs per body: a typical TMF652 ResourceOrder create body (the one of bench/post_order.lua)
   and a TMF663 ShoppingCart (v4, and v5 with its `@type`s), against the schema Connexion hands the server's
   validator. "before": what the server did per request (Connexion's `_validator` property builds a
   Draft4RequestValidator, then validates); "after": the API's CompiledSchemas lookup and `surely_valid`.
2. Parameter validation, µs per request of `GET /resourceOrder?fields=id,state&offset=0&limit=10`: the
   parameter validator Connexion builds per request, validating the three declared query parameters; before
   with a Draft4Validator built per parameter, after with the cached one.
3. Through the ASGI app (SQLite in build/bench/, no socket): CPU time (process_time) per request of the same
   POST /resourceOrder and the same GET list, before (the two validators above replaced by their previous
   code, copied below from main at 386400d) and after, alternated in rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connexion.exceptions import BadRequestProblem
from connexion.json_schema import Draft4RequestValidator
from connexion.resolver import Resolver
from connexion.spec import Specification
from connexion.utils import is_null, is_nullable
from jsonschema import Draft4Validator, ValidationError

from tmfserver.app import create_app
from tmfserver.bootstrap import load_document
from tmfserver.cli import migrate
from tmfserver.client_messages import body_problem, parameter_problem
from tmfserver.registry import SERVED
from tmfserver.settings import Settings
from tmfserver.web.compiled_schemas import CompiledSchemas
from tmfserver.web.validation import TmfJsonBodyValidator, TmfParameterValidator, _without_member_nulls

ROOT = Path(__file__).resolve().parent.parent
ORDERS = "/tmf-api/resourceOrderingManagement/v4/resourceOrder"
ORDER = {
    "externalId": "bench",
    "description": "wrk create",
    "orderItem": [{"id": "1", "action": "add"}],
    "relatedParty": [{"id": "456-dd-df45", "@referredType": "Individual"}],
}
CART = {
    "description": "bench cart",
    "validFor": {"startDateTime": "2026-12-01T10:00:00Z"},
    "cartItem": [
        {"id": "1", "quantity": 2, "action": "add", "productOffering": {"id": "sim-plan-s"}},
        {"id": "2", "quantity": 1, "action": "add", "productOffering": {"id": "handset"}},
    ],
    "relatedParty": [{"id": "c-1", "role": "customer", "@referredType": "Individual"}],
}
CART_V5 = {
    "@type": "ShoppingCart",
    "description": "bench cart",
    "validFor": {"startDateTime": "2026-12-01T10:00:00Z"},
    "cartItem": [
        {"@type": "CartItem", "id": "1", "quantity": 2, "action": "add",
         "productOffering": {"@type": "ProductOfferingRef", "id": "sim-plan-s"}},
        {"@type": "CartItem", "id": "2", "quantity": 1, "action": "add",
         "productOffering": {"@type": "ProductOfferingRef", "id": "handset"}},
    ],
}  # fmt: skip
LIST_QUERY = "fields=id,state&offset=0&limit=10"


def body_schema(document: str, operation_id: str) -> dict:
    """The schema Connexion passes the body validator of `operation_id` (application/json)."""
    spec_document = next(d for api in SERVED for d in api.documents if d.name == document)
    spec = Specification.load(load_document(spec_document).content)
    resolver = Resolver(function_resolver=lambda _operation_id: lambda: None)
    for path, methods in spec["paths"].items():
        for method in methods:
            operation = spec.operation_cls.from_spec(spec, path=path, method=method, resolver=resolver)
            if operation.operation_id == operation_id:
                return operation.body_schema("application/json")
    raise LookupError(operation_id)


def list_parameters() -> list[dict]:
    spec_document = next(d for api in SERVED for d in api.documents if d.name == "TMF652")
    spec = Specification.load(load_document(spec_document).content)
    resolver = Resolver(function_resolver=lambda _operation_id: lambda: None)
    operation = spec.operation_cls.from_spec(spec, path="/resourceOrder", method="get", resolver=resolver)
    return operation.parameters


def per_call_us(function: Callable[[], Any], repeat: int) -> float:
    """The fastest of 7 runs of `repeat` calls, in µs per call (the least disturbed by other processes)."""
    runs = []
    for _ in range(7):
        start = time.perf_counter()
        for _ in range(repeat):
            function()
        runs.append((time.perf_counter() - start) / repeat * 1e6)
    return min(runs)


# --- the code before this change (main at 386400d), for the "before" columns ----------------------------


def old_validate_body(self: TmfJsonBodyValidator, body: Any) -> None:
    if self._is_patch:
        body = _without_member_nulls(body)
    if body is None and not self._nullable:
        raise BadRequestProblem(detail="the request body must not be empty")
    try:
        self._validator.validate(body)  # Connexion's property: a new Draft4RequestValidator
    except ValidationError as exc:
        raise BadRequestProblem(detail=body_problem(exc)) from None


def old_validate_parameter(parameter_type: str, value: Any, param: dict, param_name: str | None = None) -> Any:
    if is_nullable(param) and is_null(value):
        return None
    name = str(param.get("name", param_name))
    if value is None:
        return f"{parameter_type} parameter '{name}' is required" if param.get("required") else None
    schema = param.get("schema", param)
    try:
        Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).validate(value)
    except ValidationError as exc:
        return parameter_problem(parameter_type, name, exc)
    return None


class Before:
    """The previous validators in place of the current ones, for the app's requests."""

    def __enter__(self) -> None:
        self.saved = (TmfJsonBodyValidator._validate, TmfParameterValidator.__dict__["validate_parameter"])
        TmfJsonBodyValidator._validate = old_validate_body  # type: ignore[method-assign]
        TmfParameterValidator.validate_parameter = staticmethod(old_validate_parameter)  # type: ignore[assignment]

    def __exit__(self, *_exc: object) -> None:
        TmfJsonBodyValidator._validate, TmfParameterValidator.validate_parameter = self.saved  # type: ignore


# --- 1 and 2: the validators alone ------------------------------------------------------------------------


def bodies(repeat: int) -> list[tuple[str, float, float]]:
    rows = []
    cases = [
        ("TMF652 ResourceOrder create", "TMF652", "createResourceOrder", ORDER),
        ("TMF663 ShoppingCart create (v4)", "TMF663", "createShoppingCart", CART),
        ("TMF663 ShoppingCart create (v5)", "TMF663-v5", "createShoppingCart", CART_V5),
    ]
    for label, document, operation_id, body in cases:
        schema = body_schema(document, operation_id)
        reference = Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        reference.validate(body)  # the body is valid
        schemas = CompiledSchemas()
        start = time.perf_counter()
        assert schemas(schema).surely_valid(body)
        compile_ms = (time.perf_counter() - start) * 1e3

        def before(schema: dict = schema, body: Any = body) -> None:
            Draft4RequestValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER).validate(body)

        def after(schemas: CompiledSchemas = schemas, schema: dict = schema, body: Any = body) -> None:
            if not schemas(schema).surely_valid(body):
                raise AssertionError("valid body")

        rows.append(
            (
                f"{label} (compiled once: {compile_ms:.1f} ms)",
                per_call_us(before, repeat),
                per_call_us(after, repeat),
            )
        )
    return rows


def parameters(repeat: int) -> tuple[float, float]:
    params = list_parameters()
    values = {"fields": "id,state", "offset": 0, "limit": 10}
    query = [(p, values[p["name"]]) for p in params if p["in"] == "query"]
    cached = type("Parameters", (TmfParameterValidator,), {"validators": {}})

    def before() -> None:
        for param, value in query:
            assert old_validate_parameter("query", value, param) is None

    def after() -> None:
        for param, value in query:
            assert cached.validate_parameter("query", value, param) is None

    return per_call_us(before, repeat), per_call_us(after, repeat)


# --- 3: through the app ------------------------------------------------------------------------------------


class AsgiClient:
    """Calls the ASGI app directly: one request, the whole response read, no socket, no thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()

    def request(self, method: str, path: str, query: str = "", body: bytes = b"") -> int:
        return self.loop.run_until_complete(self._request(method, path, query, body))

    async def _request(self, method: str, path: str, query: str, body: bytes) -> int:
        headers = [(b"host", b"bench"), (b"accept", b"application/json")]
        if body:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
            "root_path": "", "headers": headers, "client": ("127.0.0.1", 5000), "server": ("bench", 80),
        }  # fmt: skip
        sent = False
        status = 0

        async def receive() -> dict:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status

    def lifespan(self, event: str) -> None:
        async def run() -> None:
            messages = [{"type": f"lifespan.{event}"}]

            async def receive() -> dict:
                return messages.pop() if messages else await asyncio.sleep(3600)

            async def send(message: dict) -> None:
                if message["type"].endswith(("complete", "failed")):
                    raise _Done

            with contextlib.suppress(_Done):
                await self.app({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)

        self.loop.run_until_complete(run())


class _Done(Exception):
    pass


def through_app(requests: int, rounds: int) -> dict[str, tuple[float, float]]:
    database = ROOT / "build" / "bench" / "validation_bench.db"
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{database}"
    migrate(url)
    settings = Settings(database_url=url, background_workers=False, log_level="WARNING", public_base_url="")
    client = AsgiClient(create_app(settings))
    client.lifespan("startup")
    post = json.dumps(ORDER).encode()
    scenarios: dict[str, Callable[[], int]] = {
        "POST /resourceOrder": lambda: client.request("POST", ORDERS, body=post),
        f"GET /resourceOrder?{LIST_QUERY}": lambda: client.request("GET", ORDERS, query=LIST_QUERY),
    }
    for run in scenarios.values():  # warm: compiled schemas, caches, imports
        for _ in range(20):
            assert run() in (200, 201)
    cpu: dict[str, dict[str, list[float]]] = {name: {"before": [], "after": []} for name in scenarios}
    for _ in range(rounds):
        for variant in ("before", "after"):
            for name, run in scenarios.items():
                with Before() if variant == "before" else _Nothing():
                    start = time.process_time()
                    for _ in range(requests):
                        run()
                    cpu[name][variant].append((time.process_time() - start) / requests * 1e6)
    return {name: (statistics.median(v["before"]), statistics.median(v["after"])) for name, v in cpu.items()}


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_exc: object) -> None:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="calls per timing of a validator")
    parser.add_argument("--requests", type=int, default=300, help="requests per round through the app")
    parser.add_argument("--rounds", type=int, default=5, help="before/after rounds through the app (median)")
    args = parser.parse_args(argv)

    print("| validation | before (µs) | after (µs) | ratio |")
    print("|---|---|---|---|")
    for label, before, after in bodies(args.repeat):
        print(f"| body: {label} | {before:.1f} | {after:.2f} | {before / after:.0f}x |")
    before, after = parameters(args.repeat)
    print(f"| parameters: `GET /resourceOrder?{LIST_QUERY}` (3 declared) | {before:.1f} | {after:.1f} | "
          f"{before / after:.1f}x |")  # fmt: skip
    print()
    print("| through the ASGI app, CPU per request | before (µs) | after (µs) | saved (µs) |")
    print("|---|---|---|---|")
    for name, (before, after) in through_app(args.requests, args.rounds).items():
        print(f"| `{name}` | {before:.0f} | {after:.0f} | {before - after:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
