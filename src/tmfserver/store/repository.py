"""Reading and writing TMF resource documents, one generic repository for every resource type."""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    Connection,
    Delete,
    Engine,
    Float,
    Insert,
    Select,
    Text,
    Update,
    bindparam,
    cast,
    func,
    select,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from ..query.parse import Query
from ..query.values import canonical_instant
from . import search
from .db import driver_statement, fetch_all, fetch_one, single_read
from .errors import database_errors
from .models import ResourceMixin, SearchValue

if TYPE_CHECKING:
    from .deferred_inserts import DeferredInserts


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
def _by_id(model: type[ResourceMixin]) -> Select:
    return select(stored_text(model), model.version).where(model.id == bindparam("resource_id"))


class StoredDocument(NamedTuple):
    doc: Any  # the document, or its stored JSON text
    version: int


# Why: docs/decisions/0048-core-read-paths.md, 0051-reads-on-the-driver-cursor.md
def read_document(
    engine: Engine, model: type[ResourceMixin], resource_id: str, *, as_text: bool = False
) -> StoredDocument | None:
    """(doc, version) of one resource, or None: one statement, compiled once, on the driver's cursor of a
    pooled connection outside any transaction; no unit of work, no ORM, no SQLAlchemy result objects. The
    document is read as its JSON text and decoded here unless `as_text` (decoded with `json.loads`, as the
    JSON column type does). Raises `errors.DatabaseUnavailable` like a unit of work."""
    statement = driver_statement(_by_id(model), engine.dialect)
    assert statement is not None  # its one parameter is a string: nothing to convert
    with database_errors(), engine.connect() as connection:
        row = fetch_one(single_read(connection), statement, {"resource_id": resource_id})
    if row is None:
        return None
    text, version = row
    return StoredDocument(text if as_text else json.loads(text), version)


class ListedDocument(NamedTuple):
    id: str
    doc: Any  # the document, or its stored JSON text
    version: int
    total: int


def read_page(
    engine: Engine, model: type[ResourceMixin], query: Query, *, as_text: bool = False
) -> tuple[list[ListedDocument], int]:
    """(rows, total) of a TMF630 query. One statement: the page's rows each carry the total (an uncorrelated
    scalar subquery, computed once), so page and total come from one snapshot without a transaction around
    them. Only a page past the end (no rows) needs the count alone. `as_text` as for `read_document`."""
    with database_errors(), engine.connect() as connection:
        return _page_and_total(single_read(connection), model, query, as_text)


# Why: docs/decisions/0051-reads-on-the-driver-cursor.md
def _page_and_total(
    connection: Connection, model: type[ResourceMixin], query: Query, as_text: bool
) -> tuple[list[ListedDocument], int]:
    """The page on the driver's cursor when none of its values needs a type conversion (most queries: strings,
    instants kept as text, the limit and offset), else through `Connection.execute`."""
    page, count = _listing_statements(model, dataclasses.replace(query, fields=None))
    on_driver = driver_statement(page, connection.dialect)
    found = fetch_all(connection, on_driver) if on_driver is not None else connection.execute(page).all()
    if as_text:
        rows = [ListedDocument(*row) for row in found]
    else:
        rows = [ListedDocument(id, json.loads(text), version, total) for id, text, version, total in found]
    return rows, rows[0].total if rows else connection.scalar(count) or 0


@functools.lru_cache(maxsize=512)
def _listing_statements(model: type[ResourceMixin], query: Query) -> tuple[Select, Select]:
    """The page (with the total on each row) and count statements of a query, kept for the next identical one
    (a client polling the same filter and page): building them costs more than running them on SQLite (~0.3 ms
    for a one-condition list). Statements are immutable; each keeps its values, so the key is the whole query
    but `fields`. The page selects the documents as their JSON text (see `read_document`)."""
    count = search.count_statement(model, query)
    total = count.correlate(None).scalar_subquery().label("total")
    return search.page_statement(model, query, model.id, stored_text(model), model.version, total), count


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """A stored resource as the write path needs it (pk, id, document, version): read and written with Core
    statements, no ORM object and no identity map."""

    pk: int | None  # None: a new row whose INSERT is deferred (store/deferred_inserts.py)
    id: str
    doc: dict
    version: int


_search_table = SearchValue.__table__
_INSERT_SEARCH_VALUES = _search_table.insert()


# Why: docs/decisions/0053-postgresql-create-in-fewer-statements.md
def insert_search_rows(resource_pk: Any, resource: Any = None) -> Insert:
    """PostgreSQL: a document's search rows as one INSERT ... SELECT from `unnest` of four arrays (one per
    column; search.index_columns). Its text and its parameters are the same for every document, so psycopg
    converts it once and PostgreSQL keeps it prepared: a multi-row VALUES has six parameters per row, and
    psycopg parses such a statement again on every execution once it has more than 50."""
    leaf = (
        func.unnest(
            bindparam("paths", type_=postgresql.ARRAY(Text)),
            bindparam("texts", type_=postgresql.ARRAY(Text)),
            bindparam("numbers", type_=postgresql.ARRAY(Float)),
            bindparam("instants", type_=postgresql.ARRAY(Text)),
        )
        .table_valued("path", "v_text", "v_num", "v_time")
        .render_derived(name="leaf")
    )
    c = _search_table.c
    return _search_table.insert().from_select(
        [c.resource_type, c.resource_pk, c.path, c.v_text, c.v_num, c.v_time],
        select(
            bindparam("resource_type", type_=c.resource_type.type),
            resource_pk,
            leaf.c.path,
            leaf.c.v_text,
            leaf.c.v_num,
            leaf.c.v_time,
        ).select_from(leaf if resource is None else resource.join(leaf, true())),
    )


_INSERT_LEAVES = insert_search_rows(bindparam("resource_pk", type_=_search_table.c.resource_pk.type))


@dataclass(frozen=True)
class _Statements:
    read: Select
    get: Select
    get_for_update: Select
    insert: Insert
    update: Update
    delete: Delete
    unindex: Delete


@functools.cache
def _statements(model: type[ResourceMixin]) -> _Statements:
    """The write path's statements of one model, built once (SQLAlchemy caches their compiled form)."""
    table = model.__table__
    c = table.c
    read = select(c.pk, c.id, c.doc, c.version)
    owned = _search_table.c
    return _Statements(
        read=read,
        get=read.where(c.id == bindparam("resource_id")),
        # A row lock on PostgreSQL; SQLite write transactions are already exclusive (renders no FOR UPDATE).
        get_for_update=read.where(c.id == bindparam("resource_id")).with_for_update(),
        insert=table.insert(),
        update=table.update().where(c.pk == bindparam("row_pk")),
        delete=table.delete().where(c.pk == bindparam("row_pk")),
        unindex=_search_table.delete().where(
            owned.resource_type == model.resource_type, owned.resource_pk == bindparam("row_pk")
        ),
    )


# Why: docs/decisions/0046-core-write-path-and-cached-subscriptions.md
class DocumentRepository:
    """Writes are Core statements on the unit of work's connection: a create is one INSERT (its pk from
    RETURNING / lastrowid) and one executemany of its search rows, or on PostgreSQL part of the unit of
    work's deferred inserts (`deferred`: store/deferred_inserts.py); an update or delete works on a row that
    `get(..., for_update=True)` locked."""

    def __init__(
        self, session: Session, model: type[ResourceMixin], deferred: DeferredInserts | None = None
    ) -> None:
        self.session = session
        self.model = model
        self.deferred = deferred
        self._sql = _statements(model)

    def get(self, resource_id: str, *, for_update: bool = False) -> DocumentRow | None:
        statement = self._sql.get_for_update if for_update else self._sql.get
        row = self.session.connection().execute(statement, {"resource_id": resource_id}).one_or_none()
        return None if row is None else DocumentRow(*row)

    def claim(self, where: Any, order_by: Any, limit: int) -> list[DocumentRow]:
        """Up to `limit` rows matching `where`, locked and skipping rows other transactions hold (PostgreSQL
        `FOR UPDATE SKIP LOCKED`; SQLite renders none: its write transactions are exclusive already)."""
        statement = (
            self._sql.read.where(where).order_by(order_by).limit(limit).with_for_update(skip_locked=True)
        )
        return [DocumentRow(*row) for row in self.session.connection().execute(statement)]

    def add(self, document: dict, **columns: Any) -> DocumentRow:
        now = datetime.now(UTC)
        values = {
            "doc": document,
            "version": 1,
            "created_at": now,
            "updated_at": now,
            **_promoted_values(self.model, document),
            **columns,
        }
        if self.deferred is not None:
            self.deferred.add_resource(self.model, {**values, **self._leaf_parameters(document)})
            return DocumentRow(None, values["id"], document, 1)
        connection = self.session.connection()
        pk = connection.execute(self._sql.insert, values).inserted_primary_key[0]
        self._index(connection, pk, document)
        return DocumentRow(pk, values["id"], document, 1)

    def replace(self, row: DocumentRow, document: dict, **columns: Any) -> DocumentRow:
        """`row` must be locked in this transaction (`get(..., for_update=True)` or `claim`): its version is
        the stored one, the new version is the next."""
        version = row.version + 1
        values = {
            "doc": document,
            "version": version,
            "updated_at": datetime.now(UTC),
            **_promoted_values(self.model, document),
            **columns,
        }
        connection = self.session.connection()
        connection.execute(self._sql.update, {"row_pk": row.pk, **values})
        connection.execute(self._sql.unindex, {"row_pk": row.pk})
        self._index(connection, row.pk, document)
        return DocumentRow(row.pk, row.id, document, version)

    def delete(self, row: DocumentRow) -> None:
        connection = self.session.connection()
        connection.execute(self._sql.unindex, {"row_pk": row.pk})
        connection.execute(self._sql.delete, {"row_pk": row.pk})

    def page(self, query: Query) -> tuple[list[ListedDocument], int]:
        """(rows, total) in this unit of work's transaction: `read_page`'s statement."""
        return _page_and_total(self.session.connection(), self.model, query, False)

    def _index(self, connection: Connection, pk: int, document: dict) -> None:
        if connection.dialect.name == "postgresql":
            connection.execute(_INSERT_LEAVES, {"resource_pk": pk, **self._leaf_parameters(document)})
            return
        rows = search.index_rows(self.model, pk, document)
        if rows:
            connection.execute(_INSERT_SEARCH_VALUES, rows)

    def _leaf_parameters(self, document: dict) -> dict[str, Any]:
        paths, texts, numbers, instants = search.index_columns(document)
        return {
            "resource_type": self.model.resource_type,
            "paths": paths,
            "texts": texts,
            "numbers": numbers,
            "instants": instants,
        }
