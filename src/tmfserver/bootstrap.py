"""The composition root: settings in; engine, sessions, the served documents, validators and the services'
dependencies out. The web app (`app.create_app`), the CLI and the tests all wire through `wire`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from . import metrics, specbuild, specdiff
from .query.projection import RequiredKeys
from .registry import EXTENSIONS_DIR, SERVED, Api, Document
from .services.dependencies import Dependencies, Placement
from .settings import Settings
from .store.db import make_async_engine, make_engine, make_session_factory
from .store.execution import Execution, GreenletExecution, SqliteExecution
from .store.unit_of_work import use_immediate_transactions_on_sqlite


@dataclass(frozen=True)
class LoadedDocument:
    """A served document, read and parsed once: it is served byte for byte from `raw`; Connexion, the route
    table, Swagger UI and the resource validators use `content`."""

    spec: Document
    url: str  # where it is served: `<basePath>/swagger.json` (`openapi.json` for OpenAPI 3), `extensions.json`
    raw: bytes
    content: dict

    @property
    def base_path(self) -> str:
        return specdiff.base_path(self.content)

    @property
    def schemas(self) -> dict:
        """Its `definitions` (Swagger 2) or `components/schemas` (OpenAPI 3)."""
        return specdiff.schemas(self.content)


@dataclass(frozen=True)
class ServedApi:
    api: Api
    base_path: str
    documents: tuple[LoadedDocument, ...]


@dataclass(frozen=True)
class Wiring:
    settings: Settings
    deps: Dependencies
    apis: tuple[ServedApi, ...]

    @property
    def documents(self) -> tuple[LoadedDocument, ...]:
        return tuple(document for api in self.apis for document in api.documents)


def document_path(spec: Document) -> Path:
    """The file a document is served from: its own path, a project extension, or the pinned build."""
    if spec.path is not None:
        return spec.path
    if spec.is_extension:
        return EXTENSIONS_DIR / f"{spec.name}.json"
    return specbuild.served_document_path(spec.name)


def load_document(spec: Document) -> LoadedDocument:
    raw = document_path(spec).read_bytes()
    content = json.loads(raw)
    if spec.is_extension:
        file = "extensions.json"
    else:
        file = "openapi.json" if specdiff.is_openapi3(content) else "swagger.json"
    return LoadedDocument(spec, specdiff.base_path(content) + "/" + file, raw, content)


def serve_api(api: Api) -> ServedApi:
    documents = tuple(load_document(spec) for spec in api.documents)
    base_paths = {document.base_path for document in documents}
    if len(base_paths) != 1:
        raise ValueError(f"{api.name}: its documents declare different base paths {sorted(base_paths)}")
    return ServedApi(api, base_paths.pop(), documents)


def defining_document(served: ServedApi, definition: str) -> LoadedDocument:
    """The API's document that defines `definition`."""
    for document in reversed(served.documents):  # the official document last
        if definition in document.schemas:
            return document
    raise ValueError(f"{served.api.name}: no served document defines {definition}")


def definitions_of(served: ServedApi, definition: str) -> dict:
    """The `definitions` (or OpenAPI 3 `components/schemas`) of the API's document defining `definition`."""
    return defining_document(served, definition).schemas


def document_validator(definitions: dict, definition: str, openapi3: bool = False) -> Draft4Validator:
    """A validator for one definition of a served document, its $refs resolved in that document (Swagger 2
    `#/definitions/…`, OpenAPI 3 `#/components/schemas/…`; OpenAPI's own keywords such as `discriminator`
    are ignored, as by Connexion's validation)."""
    if openapi3:
        schema = {"components": {"schemas": definitions}, "$ref": f"#/components/schemas/{definition}"}
    else:
        schema = {"definitions": definitions, "$ref": f"#/definitions/{definition}"}
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def placements(apis: Sequence[ServedApi]) -> dict[str, tuple[Placement, ...]]:
    """Resource name → where it is served, one placement per API exposing it (in registry order)."""
    found: dict[str, list[Placement]] = {}
    for served in apis:
        for exposed in served.api.exposed:
            kind = exposed.kind
            if any(p.api == served.api.name for p in found.get(kind.name, [])):
                raise ValueError(f"{served.api.name} exposes {kind.name} twice")
            document = defining_document(served, exposed.schema)
            found.setdefault(kind.name, []).append(
                Placement(
                    api=served.api.name,
                    base_path=served.base_path,
                    validator=document_validator(
                        document.schemas, exposed.schema, specdiff.is_openapi3(document.content)
                    ),
                    required=RequiredKeys(document.schemas, exposed.schema),
                    representation=exposed.representation,
                )
            )
    return {name: tuple(found_here) for name, found_here in found.items()}


def wire(settings: Settings | None = None, apis: Sequence[Api] = SERVED) -> Wiring:
    """Everything the server needs, built once per process."""
    settings = settings or Settings()
    engine = make_engine(*_pool(settings), sqlite_synchronous=settings.sqlite_synchronous, **_waits(settings))
    use_immediate_transactions_on_sqlite(engine)
    metrics.instrument_pool(engine)
    served = tuple(serve_api(api) for api in apis)
    sessions = make_session_factory(engine)
    deps = Dependencies(settings, engine, sessions, placements(served), execution(settings, engine, sessions))
    return Wiring(settings, deps, served)


def _pool(settings: Settings) -> tuple[str, int, int]:
    return settings.database_url, settings.db_pool_size, settings.db_max_overflow


def _waits(settings: Settings) -> dict[str, Any]:
    """The bounded waits and the commit durability both engines share (store/db.py)."""
    return {
        "connect_timeout_seconds": settings.db_connect_timeout_seconds,
        "pool_timeout_seconds": settings.db_pool_timeout_seconds,
        "postgresql_synchronous_commit": settings.postgresql_synchronous_commit,
    }


def execution(settings: Settings, engine: Engine, sessions: sessionmaker[Session]) -> Execution:
    """Where request handlers run their service calls (store/execution.py): SQLite's one writer per process,
    PostgreSQL's async engine (a pool of its own per process, beside `engine` for background work)."""
    if engine.dialect.name == "sqlite":
        return SqliteExecution(sessions)
    async_engine = make_async_engine(*_pool(settings), **_waits(settings))
    metrics.instrument_pool(async_engine.sync_engine)
    return GreenletExecution(async_engine, make_session_factory)
