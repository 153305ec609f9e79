"""TMF630 listing: paging headers and links, default order, limits and `fields` selection."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from tmfserver.app import create_app

from ._support import CARTS, ORDERS, create_order

LINK_RE = re.compile(r'<([^>]*)>;\s*rel="([a-z]+)"')


def links(response) -> dict[str, dict]:
    """rel -> {"path": ..., "query": {name: value}} from the Link header."""
    result = {}
    for target, rel in LINK_RE.findall(response.headers.get("Link", "")):
        parts = urlsplit(target)
        result[rel] = {
            "url": target,
            "path": parts.path,
            "query": {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
        }
    return result


def page_offsets(response) -> dict[str, tuple[int, int]]:
    return {
        rel: (int(link["query"]["offset"]), int(link["query"]["limit"]))
        for rel, link in links(response).items()
    }


@pytest.fixture
def five(client) -> list[str]:
    """Five orders; their ids newest first (the default listing order)."""
    ids = [
        create_order(client, {"description": f"order {i}", "orderItem": [{"id": "1"}, {"id": "2"}]})["id"]
        for i in range(5)
    ]
    return ids[::-1]


def test_default_order_is_newest_first(client, five: list[str]) -> None:
    response = client.get(ORDERS)
    assert [order["id"] for order in response.json()] == five
    newest = create_order(client)
    first_page = client.get(f"{ORDERS}?limit=1")
    assert [order["id"] for order in first_page.json()] == [newest["id"]]


def test_offset_and_limit_with_counts(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?offset=1&limit=2")
    assert response.status_code == 200, response.text
    assert [order["id"] for order in response.json()] == five[1:3]
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["X-Result-Count"] == "2"


def test_link_header_first_prev_next_last(client, five: list[str]) -> None:
    middle = client.get(f"{ORDERS}?offset=2&limit=2")
    assert page_offsets(middle) == {"first": (0, 2), "prev": (0, 2), "next": (4, 2), "last": (4, 2)}
    assert all(link["path"] == ORDERS for link in links(middle).values())

    first = client.get(f"{ORDERS}?limit=2")
    assert page_offsets(first) == {"first": (0, 2), "next": (2, 2), "last": (4, 2)}

    last = client.get(f"{ORDERS}?offset=4&limit=2")
    assert page_offsets(last) == {"first": (0, 2), "prev": (2, 2), "last": (4, 2)}
    assert last.headers["X-Result-Count"] == "1"

    exact = client.get(f"{ORDERS}?offset=0&limit=5")
    assert page_offsets(exact) == {"first": (0, 5), "last": (0, 5)}


def test_following_next_links_visits_every_resource_once(client, five: list[str]) -> None:
    seen: list[str] = []
    response = client.get(f"{ORDERS}?limit=2")
    while True:
        seen += [order["id"] for order in response.json()]
        following = links(response).get("next")
        if following is None:
            break
        response = client.get(following["url"])
    assert seen == five


def test_links_keep_the_filters_and_fields(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?state=acknowledged&fields=description&limit=2")
    assert response.headers["X-Total-Count"] == "5"
    for link in links(response).values():
        assert link["query"]["state"] == "acknowledged"
        assert link["query"]["fields"] == "description"
    next_page = client.get(links(response)["next"]["url"])
    assert [order["id"] for order in next_page.json()] == five[2:4]
    assert all(set(order) == {"id", "href", "@type", "description"} for order in next_page.json())


def test_filter_counts_only_matching(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?description=order 3,order 1&limit=1")
    assert response.headers["X-Total-Count"] == "2"
    assert [order["description"] for order in response.json()] == ["order 3"]


def test_offset_past_the_end_is_an_empty_page(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?offset=10&limit=2")
    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "5"
    assert response.headers["X-Result-Count"] == "0"


def test_empty_collection(client) -> None:
    response = client.get(CARTS)
    assert response.json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert page_offsets(response)["last"] == (0, 100)


def test_limit_over_the_maximum_is_clamped(client, settings, five: list[str]) -> None:
    assert settings.max_limit == 1000
    response = client.get(f"{ORDERS}?limit=5000")
    assert response.status_code == 200, response.text
    assert len(response.json()) == 5
    assert {limit for _, limit in page_offsets(response).values()} == {1000}


def test_limit_clamped_to_a_configured_maximum(client, settings, five: list[str]) -> None:
    small = create_app(settings.model_copy(update={"max_limit": 3, "default_limit": 2}))
    try:
        with small.test_client() as other:
            clamped = other.get(f"{ORDERS}?limit=100")
            assert [order["id"] for order in clamped.json()] == five[:3]
            assert clamped.headers["X-Total-Count"] == "5"
            assert page_offsets(clamped)["next"] == (3, 3)
            default = other.get(ORDERS)
            assert [order["id"] for order in default.json()] == five[:2]
    finally:
        small.deps.engine.dispose()


# --------------------------------------------------------------------------- fields


def test_fields_top_level_keeps_identity(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?fields=state,description")
    for order in response.json():
        assert set(order) == {"id", "href", "@type", "state", "description"}
    assert response.headers["X-Total-Count"] == "5"


def test_fields_dotted_keeps_the_shape(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?fields=orderItem.state")
    for order in response.json():
        assert set(order) == {"id", "href", "@type", "orderItem"}
        assert order["orderItem"] == [{"state": "acknowledged"}, {"state": "acknowledged"}]
    both = client.get(f"{ORDERS}?fields=orderItem.state,orderItem.id&limit=1").json()
    assert both[0]["orderItem"] == [{"state": "acknowledged", "id": "1"}, {"state": "acknowledged", "id": "2"}]


def test_fields_none_keeps_only_identity(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?fields=none")
    assert [set(order) for order in response.json()] == [{"id", "href", "@type"}] * 5
    assert [order["id"] for order in response.json()] == five


def test_fields_on_retrieve(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}/{five[0]}?fields=description")
    assert response.status_code == 200
    assert set(response.json()) == {"id", "href", "@type", "description"}
    assert response.json()["description"] == "order 4"


def test_fields_on_an_absent_attribute(client, five: list[str]) -> None:
    response = client.get(f"{ORDERS}?fields=externalId")
    assert [set(order) for order in response.json()] == [{"id", "href", "@type"}] * 5


def test_cart_fields(client) -> None:
    cart = client.post(CARTS, json={"cartItem": [{"id": "a", "quantity": 2}]}).json()
    listed = client.get(f"{CARTS}?fields=cartItem.quantity").json()
    assert listed == [
        {"id": cart["id"], "href": cart["href"], "@type": "ShoppingCart", "cartItem": [{"quantity": 2}]}
    ]
