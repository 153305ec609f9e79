"""Reading and writing TMF resource documents, one generic repository for every resource type."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, Row, Select, Text, bindparam, cast, delete, insert, select
from sqlalchemy.orm import Session

from ..query.parse import Query
from ..query.values import canonical_instant
from . import search
from .errors import database_errors
from .models import ResourceMixin, SearchValue


def _promoted_values(model: type[ResourceMixin], document: dict) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, (attribute, kind) in model.promoted.items():
        raw = document.get(key)
        if not isinstance(raw, str):
            values[attribute] = None
        elif kind == "time":
            values[attribute] = canonical_instant(raw)
        else:
            values[attribute] = raw[: getattr(model, attribute).type.length or None]
    return values


def stored_text(model: type[ResourceMixin]) -> Any:
    """The stored document as its JSON text, not decoded: SQLite keeps the text; PostgreSQL prints the jsonb
    (`doc::text`). For answers that send a document as stored (services/resources.py `verbatim`)."""
    return cast(model.doc, Text).label("doc")


@functools.cache
def _by_id(model: type[ResourceMixin], as_text: bool) -> Select:
    # Built once per model: the statement cache then skips compiling it again too.
    document = stored_text(model) if as_text else model.doc
    return select(document, model.version).where(model.id == bindparam("resource_id"))


# Why: docs/decisions/0052-core-read-paths.md
def read_document(
    engine: Engine, model: type[ResourceMixin], resource_id: str, *, as_text: bool = False
) -> Row | None:
    """(doc, version) of one resource, or None: one Core statement on a pooled connection, no unit of work
    and no ORM identity map. `as_text`: `doc` is the stored JSON text. Raises `errors.DatabaseUnavailable`
    like a unit of work."""
    with database_errors(), engine.connect() as connection:
        return connection.execute(_by_id(model, as_text), {"resource_id": resource_id}).one_or_none()


def read_page(
    engine: Engine, model: type[ResourceMixin], query: Query, *, as_text: bool = False
) -> tuple[Sequence[Row], int]:
    """(rows of (id, doc, version), total) of a TMF630 query: two Core statements in one read transaction,
    so the total and the page agree. `as_text` as for `read_document`."""
    document = stored_text(model) if as_text else model.doc
    with database_errors(), engine.connect() as connection:
        rows = connection.execute(search.page_statement(model, query, model.id, document, model.version)).all()
        total = connection.scalar(search.count_statement(model, query)) or 0
    return rows, total


class DocumentRepository:
    def __init__(self, session: Session, model: type[ResourceMixin]) -> None:
        self.session = session
        self.model = model

    def get(self, resource_id: str, *, for_update: bool = False) -> ResourceMixin | None:
        statement = select(self.model).where(self.model.id == resource_id)
        if for_update:
            # A row lock on PostgreSQL; SQLite write transactions are already exclusive.
            statement = statement.with_for_update()
        return self.session.scalars(statement).one_or_none()

    def add(self, document: dict, **columns: Any) -> ResourceMixin:
        now = datetime.now(UTC)
        row = self.model(
            doc=document,
            version=1,
            created_at=now,
            updated_at=now,
            **_promoted_values(self.model, document),
            **columns,
        )
        self.session.add(row)
        self.session.flush()
        self._index(row)
        return row

    def replace(self, row: ResourceMixin, document: dict, **columns: Any) -> ResourceMixin:
        row.doc = document
        row.version = row.version + 1
        row.updated_at = datetime.now(UTC)
        for attribute, value in {**_promoted_values(self.model, document), **columns}.items():
            setattr(row, attribute, value)
        self.session.execute(self._owned_search_values(row.pk))
        self.session.flush()
        self._index(row)
        return row

    def delete(self, row: ResourceMixin) -> None:
        self.session.execute(self._owned_search_values(row.pk))
        self.session.delete(row)
        self.session.flush()

    def page(self, query: Query) -> tuple[Sequence[Row], int]:
        """(rows of (id, doc, version), total), in this unit of work's transaction."""
        model = self.model
        statement = search.page_statement(model, query, model.id, model.doc, model.version)
        rows = self.session.execute(statement).all()
        total = self.session.scalar(search.count_statement(self.model, query)) or 0
        return rows, total

    def _owned_search_values(self, pk: int):
        return delete(SearchValue).where(
            SearchValue.resource_type == self.model.resource_type, SearchValue.resource_pk == pk
        )

    def _index(self, row: ResourceMixin) -> None:
        rows = search.index_rows(self.model, row.pk, row.doc)
        if rows:
            self.session.execute(insert(SearchValue), rows)
