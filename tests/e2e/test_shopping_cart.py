"""TMF663 ShoppingCart over HTTP: the CTK requests, the resource lifecycle and server-side pricing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ._support import CARTS, KIT_HEADERS, MERGE_PATCH, ULID_RE, UTC_MS_RE, assert_tmf_error, merge_patch

# --------------------------------------------------------------------------- CTK-Shopping_Cart-4.0.0


def assert_kit_cart(cart: object, raw_text: str) -> None:
    assert isinstance(cart, dict), cart  # "not an array"
    for key in ("href", "id"):
        assert key in cart, f"missing mandatory {key}"
        assert isinstance(cart[key], str), (key, cart[key])
        assert cart[key] in raw_text, (key, cart[key])  # raw text: '/' not escaped


def assert_kit_cart_list(response) -> list:
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list) and body, "an empty list fails the kit"
    for cart in body:
        assert_kit_cart(cart, response.text)
    return body


@pytest.fixture
def saved(client) -> dict:
    """N1.1: POST /shoppingCart with `{}` (an empty cart must be accepted)."""
    response = client.post(CARTS, json={}, headers=KIT_HEADERS)
    assert response.status_code == 201, response.text
    assert_kit_cart(response.json(), response.text)
    return {"IDSC01": response.json()["id"], "HREFSC01": response.json()["href"]}


def test_n1_1_create_empty_cart(saved: dict) -> None:
    assert ULID_RE.match(saved["IDSC01"])
    assert saved["HREFSC01"].endswith(f"{CARTS}/{saved['IDSC01']}")


def test_n1_2_list(client, saved: dict) -> None:
    client.post(CARTS, json={}, headers=KIT_HEADERS)
    body = assert_kit_cart_list(client.get(CARTS, headers=KIT_HEADERS))
    assert len(body) == 2 and saved["IDSC01"] in {cart["id"] for cart in body}


def test_n1_3_retrieve(client, saved: dict) -> None:
    response = client.get(f"{CARTS}/{saved['IDSC01']}", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert_kit_cart(response.json(), response.text)
    assert (response.json()["id"], response.json()["href"]) == (saved["IDSC01"], saved["HREFSC01"])


def test_n2_1_fields_href(client, saved: dict) -> None:
    response = client.get(f"{CARTS}?fields=href", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert [cart["href"] for cart in response.json()] == [saved["HREFSC01"]]
    assert all("validFor" not in cart for cart in response.json())


def test_n2_2_filter_by_exact_href(client, saved: dict) -> None:
    client.post(CARTS, json={}, headers=KIT_HEADERS)  # must be filtered out
    body = assert_kit_cart_list(client.get(f"{CARTS}?href={saved['HREFSC01']}", headers=KIT_HEADERS))
    assert [cart["id"] for cart in body] == [saved["IDSC01"]]


def test_n2_3_fields_id(client, saved: dict) -> None:
    response = client.get(f"{CARTS}?fields=id", headers=KIT_HEADERS)
    assert response.status_code == 200, response.text
    assert [cart["id"] for cart in response.json()] == [saved["IDSC01"]]


def test_n2_4_filter_by_id(client, saved: dict) -> None:
    client.post(CARTS, json={}, headers=KIT_HEADERS)
    body = assert_kit_cart_list(client.get(f"{CARTS}?id={saved['IDSC01']}", headers=KIT_HEADERS))
    assert [cart["id"] for cart in body] == [saved["IDSC01"]]


def test_e1_1_unknown_id_is_404(client, saved: dict) -> None:
    assert client.get(f"{CARTS}/894a108c-9fc9-45d8-a63b-13dcfd3a6bc3", headers=KIT_HEADERS).status_code == 404
    assert client.get(f"{CARTS}/{uuid.uuid4()}", headers=KIT_HEADERS).status_code == 404


# --------------------------------------------------------------------------- lifecycle


def test_create_defaults(client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = client.post(CARTS, json={"cartItem": [{"productOffering": {"id": "po-1"}}, {"id": "a"}, {}]})
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert response.status_code == 201, response.text
    cart = response.json()
    assert response.headers["Location"] == cart["href"]
    assert cart["@type"] == "ShoppingCart"
    assert [item["id"] for item in cart["cartItem"]] == ["1", "a", "2"]
    for item in cart["cartItem"]:
        assert (item["quantity"], item["status"], item["action"], item["ItemTotalPrice"]) == (
            1,
            "active",
            "add",
            [],
        )
    assert cart["cartTotalPrice"] == []
    start, end = cart["validFor"]["startDateTime"], cart["validFor"]["endDateTime"]
    assert UTC_MS_RE.match(start) and UTC_MS_RE.match(end)
    start_at = datetime.strptime(start, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    end_at = datetime.strptime(end, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= start_at <= after
    assert end_at - start_at == timedelta(days=30)


def test_client_valid_for_is_kept(client) -> None:
    valid_for = {"startDateTime": "2030-01-01T00:00:00.000Z", "endDateTime": "2030-01-02T00:00:00.000Z"}
    assert client.post(CARTS, json={"validFor": valid_for}).json()["validFor"] == valid_for


def test_duplicate_cart_item_ids_are_400(client) -> None:
    body = assert_tmf_error(client.post(CARTS, json={"cartItem": [{"id": "x"}, {"id": "x"}]}), 400)
    assert "cartItem[1].id" in body["message"]


def test_retrieve_patch_delete(client) -> None:
    cart = client.post(CARTS, json={"contactMedium": [{"mediumType": "email"}]}).json()
    path = f"{CARTS}/{cart['id']}"
    assert client.get(path).json() == cart
    response = merge_patch(client, path, {"contactMedium": None, "@baseType": "Cart"})
    assert response.status_code == 200, response.text
    patched = response.json()
    assert "contactMedium" not in patched and patched["@baseType"] == "Cart"
    assert patched["validFor"] == cart["validFor"]
    assert client.get(path).json() == patched
    assert_tmf_error(merge_patch(client, path, {"id": "other"}), 400)
    assert client.delete(path).status_code == 204
    assert_tmf_error(client.get(path), 404)
    assert_tmf_error(client.delete(path), 404)
    assert_tmf_error(merge_patch(client, path, {"@baseType": "x"}), 404)


# --------------------------------------------------------------------------- pricing


def money(value: float) -> dict:
    return {"unit": "EUR", "value": value}


PRICED_CART = {
    "cartItem": [
        {
            "id": "phone",
            "quantity": 2,
            "productOffering": {"id": "po-phone"},
            "itemPrice": [
                {
                    "priceType": "oneTime",
                    "price": {"dutyFreeAmount": money(10.5), "taxIncludedAmount": money(12.6)},
                }
            ],
            "ItemTotalPrice": [{"priceType": "oneTime", "price": {"dutyFreeAmount": money(1)}}],
        },
        {
            "id": "plan",
            "productOffering": {"id": "po-plan"},
            "itemPrice": [
                {
                    "priceType": "recurring",
                    "recurringChargePeriod": "month",
                    "price": {"dutyFreeAmount": money(20), "taxIncludedAmount": money(24)},
                }
            ],
        },
    ],
    "cartTotalPrice": [{"priceType": "oneTime", "price": {"dutyFreeAmount": money(0.01)}}],
}


def totals(cart: dict) -> dict:
    """(priceType, period) -> (dutyFree, taxIncluded) from cartTotalPrice."""
    return {
        (entry.get("priceType"), entry.get("recurringChargePeriod")): (
            entry["price"]["dutyFreeAmount"]["value"],
            entry["price"]["taxIncludedAmount"]["value"],
        )
        for entry in cart["cartTotalPrice"]
    }


def item_total(cart: dict, item_id: str) -> tuple:
    item = next(i for i in cart["cartItem"] if i["id"] == item_id)
    (entry,) = item["ItemTotalPrice"]
    return entry["price"]["dutyFreeAmount"]["value"], entry["price"]["taxIncludedAmount"]["value"]


def test_totals_are_computed_by_the_server(client) -> None:
    response = client.post(CARTS, json=PRICED_CART)
    assert response.status_code == 201, response.text
    cart = response.json()
    assert item_total(cart, "phone") == (21, 25.2)  # 2 x 10.50 / 2 x 12.60; the client's total is ignored
    assert item_total(cart, "plan") == (20, 24)
    assert totals(cart) == {("oneTime", None): (21, 25.2), ("recurring", "month"): (20, 24)}
    assert [e["price"]["dutyFreeAmount"]["unit"] for e in cart["cartTotalPrice"]] == ["EUR", "EUR"]
    assert client.get(f"{CARTS}/{cart['id']}").json() == cart


def test_patching_quantity_recomputes_totals(client) -> None:
    cart = client.post(CARTS, json=PRICED_CART).json()
    items = [{**item, "quantity": 3} if item["id"] == "phone" else item for item in cart["cartItem"]]
    response = merge_patch(
        client, f"{CARTS}/{cart['id']}", {"cartItem": items, "cartTotalPrice": []}, MERGE_PATCH
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert item_total(patched, "phone") == (31.5, 37.8)
    assert totals(patched) == {("oneTime", None): (31.5, 37.8), ("recurring", "month"): (20, 24)}
    assert client.get(f"{CARTS}/{cart['id']}").json() == patched


def test_items_not_active_are_not_charged(client) -> None:
    cart = client.post(CARTS, json=PRICED_CART).json()
    items = [{**item, "status": "saveForLater"} if item["id"] == "plan" else item for item in cart["cartItem"]]
    patched = merge_patch(client, f"{CARTS}/{cart['id']}", {"cartItem": items}).json()
    assert totals(patched) == {("oneTime", None): (21, 25.2)}
    assert item_total(patched, "plan") == (20, 24)  # the item still shows its own price


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"unit": "EURO"}, "cartItem[0].itemPrice[0].price.dutyFreeAmount.unit"),
        ({"unit": "XYZ"}, "cartItem[0].itemPrice[0].price.dutyFreeAmount.unit"),
        ({"value": 1e13}, "cartItem[0].itemPrice[0].price.dutyFreeAmount.value"),
    ],
)
def test_bad_money_is_400_naming_the_field(client, change: dict, field: str) -> None:
    cart = {
        "cartItem": [
            {"itemPrice": [{"priceType": "oneTime", "price": {"dutyFreeAmount": {**money(1), **change}}}]}
        ]
    }
    body = assert_tmf_error(client.post(CARTS, json=cart), 400)
    assert field in body["message"], body["message"]
    assert client.get(CARTS).json() == []


def test_bad_quantity_on_patch_is_400_and_nothing_changes(client) -> None:
    cart = client.post(CARTS, json=PRICED_CART).json()
    items = [{**item, "quantity": 0} if item["id"] == "plan" else item for item in cart["cartItem"]]
    body = assert_tmf_error(merge_patch(client, f"{CARTS}/{cart['id']}", {"cartItem": items}), 400)
    assert "cartItem[1].quantity" in body["message"]
    assert client.get(f"{CARTS}/{cart['id']}").json() == cart
