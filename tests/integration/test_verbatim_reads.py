"""Reads that send the stored JSON text as is (services/resources.py `verbatim`, decision 0048), and the
ones that must decode it."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from tmfserver.query.parse import parse_query
from tmfserver.services import resources
from tmfserver.services.carts import CART_KIND
from tmfserver.services.orders import ORDER_KIND
from tmfserver.store import repository
from tmfserver.store.db import driver_statement, fetch_one, make_engine, single_read
from tmfserver.store.errors import DatabaseUnavailable, database_errors
from tmfserver.store.models import ResourceOrder

from ..e2e._support import CARTS, KIT_ORDER, ORDERS


def test_orders_without_fields_are_sent_as_stored_and_carts_are_not(app) -> None:
    deps = app.deps
    order_placement = deps.placement(ORDER_KIND.name)
    assert resources.verbatim(deps, ORDER_KIND, order_placement, None)
    assert not resources.verbatim(deps, ORDER_KIND, order_placement, ("id",))
    for placement in deps.placements[CART_KIND.name]:  # v4 and v5 share the carts: hrefs differ
        assert not resources.verbatim(deps, CART_KIND, placement, None)


def test_a_verbatim_answer_is_the_same_json_as_a_decoded_one(client) -> None:
    created = client.post(ORDERS, json=KIT_ORDER)
    assert created.status_code == 201
    order = created.json()
    whole = client.get(f"{ORDERS}/{order['id']}")
    projected = client.get(f"{ORDERS}/{order['id']}", params={"fields": "id,state,orderItem"})
    assert whole.headers["content-type"].startswith("application/json")
    assert json.loads(whole.content) == order
    assert projected.json()["id"] == order["id"] and "description" not in projected.json()
    listed = client.get(ORDERS)
    assert listed.headers["X-Result-Count"] == "1" and listed.headers["X-Total-Count"] == "1"
    assert json.loads(listed.content) == [order]
    client.post(CARTS, json={})
    assert client.get(CARTS).json()[0]["href"].startswith("http")


def test_a_repeated_query_reuses_its_statements_and_another_value_gets_its_own(client) -> None:
    def statements(*pairs: tuple[str, str]):
        query = dataclasses.replace(parse_query(list(pairs)), fields=None)
        return repository._listing_statements(ResourceOrder, query)

    assert statements(("state", "acknowledged")) is statements(("state", "acknowledged"))
    assert statements(("state", "acknowledged")) is not statements(("state", "completed"))
    created = client.post(ORDERS, json=KIT_ORDER).json()
    assert client.get(ORDERS, params={"state": created["state"]}).json() == [created]
    assert client.get(ORDERS, params={"state": "completed"}).json() == []
    projected = client.get(ORDERS, params={"state": created["state"], "fields": "id"}).json()
    assert [entry["id"] for entry in projected] == [created["id"]] and "orderItem" not in projected[0]


def test_the_total_comes_with_the_page_and_alone_past_its_end(client) -> None:
    """store/repository.read_page: the total rides on the page's rows; a page past the end counts alone."""
    ids = [client.post(ORDERS, json=KIT_ORDER).json()["id"] for _ in range(3)]
    first = client.get(ORDERS, params={"limit": 2})
    assert first.headers["X-Total-Count"] == "3" and first.headers["X-Result-Count"] == "2"
    assert [order["id"] for order in first.json()] == ids[::-1][:2]
    past = client.get(ORDERS, params={"offset": 5, "limit": 2})
    assert past.json() == [] and past.headers["X-Total-Count"] == "3" and past.headers["X-Result-Count"] == "0"
    none = client.get(ORDERS, params={"state": "completed"})
    assert none.json() == [] and none.headers["X-Total-Count"] == "0"


def test_a_get_by_id_is_one_statement_on_the_driver_outside_any_transaction(client, app, backend: str) -> None:
    """store/repository.read_document (decision 0051): the compiled statement goes to the driver's cursor,
    no BEGIN around it; the text and the decoded document are the same JSON; an unknown id is None."""
    engine = app.deps.engine
    order = client.post(ORDERS, json=KIT_ORDER).json()
    begun: list[object] = []
    used: list[object] = []  # the DBAPI connections the reads ran on
    sent: list[str] = []  # SQLite: every statement the driver ran, as traced by SQLite itself

    def checked_out(dbapi_connection, _record, _proxy) -> None:
        used.append(dbapi_connection)
        if backend == "sqlite":
            dbapi_connection.set_trace_callback(sent.append)

    def record_begin(_connection) -> None:
        begun.append(_connection)

    event.listen(engine, "checkout", checked_out)
    event.listen(engine, "begin", record_begin)
    try:
        as_text = repository.read_document(engine, ResourceOrder, order["id"], as_text=True)
        decoded = repository.read_document(engine, ResourceOrder, order["id"])
        missing = repository.read_document(engine, ResourceOrder, "no-such-order")
    finally:
        event.remove(engine, "checkout", checked_out)
        event.remove(engine, "begin", record_begin)
        for dbapi_connection in used if backend == "sqlite" else ():
            dbapi_connection.set_trace_callback(None)
    assert isinstance(as_text.doc, str) and json.loads(as_text.doc) == decoded.doc == order
    assert as_text.version == decoded.version == 1 and missing is None
    assert begun == [] and len(used) == 3
    if backend == "sqlite":
        assert len(sent) == 3 and all(sql.startswith("SELECT") for sql in sent), sent
    else:  # autocommit: nothing left open for the pool's reset to roll back
        assert all(dbapi_connection.info.transaction_status == 0 for dbapi_connection in used)


def test_a_failing_get_by_id_is_a_database_error_and_a_lost_connection_is_replaced(
    app, backend: str, database_url: str
) -> None:
    """fetch_one turns the driver's errors into SQLAlchemy's: a statement error stays an error (a 500, a
    bug), a lost PostgreSQL connection is an outage (503) and the pool opens a new one for the next read."""
    engine = make_engine(database_url, pool_size=1, max_overflow=0)
    try:
        broken = driver_statement(text("SELECT doc FROM no_such_table WHERE id = :id"), engine.dialect)
        with pytest.raises(DBAPIError) as caught, database_errors(), engine.connect() as connection:
            fetch_one(single_read(connection), broken, {"id": "x"})
        assert not isinstance(caught.value, DatabaseUnavailable) and not caught.value.connection_invalidated
        if backend != "postgresql":
            return
        with engine.connect() as connection:
            pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        with app.deps.engine.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            admin.commit()
        with pytest.raises(DatabaseUnavailable):  # handed on at once: not pinged, fails like any outage
            repository.read_document(engine, ResourceOrder, "any")
        assert repository.read_document(engine, ResourceOrder, "any") is None  # a new connection
    finally:
        engine.dispose()


def test_a_page_runs_on_the_driver_unless_a_value_needs_converting(client, app, backend: str) -> None:
    """repository._page_and_total: strings, instants (kept as text) and the paging go to the driver as they
    are; a number on SQLite needs SQLAlchemy's Numeric conversion, so that page takes `Connection.execute`.
    Either way the same orders come back."""
    dialect = app.deps.engine.dialect

    def on_driver(*pairs: tuple[str, str]) -> bool:
        query = dataclasses.replace(parse_query(list(pairs)), fields=None)
        page, _count = repository._listing_statements(ResourceOrder, query)
        return driver_statement(page, dialect) is not None

    assert on_driver(("state", "acknowledged"), ("orderDate.gt", "2020-01-01T00:00:00Z"), ("limit", "5"))
    assert on_driver(("orderItem.quantity.gt", "1")) == (backend == "postgresql")
    few, many = dict(KIT_ORDER), dict(KIT_ORDER)
    few["orderItem"] = [{**KIT_ORDER["orderItem"][0], "quantity": 1}]
    many["orderItem"] = [{**KIT_ORDER["orderItem"][0], "quantity": 5}]
    small, large = client.post(ORDERS, json=few).json(), client.post(ORDERS, json=many).json()
    assert client.get(ORDERS, params={"orderItem.quantity.gt": "1"}).json() == [large]
    assert client.get(ORDERS, params={"state": small["state"], "limit": "1"}).json() == [large]
    listed = client.get(ORDERS, params={"state": small["state"], "offset": "1", "fields": "id"})
    assert [entry["id"] for entry in listed.json()] == [small["id"]] and "orderItem" not in listed.json()[0]
    assert listed.headers["X-Total-Count"] == "2"
