"""Web wiring: the composition root's output (bootstrap.wire) mounted in Connexion, one `add_api` per served
document, with the project's middleware and error mapping around it."""

from __future__ import annotations

import importlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from types import ModuleType

from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from . import metrics
from .bootstrap import Wiring, wire
from .logs import install_log_record_factory, quiet_undeclared_parameters
from .registry import SERVED, Api
from .services.background import BackgroundWork
from .services.exceptions import ServiceError
from .settings import Settings
from .web import error_responses
from .web.async_app import TmfAsyncApp
from .web.auth import Authenticate, make_authenticator, security_map
from .web.error_responses import HttpError
from .web.health import PATHS as OPERATIONAL_PATHS
from .web.health import OperationalEndpoints, Readiness
from .web.middleware import RequestGuard, ServedDocuments
from .web.observability import ObserveRequests
from .web.ratelimit import RateLimit
from .web.routes import Operations
from .web.swagger_ui import swagger_ui_options
from .web.transport import Cors, RequestId, cors_options
from .web.validation import validator_map

log = logging.getLogger("tmfserver")


def handler_name(operation_id: str) -> str:
    """`listResourceOrder` → `list_resource_order`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


# Why: docs/decisions/0005-per-document-module-resolver.md
class ModuleResolver(Resolver):
    """Resolves an operationId to the same-named snake_case function in one of the document's modules.

    Both documents define `registerListener`, so resolution is per document, never one flat namespace.
    """

    def __init__(self, module_names: tuple[str, ...]) -> None:
        self.modules: list[ModuleType] = [importlib.import_module(m) for m in module_names]
        super().__init__(function_resolver=self._function)

    def _function(self, operation_id: str) -> Callable:
        name = handler_name(operation_id)
        for module in self.modules:
            function = getattr(module, name, None)
            if callable(function):
                return function
        raise ImportError(f"no handler {name} for operationId {operation_id}")


def create_app(settings: Settings | None = None, apis: Sequence[Api] = SERVED) -> TmfAsyncApp:
    """The Connexion app serving `apis` (by default everything in the registry)."""
    install_log_record_factory()
    quiet_undeclared_parameters()
    wiring = wire(settings, apis)
    settings, deps, engine = wiring.settings, wiring.deps, wiring.deps.engine

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        work = BackgroundWork(deps) if settings.background_workers else None
        if deps.execution is not None:
            deps.execution.start()
        if work:
            work.start()
            readiness.attach(work)
        try:
            yield
        finally:
            if work:
                work.stop()
            if deps.execution is not None:
                await deps.execution.stop()  # the writes still queued are committed first
            engine.dispose()
            metrics.mark_this_process_dead()

    readiness = Readiness(engine, settings.health_timeout_seconds, settings.background_workers)
    app = TmfAsyncApp(__name__, lifespan=lifespan)
    contents = {document.url: document.content for document in wiring.documents}
    for document in wiring.documents:
        app.add_api(
            document.content,  # not the path: Connexion would parse the file again (as YAML, slowly)
            resolver=ModuleResolver(document.spec.handlers),
            resolver_error=501,
            # Why: docs/decisions/0015-response-validation-in-tests-only.md
            validate_responses=settings.validate_responses,
            # Why: docs/decisions/0008-no-strict-query-validation.md
            strict_validation=False,  # TMF630 attribute filters are query parameters the documents omit
            validator_map=validator_map(
                settings.max_json_depth, settings.max_array_items, settings.max_string_length
            ),
            # The documents declare security schemes; web.auth.Authenticate enforces them (see there).
            security_map=security_map(),
            swagger_ui_options=swagger_ui_options(document.url, contents),
        )
    # Outermost first: request id and security headers, request metrics and access log, /health and /metrics,
    # CORS, rate limit, the public documents, authentication, then the request guard (see web/transport.py,
    # web/observability.py, web/health.py, web/ratelimit.py, web/auth.py). Separate layers, not one merged
    # middleware: together they cost about 2 % of a GET's CPU, the layering itself 0.2 %.
    # Why: docs/decisions/0044-middleware-kept-as-separate-layers.md
    base_paths = tuple(sorted({url.rsplit("/", 1)[0] for url in contents}))
    before_exception = MiddlewarePosition.BEFORE_EXCEPTION
    app.add_middleware(RequestId, position=before_exception, base_paths=base_paths)
    operations = Operations(contents.values())
    app.add_middleware(
        ObserveRequests,
        position=before_exception,
        operations=operations,
        settings=settings,
        named_paths=OPERATIONAL_PATHS,
    )
    app.add_middleware(
        OperationalEndpoints,
        position=before_exception,
        readiness=readiness,
        exposition=metrics.Exposition(engine),
    )
    if settings.cors_origins.strip():
        options = cors_options(settings.cors_origins, settings.cors_max_age_seconds)
        app.add_middleware(Cors, position=before_exception, **options)
    app.add_middleware(RateLimit, position=before_exception, settings=settings)
    served = {document.url: document.raw for document in wiring.documents}
    app.add_middleware(ServedDocuments, position=before_exception, documents=served)
    authenticator = make_authenticator(settings)  # refuses unusable auth settings now, not per request
    app.add_middleware(
        Authenticate, position=before_exception, authenticator=authenticator, base_paths=base_paths
    )
    app.add_middleware(RequestGuard, position=before_exception, deps=deps)
    app.add_error_handler(ServiceError, error_responses.service_error)
    app.add_error_handler(HttpError, error_responses.http_error)
    app.add_error_handler(ProblemException, error_responses.problem)
    app.add_error_handler(HTTPException, error_responses.http_exception_handler(operations))
    app.add_error_handler(404, error_responses.not_found)
    app.add_error_handler(Exception, error_responses.unexpected)
    app.wiring: Wiring = wiring  # for tests
    app.deps = deps  # for tests
    app.readiness = readiness  # for tests
    return app
