"""App wiring: settings in, Connexion app out. One `add_api` per served document."""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType

from connexion import AsyncApp
from connexion.exceptions import ProblemException
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException

from . import specbuild
from .errors import ApiError
from .services.background import BackgroundWork
from .settings import Settings
from .store.db import make_engine, make_session_factory
from .store.unit_of_work import use_immediate_transactions_on_sqlite
from .web import errors
from .web.context import Services
from .web.middleware import RequestGuard, ServedDocuments
from .web.validation import validator_map

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


def document_path(name: str) -> Path:
    extension = EXTENSIONS_DIR / f"{name}.json"
    return extension if extension.is_file() else specbuild.served_document_path(name)


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
    engine = make_engine(settings.database_url, settings.db_pool_size, settings.db_max_overflow)
    use_immediate_transactions_on_sqlite(engine)
    services = Services(settings, engine, make_session_factory(engine))

    @asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        work = BackgroundWork(services) if settings.background_workers else None
        if work:
            work.start()
        try:
            yield
        finally:
            if work:
                work.stop()
            engine.dispose()

    app = AsyncApp(__name__, lifespan=lifespan)
    documents: list[Path] = []
    served: dict[str, bytes] = {}
    for name, modules in APIS:
        document = document_path(name)
        documents.append(document)
        spec_path = "/extensions.json" if document.parent == EXTENSIONS_DIR else "/swagger.json"
        served[json.loads(document.read_text())["basePath"].rstrip("/") + spec_path] = document.read_bytes()
        app.add_api(
            document,
            resolver=ModuleResolver(modules),
            resolver_error=501,
            validate_responses=settings.validate_responses,
            strict_validation=False,  # TMF630 attribute filters are query parameters the documents omit
            validator_map=validator_map(settings.max_json_depth),
            swagger_ui_options=SwaggerUIOptions(
                serve_spec=False,  # ServedDocuments serves the built file itself
                spec_path=spec_path,
                # One Swagger UI per base path: the extension document shares TMF652's.
                swagger_ui=spec_path == "/swagger.json",
            ),
        )
    app.add_middleware(ServedDocuments, position=MiddlewarePosition.BEFORE_EXCEPTION, documents=served)
    app.add_middleware(RequestGuard, position=MiddlewarePosition.BEFORE_EXCEPTION, services=services)
    app.add_error_handler(ApiError, errors.api_error)
    app.add_error_handler(ProblemException, errors.problem)
    app.add_error_handler(HTTPException, errors.http_exception_handler(errors.AllowedMethods(documents)))
    app.add_error_handler(404, errors.not_found)
    app.add_error_handler(Exception, errors.unexpected)
    app.services = services  # for tests and the CLI
    return app
