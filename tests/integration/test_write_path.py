"""The write path: the statements a create, an update and a delete send (Core, one per table), and the hub
subscriptions each process keeps in memory — reloaded when `hub_version` changes, whichever process changed it.

Two `wire(settings)` on the suite's database stand for two server processes: each has its own engine, hence
its own subscription cache (store/subscriptions.py keeps one per engine)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, event, func, select
from ulid import ULID

from tmfserver.bootstrap import wire
from tmfserver.clock import utc_now_iso
from tmfserver.services import notifications, resources
from tmfserver.services.dependencies import Dependencies
from tmfserver.services.exceptions import PreconditionFailed
from tmfserver.services.orders import ORDER_KIND
from tmfserver.settings import Settings
from tmfserver.store import search
from tmfserver.store.models import (
    Base,
    Delivery,
    HubVersion,
    OutboxEvent,
    ResourceOrder,
    SearchValue,
    StateHistory,
)
from tmfserver.store.subscriptions import hub_changed

ORDER = {"orderItem": [{"id": "1", "action": "add"}], "description": "write path"}
BASE_URL = "http://test.local"


def _empty(deps: Dependencies) -> None:
    with deps.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    with deps.unit_of_work(write=True) as uow:
        hub_changed(uow.session)  # as after `migrate`: the row exists


@pytest.fixture
def processes(settings: Settings) -> Iterator[tuple[Dependencies, Dependencies]]:
    first, second = wire(settings).deps, wire(settings).deps
    _empty(first)
    yield first, second
    first.engine.dispose()
    second.engine.dispose()


class Statements:
    """What one engine executes: (verb, table, parameter sets) per `Connection.execute` call (per table it
    inserts into, for a statement of data-modifying CTEs)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[tuple[str, str, int]] = []
        self.sql: list[str] = []  # as sent to the database
        event.listen(engine, "before_execute", self._record)
        event.listen(engine, "before_cursor_execute", self._sent)

    def _sent(self, _connection, _cursor, statement, *_rest) -> None:
        self.sql.append(statement)

    def _record(self, _connection, clause, multiparams, _params, _options) -> None:
        verb = str(clause).split(None, 1)[0]
        if verb == "WITH":  # PostgreSQL's deferred inserts (store/deferred_inserts.py): one per table written
            self.seen.extend(("INSERT", table, 1) for table in _written(str(clause)))
            return
        table = clause.table if verb in {"INSERT", "UPDATE", "DELETE"} else clause.get_final_froms()[0]
        self.seen.append((verb, table.name, max(len(multiparams), 1) if isinstance(multiparams, list) else 1))

    def take(self) -> list[tuple[str, str, int]]:
        seen, self.seen, self.sql = self.seen, [], []
        return seen


def _create(deps: Dependencies) -> resources.Stored:
    return resources.create(deps, ORDER_KIND, dict(ORDER), BASE_URL, utc_now_iso())


def _deliveries(deps: Dependencies) -> list[str]:
    with deps.engine.connect() as connection:
        return list(connection.scalars(select(Delivery.callback).order_by(Delivery.pk)))


def _written(sql: str) -> list[str]:
    return re.findall(r"INSERT INTO (\w+)", sql)


def test_a_create_is_one_statement_per_table_and_reads_the_hub_version_with_its_event(
    processes, backend: str
) -> None:
    deps, _ = processes
    notifications.register(deps, "TMF652", "http://127.0.0.1:9/a", None)
    _create(deps)  # loads this process's subscriptions
    statements = Statements(deps.engine)
    isolation: list[str | None] = []

    def _isolation(connection, *_rest) -> None:
        isolation.append(connection.get_execution_options().get("isolation_level"))

    event.listen(deps.engine, "before_cursor_execute", _isolation)
    _create(deps)
    sent = [sql for sql in statements.sql if sql.split(None, 1)[0] in {"INSERT", "WITH", "SELECT"}]
    if backend == "postgresql":
        # One statement in autocommit (store/deferred_inserts.py): no BEGIN, no COMMIT; the deliveries of the
        # cached subscriptions are written only while hub_version still holds their version (the guard).
        tables = ["resource_order", "search_value", "outbox_event", "state_history", "delivery"]
        assert [_written(sql) for sql in sent] == [tables]
        assert "guard" in sent[0] and "hub_version" in sent[0]
        assert isolation == ["AUTOCOMMIT"]
    else:
        expected = [["resource_order"], ["search_value"], ["outbox_event"], ["delivery"], ["state_history"]]
        assert [_written(sql) for sql in sent] == expected
        assert "hub_version" in sent[2]  # the subscriptions are checked without a statement of their own
    assert len(_deliveries(deps)) == 2  # and still fan out: one delivery per create


def test_the_search_rows_of_a_create_go_in_one_statement_and_all_are_stored(processes, backend: str) -> None:
    """PostgreSQL: one INSERT ... SELECT from unnest of one array per column, inside the order's own INSERT
    (its text is the same for any document); SQLite: sqlite3's executemany."""
    deps, _ = processes
    statements = Statements(deps.engine)
    created = _create(deps)
    search_rows = [sql for sql in statements.sql if "INSERT INTO search_value" in sql]
    assert len(search_rows) == 1
    if backend == "postgresql":
        assert "unnest(" in search_rows[0] and "INSERT INTO resource_order" in search_rows[0]
    with deps.engine.connect() as connection:
        stored = connection.execute(
            select(SearchValue.path, SearchValue.v_text, SearchValue.v_num, SearchValue.v_time)
            .where(SearchValue.resource_pk == _pk(deps, created))
            .order_by(SearchValue.pk)
        ).all()
    expected = list(zip(*search.index_columns(created.document), strict=True))
    assert [tuple(row) for row in stored] == expected and len(expected) > 5


def _pk(deps: Dependencies, created: resources.Stored) -> int:
    with deps.engine.connect() as connection:
        return connection.scalar(select(ResourceOrder.pk).where(ResourceOrder.id == created.document["id"]))


def test_an_update_locks_the_row_and_counts_versions(processes, backend: str) -> None:
    deps, _ = processes
    created = _create(deps)
    order_id = created.document["id"]
    statements = Statements(deps.engine)
    change = resources.merge_patch({"description": "changed"})
    updated = resources.update(deps, ORDER_KIND, order_id, change, utc_now_iso())
    assert (created.version, updated.version) == (1, 2)
    locking = next(sql for sql in statements.sql if sql.startswith("SELECT") and "resource_order" in sql)
    assert ("FOR UPDATE" in locking) == (backend == "postgresql")  # SQLite: BEGIN IMMEDIATE instead
    seen = statements.take()
    assert [(verb, table) for verb, table, _ in seen] == [
        ("SELECT", "resource_order"),
        ("SELECT", "state_history"),  # where a cancellation would go back to
        ("UPDATE", "resource_order"),
        ("DELETE", "search_value"),
        ("INSERT", "search_value"),
        ("INSERT", "outbox_event"),  # returns hub_version too: no SELECT of its own
    ]
    expected = resources.ExpectedVersion(frozenset({1}))
    with pytest.raises(PreconditionFailed):
        resources.update(deps, ORDER_KIND, order_id, change, utc_now_iso(), expected=expected)
    third = resources.update(
        deps,
        ORDER_KIND,
        order_id,
        resources.merge_patch({"description": "again"}),
        utc_now_iso(),
        expected=resources.ExpectedVersion(frozenset({2})),
    )
    assert third.version == 3
    assert resources.retrieve(deps, ORDER_KIND, order_id).version == 3


def test_a_delete_removes_the_row_and_its_search_rows(processes) -> None:
    deps, _ = processes
    order_id = _create(deps).document["id"]
    statements = Statements(deps.engine)
    resources.delete(deps, ORDER_KIND, order_id, expected=resources.ExpectedVersion(frozenset({1})))
    assert [(verb, table) for verb, table, _ in statements.take()] == [
        ("SELECT", "resource_order"),
        ("INSERT", "outbox_event"),
        ("DELETE", "search_value"),
        ("DELETE", "resource_order"),
    ]
    with deps.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Base.metadata.tables["search_value"])) == 0


def test_a_subscription_made_in_one_process_reaches_the_next_write_of_another(processes) -> None:
    first, second = processes
    _create(second)  # the second process has cached "no subscriptions"
    assert _deliveries(second) == []

    subscription = notifications.register(first, "TMF652", "http://127.0.0.1:9/first", None)
    _create(second)
    assert _deliveries(second) == ["http://127.0.0.1:9/first"]

    statements = Statements(second.engine)
    _create(second)  # unchanged hub: the cached subscriptions, no reload
    assert ("SELECT", "subscription") not in [(verb, table) for verb, table, _ in statements.take()]
    assert len(_deliveries(second)) == 2

    notifications.unregister(first, "TMF652", subscription["id"])
    _create(second)
    assert len(_deliveries(second)) == 2  # no fan-out to the deleted subscription


def test_the_cached_subscriptions_keep_their_queries_and_apis(processes) -> None:
    first, second = processes
    _create(second)
    notifications.register(first, "TMF652", "http://127.0.0.1:9/created", "eventType=ResourceOrderCreateEvent")
    notifications.register(first, "TMF652", "http://127.0.0.1:9/deleted", "eventType=ResourceOrderDeleteEvent")
    notifications.register(first, "TMF663", "http://127.0.0.1:9/carts", None)
    order_id = _create(second).document["id"]
    resources.delete(second, ORDER_KIND, order_id)
    assert _deliveries(second) == ["http://127.0.0.1:9/created", "http://127.0.0.1:9/deleted"]


def test_without_the_hub_version_row_nothing_is_cached_and_a_subscription_recreates_it(processes) -> None:
    first, second = processes
    _create(second)  # caches the subscriptions at the row's version
    with first.engine.begin() as connection:
        connection.execute(HubVersion.__table__.delete())
    _create(second)  # finds no version: the cached set is dropped
    statements = Statements(second.engine)
    _create(second)  # no version to compare with: read the subscriptions again
    sent = list(statements.sql)
    assert ("SELECT", "subscription") in [(verb, table) for verb, table, _ in statements.take()]
    # PostgreSQL: nor is a create sent alone, guarded by a version that no longer exists
    assert sent and not [sql for sql in sent if "guard" in sql]
    notifications.register(first, "TMF652", "http://127.0.0.1:9/back", None)
    with first.engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(HubVersion)) == 1
    _create(second)
    assert _deliveries(second) == ["http://127.0.0.1:9/back"]


def test_a_rolled_back_subscription_leaves_no_version_behind(processes) -> None:
    first, second = processes

    class Refused(Exception):
        pass

    with pytest.raises(Refused), first.unit_of_work(write=True) as uow:
        uow.subscriptions.add("rolled-back", "TMF652", "http://127.0.0.1:9/never", None)
        raise Refused
    _create(second)
    _create(first)
    assert _deliveries(first) == []


def test_a_registration_committed_during_a_write_is_not_in_that_writes_fan_out(processes, backend: str) -> None:
    """The guarantee kept (docs/decisions/0048): an event goes to the subscriptions visible when its transaction
    read the hub; all events of one transaction go to the same set; the next write sees the new subscription."""
    if backend != "postgresql":
        pytest.skip("SQLite serialises writers: no registration can commit while a write is open")
    first, second = processes

    def envelope() -> dict:
        return {"eventId": str(ULID()), "eventType": "ResourceOrderCreateEvent", "event": {}}

    with second.unit_of_work(write=True) as uow:
        uow.publish("TMF652", "r1", envelope())
        # Sends the deferred event now (store/deferred_inserts.py: it would go at the commit, and read the hub
        # then): its INSERT reads the hub, with no subscription.
        uow.session.connection()
        notifications.register(first, "TMF652", "http://127.0.0.1:9/late", None)  # commits meanwhile
        uow.publish("TMF652", "r1", envelope())
    assert _deliveries(second) == []
    _create(second)
    assert _deliveries(second) == ["http://127.0.0.1:9/late"]


def test_on_postgresql_a_create_sent_alone_after_the_hub_changed_writes_nothing_and_goes_again(
    processes, backend: str
) -> None:
    """A create is one statement in autocommit with the deliveries of the cached subscriptions, guarded by
    their hub_version (store/deferred_inserts.py). When another process changed the hub, that statement
    writes nothing, and the create goes again in a transaction that reads the hub: stored once, delivered
    to the new subscriber."""
    if backend != "postgresql":
        pytest.skip("SQLite has no deferred inserts")
    first, second = processes
    _create(second)  # caches: no subscriptions
    notifications.register(first, "TMF652", "http://127.0.0.1:9/new", None)
    statements = Statements(second.engine)
    created = _create(second)
    sent = [sql for sql in statements.sql if sql.startswith("WITH")]
    assert len(sent) == 2 and "guard" in sent[0] and "guard" not in sent[1]
    statements.take()
    sent_alone = _create(second)  # the cache is current again: one statement
    again = [sql for sql in statements.sql if sql.startswith("WITH")]
    assert len(again) == 1 and "guard" in again[0] and "INSERT INTO delivery" in again[0]

    def stored(created: resources.Stored) -> tuple[int, int, int, int]:
        order_id = created.document["id"]
        with second.engine.connect() as connection:
            return (
                connection.scalar(select(func.count()).where(ResourceOrder.id == order_id)),
                connection.scalar(select(func.count()).where(OutboxEvent.resource_id == order_id)),
                connection.scalar(select(func.count()).where(StateHistory.resource_id == order_id)),
                connection.scalar(select(func.count()).where(SearchValue.resource_pk == _pk(second, created))),
            )

    assert stored(created) == stored(sent_alone)  # nothing written twice, nothing missing
    assert stored(created)[:2] == (1, 1) and stored(created)[3] == len(
        search.index_columns(created.document)[0]
    )
    assert _deliveries(second) == ["http://127.0.0.1:9/new"] * 2
