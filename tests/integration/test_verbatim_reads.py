"""Reads that send the stored JSON text as is (services/resources.py `verbatim`, decision 0048), and the
ones that must decode it."""

from __future__ import annotations

import dataclasses
import json

from tmfserver.query.parse import parse_query
from tmfserver.services import resources
from tmfserver.services.carts import CART_KIND
from tmfserver.services.orders import ORDER_KIND
from tmfserver.store import repository
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
        return repository._listing_statements(ResourceOrder, query, True)

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
