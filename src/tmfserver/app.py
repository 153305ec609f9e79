"""App wiring: settings in, Connexion app out. One `add_api` per served document."""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from . import metrics, specbuild
from .errors import ApiError
from .query.projection import RequiredKeys
from .services.background import BackgroundWork
from .settings import Settings
from .store.db import make_engine, make_session_factory
from .store.unit_of_work import use_immediate_transactions_on_sqlite
from .web import errors
from .web.auth import Authenticate, make_authenticator, security_map
from .web.context import Services
from .web.health import PATHS as OPERATIONAL_PATHS
from .web.health import OperationalEndpoints, Readiness
from .web.middleware import RequestGuard, ServedDocuments
from .web.observability import ObserveRequests
from .web.ratelimit import RateLimit
from .web.routes import Operations
from .web.swagger_ui import swagger_ui_options
from .web.transport import Cors, RequestId, cors_options, install_log_record_factory
from .web.validation import document_validator, validator_map

log = logging.getLogger("tmfserver")

EXTENSIONS_DIR = specbuild.OPENAPI_DIR / "extensions"
HANDLERS = "tmfserver.api."

# Each served document and the handler modules its operationIds resolve to. Official documents come from the
# spec build (build/openapi/), project-owned extension documents from openapi/extensions/.
APIS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # Extension documents first: documents sharing a basePath are mounted in order, later ones win for
    # Swagger UI, and operations of both stay routable.
    ("TMF652-extensions", ("state_history",)),
    ("TMF652", ("resource_order", "cancel_resource_order", "hub", "listener")),
    ("TMF663", ("shopping_cart", "hub", "listener")),
)


# Each stored resource and its definition in a served document: patched documents are validated against it,
# `fields` selections keep what it requires.
RESOURCE_DEFINITIONS = {
    "resourceOrder": ("TMF652", "ResourceOrder"),
    "cancelResourceOrder": ("TMF652", "CancelResourceOrder"),
    "shoppingCart": ("TMF663", "ShoppingCart"),
}


def document_path(name: str) -> Path:
    extension = EXTENSIONS_DIR / f"{name}.json"
    return extension if extension.is_file() else specbuild.served_document_path(name)


@dataclass(frozen=True)
class ServedDocument:
    """A served document, read and parsed once: ServedDocuments serves `raw` byte for byte; Connexion, the
    route table, Swagger UI and the resource validators use `content`."""

    url: str  # where ServedDocuments serves it: `<basePath>/swagger.json`, `<basePath>/extensions.json`
    raw: bytes
    content: dict


def load_document(name: str) -> ServedDocument:
    path = document_path(name)
    raw = path.read_bytes()
    content = json.loads(raw)
    file = "extensions.json" if path.parent == EXTENSIONS_DIR else "swagger.json"
    return ServedDocument(content["basePath"].rstrip("/") + "/" + file, raw, content)


def handler_name(operation_id: str) -> str:
    """`listResourceOrder` → `list_resource_order`."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation_id).lower()


class ModuleResolver(Resolver):
    """Resolves an operationId to the same-named snake_case function in one of the document's modules.

    Both documents define `registerListener`, so resolution is per document, never one flat namespace.
    """

    def __init__(self, module_names: tuple[str, ...]) -> None:
        self.modules: list[ModuleType] = [importlib.import_module(HANDLERS + m) for m in module_names]
        super().__init__(function_resolver=self._function)

    def _function(self, operation_id: str) -> Callable:
        name = handler_name(operation_id)
        for module in self.modules:
            function = getattr(module, name, None)
            if callable(function):
                return function
        raise ImportError(f"no handler {name} for operationId {operation_id}")


def create_app(settings: Settings | None = None) -> AsyncApp:
    settings = settings or Settings()
    install_log_record_factory()
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    use_immediate_transactions_on_sqlite(engine)
    metrics.instrument_pool(engine)
    documents = {name: load_document(name) for name, _modules in APIS}
    definitions = {api: documents[api].content for api, _ in RESOURCE_DEFINITIONS.values()}
    services = Services(
        settings,
        engine,
        make_session_factory(engine),
        document_validators={
            name: document_validator(definitions[api], definition)
            for name, (api, definition) in RESOURCE_DEFINITIONS.items()
        },
        required_keys={
            name: RequiredKeys(definitions[api]["definitions"], definition)
            for name, (api, definition) in RESOURCE_DEFINITIONS.items()
        },
    )

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        work = BackgroundWork(services) if settings.background_workers else None
        if work:
            work.start()
            readiness.attach(work)
        try:
            yield
        finally:
            if work:
                work.stop()
            engine.dispose()
            metrics.mark_this_process_dead()

    readiness = Readiness(engine, settings.health_timeout_seconds, settings.background_workers)
    app = AsyncApp(__name__, lifespan=lifespan)
    contents = {document.url: document.content for document in documents.values()}
    for name, modules in APIS:
        document = documents[name]
        app.add_api(
            document.content,  # not the path: Connexion would parse the file again (as YAML, slowly)
            resolver=ModuleResolver(modules),
            resolver_error=501,
            validate_responses=settings.validate_responses,
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
    # web/observability.py, web/health.py, web/ratelimit.py, web/auth.py).
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
    served = {document.url: document.raw for document in documents.values()}
    app.add_middleware(ServedDocuments, position=before_exception, documents=served)
    authenticator = make_authenticator(settings)  # refuses unusable auth settings now, not per request
    app.add_middleware(
        Authenticate, position=before_exception, authenticator=authenticator, base_paths=base_paths
    )
    app.add_middleware(RequestGuard, position=before_exception, services=services)
    app.add_error_handler(ApiError, errors.api_error)
    app.add_error_handler(ProblemException, errors.problem)
    app.add_error_handler(HTTPException, errors.http_exception_handler(operations))
    app.add_error_handler(404, errors.not_found)
    app.add_error_handler(Exception, errors.unexpected)
    app.services = services  # for tests and the CLI
    app.readiness = readiness  # for tests
    return app
