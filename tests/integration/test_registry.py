"""The registry's promise: a third API is a document, a model, a handler module and a registry entry.

tests/third_api holds all four; nothing under src/ names it. Served beside the product's APIs, it gets CRUD,
TMF630 queries, hrefs from its own base path, events through the outbox and TMF errors from the generic
mechanisms.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e._support import assert_tmf_error
from tests.integration._notify import drain
from tests.receiver import Receiver
from tests.third_api.api import WIDGET_API
from tests.third_api.model import WidgetBase
from tmfserver.app import create_app
from tmfserver.notify.dispatcher import Dispatcher
from tmfserver.registry import SERVED
from tmfserver.store.models import Base

WIDGETS = "/tmf-api/widgetInventory/v1/widget"
HUB = "/tmf-api/widgetInventory/v1/hub"


@pytest.fixture(scope="module")
def third_app(settings):
    app = create_app(settings, apis=(*SERVED, WIDGET_API))
    WidgetBase.metadata.create_all(app.deps.engine)  # the test API's "migration"
    yield app
    WidgetBase.metadata.drop_all(app.deps.engine)
    app.deps.engine.dispose()


@pytest.fixture
def widgets(third_app) -> Iterator:
    with third_app.deps.engine.begin() as connection:
        for table in (*WidgetBase.metadata.sorted_tables, *reversed(Base.metadata.sorted_tables)):
            connection.execute(table.delete())
    with third_app.test_client() as client:
        yield client


def test_crud_through_the_generic_operations(widgets) -> None:
    created = widgets.post(WIDGETS, json={"name": "sprocket", "color": "red", "size": 3})
    assert created.status_code == 201
    widget = created.json()
    assert widget["@type"] == "Widget"  # the definition's name, as for the product's resources
    assert widget["href"] == f"http://testserver{WIDGETS}/{widget['id']}"  # base path from the document
    assert created.headers["Location"] == widget["href"]

    fetched = widgets.get(f"{WIDGETS}/{widget['id']}")
    assert fetched.status_code == 200 and fetched.json() == widget

    patched = widgets.patch(
        f"{WIDGETS}/{widget['id']}",
        json={"color": "blue"},
        headers={"Content-Type": "application/merge-patch+json", "If-Match": fetched.headers["ETag"]},
    )
    assert patched.status_code == 200 and patched.json()["color"] == "blue"
    stale = widgets.patch(
        f"{WIDGETS}/{widget['id']}", json={"color": "green"}, headers={"If-Match": fetched.headers["ETag"]}
    )
    assert_tmf_error(stale, 412)

    assert widgets.delete(f"{WIDGETS}/{widget['id']}").status_code == 204
    assert_tmf_error(widgets.get(f"{WIDGETS}/{widget['id']}"), 404)


def test_tmf630_queries(widgets) -> None:
    for name, color, size in [("a", "red", 1), ("b", "blue", 2), ("c", "red", 3), ("d", "red", 4)]:
        assert widgets.post(WIDGETS, json={"name": name, "color": color, "size": size}).status_code == 201
    reds = widgets.get(WIDGETS, params={"color": "red", "size.gte": "2", "fields": "name", "limit": "1"})
    assert reds.status_code == 200
    assert reds.headers["X-Total-Count"] == "2" and reds.headers["X-Result-Count"] == "1"
    assert set(reds.json()[0]) == {"id", "href", "@type", "name"}  # `fields` keeps id, href, @type
    assert 'rel="next"' in reds.headers["Link"]
    assert_tmf_error(widgets.get(WIDGETS, params={"size.gte": "big"}), 400)


def test_errors_are_tmf_errors(widgets) -> None:
    assert_tmf_error(widgets.get(f"{WIDGETS}/01HZZZZZZZZZZZZZZZZZZZZZZZ"), 404)
    assert_tmf_error(widgets.post(WIDGETS, json={"color": "red"}), 400)  # name is required by the document
    assert_tmf_error(
        widgets.post(WIDGETS, content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    assert_tmf_error(widgets.put(WIDGETS, json={}), 405)


def test_events_reach_the_apis_own_subscribers(third_app, widgets) -> None:
    receiver = Receiver()
    dispatcher = Dispatcher(third_app.deps.sessions, allow_private=True, timeout_seconds=5.0)
    try:
        subscription = widgets.post(HUB, json={"callback": receiver.url})
        assert subscription.status_code == 201
        # A subscriber of another API hears nothing of widgets.
        other = Receiver()
        widgets.post("/tmf-api/shoppingCart/v4/hub", json={"callback": other.url})
        widget = widgets.post(WIDGETS, json={"name": "gear"}).json()
        widgets.patch(f"{WIDGETS}/{widget['id']}", json={"size": 7})
        widgets.delete(f"{WIDGETS}/{widget['id']}")
        drain(dispatcher)
        assert receiver.types() == ["WidgetCreateEvent", "WidgetAttributeValueChangeEvent", "WidgetDeleteEvent"]
        assert receiver.events[0]["event"]["widget"]["id"] == widget["id"]
        assert other.events == []
        assert widgets.delete(f"{HUB}/{subscription.json()['id']}").status_code == 204
        assert_tmf_error(widgets.delete(f"{HUB}/{subscription.json()['id']}"), 404)
        other.close()
    finally:
        dispatcher.stop()
        receiver.close()
