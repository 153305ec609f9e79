"""TM Forum CTK-Resource_Order-4.0.0, request by request (N1.1 … E1.1), with the kit's assertions.

The kit sends `Accept`/`Content-Type: application/json`, saves IDRO01/HREFRO01/ORDERDATERO01 from the POST
and sends them back unencoded as filter values (the orderDate wrapped in double quotes).
"""

from __future__ import annotations

import uuid

import pytest

from ._support import KIT_HEADERS, KIT_ORDER, ORDERS, UTC_MS_RE

MANDATORY = ("orderItem", "href", "id", "orderDate", "relatedParty", "state")


def assert_kit_order(order: object, raw_text: str) -> None:
    """What the kit checks on one resourceOrder instance."""
    assert isinstance(order, dict), order
    missing = [key for key in MANDATORY if key not in order]
    assert not missing, f"missing mandatory attributes {missing}"
    assert order["orderItem"], "orderItem is empty"
    for item in order["orderItem"]:
        assert "state" in item, item
    for key in ("href", "id", "orderDate"):
        assert isinstance(order[key], str), (key, order[key])
        # "Body includes value held on X": the raw text, so '/' must not be escaped as '\/'.
        assert order[key] in raw_text, (key, order[key])
    assert isinstance(order["orderItem"], list)


def assert_kit_list(response) -> list:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list)
    assert body, "an empty list fails the kit"
    for element in body:
        assert_kit_order(element, response.text)
    return body


@pytest.fixture
def saved(client) -> dict:
    """N1.1: POST /resourceOrder; the values the kit saves for the later requests."""
    response = client.post(ORDERS, json=KIT_ORDER, headers=KIT_HEADERS)
    assert response.status_code == 201, response.text
    order = response.json()
    assert_kit_order(order, response.text)
    return {"IDRO01": order["id"], "HREFRO01": order["href"], "ORDERDATERO01": order["orderDate"]}


def assert_is_saved(order: dict, saved: dict) -> None:
    assert order["id"] == saved["IDRO01"]
    assert order["href"] == saved["HREFRO01"]
    assert order["orderDate"] == saved["ORDERDATERO01"]


def test_n1_1_create(saved: dict) -> None:
    assert UTC_MS_RE.match(saved["ORDERDATERO01"]), saved["ORDERDATERO01"]
    assert saved["HREFRO01"].endswith(f"/resourceOrder/{saved['IDRO01']}")


def test_n1_2_list(client, saved: dict) -> None:
    client.post(ORDERS, json=KIT_ORDER, headers=KIT_HEADERS)  # a second one: every element is checked
    body = assert_kit_list(client.get(ORDERS, headers=KIT_HEADERS))
    assert len(body) == 2
    assert saved["IDRO01"] in {order["id"] for order in body}


def test_n1_3_retrieve(client, saved: dict) -> None:
    response = client.get(f"{ORDERS}/{saved['IDRO01']}", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert_kit_order(response.json(), response.text)
    assert_is_saved(response.json(), saved)


def test_n2_1_fields_id(client, saved: dict) -> None:
    response = client.get(f"{ORDERS}?fields=id", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert saved["IDRO01"] in [order["id"] for order in response.json()]
    assert all("orderItem" not in order for order in response.json())


def test_n2_2_filter_by_id(client, saved: dict) -> None:
    client.post(ORDERS, json=KIT_ORDER, headers=KIT_HEADERS)  # must be filtered out
    body = assert_kit_list(client.get(f"{ORDERS}?id={saved['IDRO01']}", headers=KIT_HEADERS))
    assert len(body) == 1
    assert_is_saved(body[0], saved)


def test_n2_3_fields_order_date(client, saved: dict) -> None:
    response = client.get(f"{ORDERS}?fields=orderDate", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert saved["ORDERDATERO01"] in [order.get("orderDate") for order in response.json()]


def test_n2_4_filter_by_quoted_order_date(client, saved: dict) -> None:
    url = f'{ORDERS}?orderDate="{saved["ORDERDATERO01"]}"'
    body = assert_kit_list(client.get(url, headers=KIT_HEADERS))
    assert saved["IDRO01"] in [order["id"] for order in body]
    assert all(order["orderDate"] == saved["ORDERDATERO01"] for order in body)


def test_e1_1_unknown_id_is_404(client, saved: dict) -> None:
    response = client.get(f"{ORDERS}/{uuid.uuid4()}", headers=KIT_HEADERS)
    assert response.status_code == 404, response.text
