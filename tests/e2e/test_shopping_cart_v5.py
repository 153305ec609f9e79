"""TMF663 v5.0.0 beside v4 on the same carts: cross-version round trips of every mapped property, the v5
contract (errors, headers, media types, JSON Patch Query, fields, hub, listeners, events per API).

Response validation is on (conftest): every response checked here also conforms to its version's document.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e._support import CART_API
from tests.receiver import Receiver
from tmfserver.services.background import make_dispatcher

V4 = f"{CART_API}/shoppingCart"
V5_API = "/tmf-api/shoppingCart/v5"
V5 = f"{V5_API}/shoppingCart"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}
QUERY_PATCH = {"Content-Type": "application/json-patch-query+json"}
SERVER_OWNED = ("id", "href", "cartTotalPrice", "creationDate", "lastUpdate", "validFor")

PRICE = {
    "priceType": "recurring",
    "recurringChargePeriod": "month",
    "price": {"taxIncludedAmount": {"unit": "EUR", "value": 10}},
}


PRICE_V5 = {**PRICE, "@type": "CartPrice", "price": {**PRICE["price"], "@type": "Price"}}


def _ok(response: Any, status: int = 200) -> dict:
    assert response.status_code == status, response.text
    return response.json()


def _without_totals(cart: dict) -> dict:
    """A cart without what the server owns and computes (totals, dates, href)."""
    cart = {k: v for k, v in cart.items() if k not in SERVER_OWNED}

    def strip(items: list) -> list:
        return [
            {
                k: (strip(v) if k == "cartItem" else v)
                for k, v in item.items()
                if k not in ("ItemTotalPrice", "itemTotalPrice")
            }
            for item in items
        ]

    if "cartItem" in cart:
        cart["cartItem"] = strip(cart["cartItem"])
    return cart


# Each v4 property of the mapping, and what v5 shows for it (a path and the value there).
V4_CASES: dict[str, tuple[dict, tuple[str, ...], Any]] = {
    "cartItem.ItemTotalPrice ↔ itemTotalPrice": (
        {"cartItem": [{"id": "1", "quantity": 2, "itemPrice": [PRICE]}]},
        ("cartItem", 0, "itemTotalPrice", 0, "price", "taxIncludedAmount", "value"),
        20.0,
    ),
    "@type filled for nested objects": (
        {"cartItem": [{"id": "1", "itemPrice": [PRICE], "note": [{"text": "gift"}]}]},
        ("cartItem", 0, "note", 0, "@type"),
        "Note",
    ),
    "relatedParty ↔ partyOrPartyRole": (
        {"relatedParty": [{"id": "p1", "name": "Jo", "role": "customer", "@referredType": "Individual"}]},
        ("relatedParty", 0, "partyOrPartyRole", "id"),
        "p1",
    ),
    "contactMedium email ↔ EmailContactMedium": (
        {
            "contactMedium": [
                {"mediumType": "email", "preferred": True, "characteristic": {"emailAddress": "a@b.example"}}
            ]
        },
        ("contactMedium", 0, "@type"),
        "EmailContactMedium",
    ),
    "contactMedium phone ↔ PhoneContactMedium": (
        {
            "contactMedium": [
                {"mediumType": "phone", "characteristic": {"phoneNumber": "+331", "contactType": "home"}}
            ]
        },
        ("contactMedium", 0, "phoneNumber"),
        "+331",
    ),
    "contactMedium postal (no v5 subtype)": (
        {
            "contactMedium": [
                {"mediumType": "postalAddress", "characteristic": {"city": "Lyon", "street1": "1 rue"}}
            ]
        },
        ("contactMedium", 0, "@type"),
        "ContactMedium",
    ),
    "product ref ↔ ProductRef": (
        {"cartItem": [{"id": "1", "product": {"id": "pr1", "href": "http://x.example/p/pr1"}}]},
        ("cartItem", 0, "product", "@type"),
        "ProductRef",
    ),
    "product value ↔ Product": (
        {
            "cartItem": [
                {
                    "id": "1",
                    "product": {"name": "Phone", "productCharacteristic": [{"name": "colour", "value": "red"}]},
                }
            ]
        },
        ("cartItem", 0, "product", "productCharacteristic", 0, "@type"),
        "Characteristic",
    ),
    "itemTerm duration Quantity ↔ Duration": (
        {
            "cartItem": [
                {"id": "1", "itemTerm": [{"name": "12m", "duration": {"amount": 12, "units": "month"}}]}
            ]
        },
        ("cartItem", 0, "itemTerm", 0, "duration", "amount"),
        12,
    ),
    "fractional duration (no v5 form)": (
        {
            "cartItem": [
                {"id": "1", "itemTerm": [{"name": "6w", "duration": {"amount": 1.5, "units": "month"}}]}
            ]
        },
        ("cartItem", 0, "itemTerm", 0, "duration", "units"),
        "month",
    ),
    "nested cartItem, productOffering, cartItemRelationship": (
        {
            "cartItem": [
                {
                    "id": "1",
                    "productOffering": {"id": "po1", "name": "Offer"},
                    "cartItemRelationship": [{"id": "2", "relationshipType": "reliesOn"}],
                    "cartItem": [{"id": "2", "quantity": 3}],
                }
            ]
        },
        ("cartItem", 0, "cartItem", 0, "quantity"),
        3,
    ),
    "extension attribute": ({"x-channel": "web"}, ("x-channel",), "web"),
    "validFor, @baseType, @schemaLocation": (
        {"@baseType": "Cart", "@schemaLocation": "https://x.example/s.json"},
        ("@baseType",),
        "Cart",
    ),
}


def _at(document: Any, path: tuple) -> Any:
    for step in path:
        document = document[step]
    return document


@pytest.mark.parametrize("case", sorted(V4_CASES))
def test_v4_cart_through_v5_and_back(client, case: str) -> None:
    """create v4 → read v5 → write the v5 view back through v5 (merge patch) → read v4: unchanged."""
    body, path, expected = V4_CASES[case]
    created = _ok(client.post(V4, json=body), 201)
    as_v5 = _ok(client.get(f"{V5}/{created['id']}"))
    assert _at(as_v5, path) == expected
    assert as_v5["href"].endswith(f"{V5}/{created['id']}") and "creationDate" in as_v5
    written = {k: v for k, v in as_v5.items() if k not in SERVER_OWNED}
    _ok(client.patch(f"{V5}/{created['id']}", json=written, headers=MERGE))
    again = _ok(client.get(f"{V4}/{created['id']}"))
    assert again == {**created, "href": again["href"]} | {"validFor": again["validFor"]}
    assert "creationDate" not in again and "_retained" not in again


V5_CASES: dict[str, tuple[dict, tuple, Any]] = {
    "itemTotalPrice ↔ ItemTotalPrice": (
        {"cartItem": [{"@type": "CartItem", "id": "1", "quantity": 3, "itemPrice": [PRICE_V5]}]},
        ("cartItem", 0, "ItemTotalPrice", 0, "price", "taxIncludedAmount", "value"),
        30.0,
    ),
    "partyOrPartyRole value fields (no v4 place)": (
        {
            "relatedParty": [
                {
                    "@type": "RelatedPartyOrPartyRole",
                    "role": "customer",
                    "partyOrPartyRole": {
                        "@type": "PartyRoleRef",
                        "id": "r1",
                        "partyId": "p9",
                        "@referredType": "Customer",
                    },
                }
            ]
        },
        ("relatedParty", 0, "id"),
        "r1",
    ),
    "PartyRef without @referredType": (
        {
            "relatedParty": [
                {
                    "@type": "RelatedPartyOrPartyRole",
                    "role": "buyer",
                    "partyOrPartyRole": {"@type": "PartyRef", "id": "p1"},
                }
            ]
        },
        ("relatedParty", 0, "@referredType"),
        "Party",
    ),
    "EmailContactMedium with id (no v4 place for id)": (
        {
            "contactMedium": [
                {
                    "@type": "EmailContactMedium",
                    "id": "cm1",
                    "emailAddress": "a@b.example",
                    "contactType": "work",
                }
            ]
        },
        ("contactMedium", 0, "characteristic", "emailAddress"),
        "a@b.example",
    ),
    "productOffering version (no v4 place)": (
        {
            "cartItem": [
                {
                    "@type": "CartItem",
                    "id": "1",
                    "productOffering": {"@type": "ProductOfferingRef", "id": "po", "version": "2"},
                }
            ]
        },
        ("cartItem", 0, "productOffering", "id"),
        "po",
    ),
    "ProductRef": (
        {"cartItem": [{"@type": "CartItem", "id": "1", "product": {"@type": "ProductRef", "id": "pr1"}}]},
        ("cartItem", 0, "product", "id"),
        "pr1",
    ),
}


@pytest.mark.parametrize("case", sorted(V5_CASES))
def test_v5_cart_through_v4_and_back(client, case: str) -> None:
    """create v5 → read v4 → write the v4 view back through v4 → read v5: unchanged."""
    body, path, expected = V5_CASES[case]
    created = _ok(client.post(V5, json={"@type": "ShoppingCart", **body}), 201)
    as_v4 = _ok(client.get(f"{V4}/{created['id']}"))
    assert _at(as_v4, path) == expected
    assert "_retained" not in str(as_v4)
    written = {k: v for k, v in as_v4.items() if k not in SERVER_OWNED}
    _ok(client.patch(f"{V4}/{created['id']}", json=written, headers=MERGE))
    again = _ok(client.get(f"{V5}/{created['id']}"))
    assert _without_totals(again) == _without_totals(created)
    assert again["creationDate"] == created["creationDate"]


def test_same_cart_same_pricing_both_ways(client) -> None:
    body = {
        "cartItem": [
            {"id": "1", "quantity": 2, "itemPrice": [PRICE]},
            {"id": "2", "status": "saveForLater", "itemPrice": [PRICE]},
        ]
    }
    cart = _ok(client.post(V4, json=body), 201)
    v5 = _ok(client.get(f"{V5}/{cart['id']}"))

    def strip(prices: list) -> list:
        return [
            {k: v for k, v in p.items() if k != "@type"}
            | {"price": {k: v for k, v in p["price"].items() if k != "@type"}}
            for p in prices
        ]

    assert strip(v5["cartTotalPrice"]) == cart["cartTotalPrice"]
    assert strip(v5["cartItem"][0]["itemTotalPrice"]) == cart["cartItem"][0]["ItemTotalPrice"]
    # a v5 patch reprices exactly as a v4 one would
    _ok(
        client.patch(
            f"{V5}/{cart['id']}",
            json=[{"op": "replace", "path": "/cartItem/0/quantity", "value": 5}],
            headers=JSON_PATCH,
        )
    )
    assert (
        _ok(client.get(f"{V4}/{cart['id']}"))["cartTotalPrice"][0]["price"]["taxIncludedAmount"]["value"]
        == 50.0
    )


def test_v5_write_keeps_v4_only_data(client) -> None:
    """A postal contact medium's city (no v5 place) survives a v5 client replacing the whole array."""
    cart = _ok(
        client.post(
            V4,
            json={
                "contactMedium": [
                    {"mediumType": "postalAddress", "characteristic": {"city": "Lyon"}},
                    {"mediumType": "email", "characteristic": {"emailAddress": "a@b.example"}},
                ]
            },
        ),
        201,
    )
    v5 = _ok(client.get(f"{V5}/{cart['id']}"))
    media = copy.deepcopy(v5["contactMedium"])
    media[1]["emailAddress"] = "new@b.example"
    _ok(
        client.patch(
            f"{V5}/{cart['id']}", json={"@type": "ShoppingCart", "contactMedium": media}, headers=MERGE
        )
    )
    v4 = _ok(client.get(f"{V4}/{cart['id']}"))
    assert v4["contactMedium"] == [
        {"mediumType": "postalAddress", "characteristic": {"city": "Lyon"}},
        {"mediumType": "email", "characteristic": {"emailAddress": "new@b.example"}},
    ]


def test_v4_types_unknown_to_v5_are_shown_as_v5_types_and_kept(client) -> None:
    """v4 lets a client type objects freely; v5 names its types in discriminators. A v5 reader sees the v5
    type (its response stays valid), and a v5 write keeps the v4 type for v4 readers."""
    body = {"@type": "BranchCart", "cartItem": [{"id": "1", "@type": "SimItem", "quantity": 1}]}
    cart = _ok(client.post(V4, json=body), 201)
    shown = _ok(client.get(f"{V5}/{cart['id']}"))
    assert shown["@type"] == "ShoppingCart"
    assert shown["cartItem"][0]["@type"] == "CartItem"
    patch = {"@type": "ShoppingCart", "cartItem": shown["cartItem"]}
    patched = _ok(client.patch(f"{V5}/{cart['id']}", json=patch, headers=MERGE))
    assert patched["@type"] == "ShoppingCart"
    again = _ok(client.get(f"{V4}/{cart['id']}"))
    assert again["@type"] == "BranchCart"
    assert again["cartItem"][0]["@type"] == "SimItem"


def test_cart_deleted_through_the_other_version(client) -> None:
    a = _ok(client.post(V4, json={}), 201)
    b = _ok(client.post(V5, json={"@type": "ShoppingCart"}), 201)
    assert client.delete(f"{V5}/{a['id']}").status_code == 204
    assert client.delete(f"{V4}/{b['id']}").status_code == 204
    for url in (f"{V4}/{a['id']}", f"{V5}/{a['id']}", f"{V4}/{b['id']}", f"{V5}/{b['id']}"):
        assert client.get(url).status_code == 404


def test_v5_listing_filters_on_v5_names_and_counts(client) -> None:
    a = _ok(
        client.post(
            V4,
            json={
                "relatedParty": [{"id": "p1", "@referredType": "Individual"}],
                "cartItem": [{"id": "1", "itemPrice": [PRICE]}],
            },
        ),
        201,
    )
    _ok(
        client.post(
            V5,
            json={
                "@type": "ShoppingCart",
                "contactMedium": [{"@type": "EmailContactMedium", "emailAddress": "z@b.example", "id": "cm9"}],
            },
        ),
        201,
    )
    response = client.get(V5, params={"relatedParty.partyOrPartyRole.id": "p1"})
    assert [c["id"] for c in _ok(response)] == [a["id"]]
    assert response.headers["X-Total-Count"] == "1" and response.headers["X-Result-Count"] == "1"
    assert len(_ok(client.get(V5, params={"cartItem.itemTotalPrice.priceType": "recurring"}))) == 1
    assert len(_ok(client.get(V5, params={"contactMedium.emailAddress": "z@b.example"}))) == 1
    assert len(_ok(client.get(V5, params={"contactMedium.id": "cm9"}))) == 1
    assert len(_ok(client.get(V5))) == 2
    listed = _ok(client.get(V5, params={"fields": "relatedParty"}))
    assert all(c["@type"] == "ShoppingCart" for c in listed)


def test_v5_errors_are_v5_errors(client) -> None:
    missing = client.get(f"{V5}/nope")
    body = missing.json()
    assert missing.status_code == 404 and body["@type"] == "Error" and body["code"] == "404" and body["reason"]
    refused = client.post(V5, json={"cartItem": []})  # v5 requires @type
    assert refused.status_code == 400 and refused.json()["@type"] == "Error"


def test_v5_write_that_v4_cannot_represent_is_refused(client) -> None:
    """v4 requires a related party's id; a v5 party value without one cannot be stored for both versions."""
    response = client.post(
        V5,
        json={
            "@type": "ShoppingCart",
            "relatedParty": [
                {
                    "@type": "RelatedPartyOrPartyRole",
                    "role": "x",
                    "partyOrPartyRole": {"@type": "Individual", "givenName": "Jo"},
                }
            ],
        },
    )
    assert response.status_code == 400
    assert "TMF663" in response.json()["message"]


@pytest.mark.parametrize("media_type", ["application/merge-patch+json", "application/json"])
def test_v5_merge_patch_media_types(client, media_type: str) -> None:
    cart = _ok(client.post(V5, json={"@type": "ShoppingCart"}), 201)
    response = client.patch(
        f"{V5}/{cart['id']}",
        json={"@type": "ShoppingCart", "x-note": "hi"},
        headers={"Content-Type": media_type},
    )
    assert _ok(response)["x-note"] == "hi"
    assert response.headers["Content-Type"].startswith("application/json")


def test_v5_fields_on_post_and_patch(client) -> None:
    response = client.post(V5, params={"fields": "validFor"}, json={"@type": "ShoppingCart", "x-a": 1})
    created = _ok(response, 201)
    assert set(created) == {"id", "href", "@type", "validFor"}
    patched = _ok(
        client.patch(
            f"{V5}/{created['id']}",
            params={"fields": "x-a"},
            json={"@type": "ShoppingCart", "x-a": 2},
            headers=MERGE,
        )
    )
    assert patched == {"id": created["id"], "href": created["href"], "@type": "ShoppingCart", "x-a": 2}


# --------------------------------------------------------------------------- JSON Patch Query


def _cart_with_items(client) -> dict:
    items = [
        {
            "@type": "CartItem",
            "id": "1",
            "quantity": 1,
            "productOffering": {"@type": "ProductOfferingRef", "id": "po-a"},
        },
        {
            "@type": "CartItem",
            "id": "2",
            "quantity": 1,
            "productOffering": {"@type": "ProductOfferingRef", "id": "po-b"},
        },
        {
            "@type": "CartItem",
            "id": "3",
            "quantity": 1,
            "productOffering": {"@type": "ProductOfferingRef", "id": "po-b"},
        },
    ]
    return _ok(client.post(V5, json={"@type": "ShoppingCart", "cartItem": items}), 201)


def test_patch_query_selects_by_id(client) -> None:
    cart = _cart_with_items(client)
    ops = [{"op": "replace", "path": "/cartItem[?(@.id=='2')]/quantity", "value": 4}]
    patched = _ok(client.patch(f"{V5}/{cart['id']}", json=ops, headers=QUERY_PATCH))
    assert [i["quantity"] for i in patched["cartItem"]] == [1, 4, 1]


def test_patch_query_selects_by_nested_attribute_and_several_matches(client) -> None:
    cart = _cart_with_items(client)
    ops = [{"op": "replace", "path": "/cartItem[?(@.productOffering.id=='po-b')]/quantity", "value": 7}]
    patched = _ok(client.patch(f"{V5}/{cart['id']}", json=ops, headers=QUERY_PATCH))
    assert [i["quantity"] for i in patched["cartItem"]] == [1, 7, 7]
    removed = _ok(
        client.patch(
            f"{V5}/{cart['id']}",
            json=[{"op": "remove", "path": "/cartItem?cartItem.productOffering.id=='po-b'"}],
            headers=QUERY_PATCH,
        )
    )
    assert [i["id"] for i in removed["cartItem"]] == ["1"]


def test_patch_query_without_match_is_409(client) -> None:
    """409: the query is well formed but selects nothing in the cart as it is now (documented in
    docs/api.md); nothing is applied."""
    cart = _cart_with_items(client)
    ops = [
        {"op": "replace", "path": "/cartItem[?(@.id=='1')]/quantity", "value": 9},
        {"op": "remove", "path": "/cartItem[?(@.id=='99')]"},
    ]
    response = client.patch(f"{V5}/{cart['id']}", json=ops, headers=QUERY_PATCH)
    assert response.status_code == 409 and response.json()["@type"] == "Error"
    assert _ok(client.get(f"{V5}/{cart['id']}"))["cartItem"][0]["quantity"] == 1


def test_patch_query_malformed_is_400(client) -> None:
    cart = _cart_with_items(client)
    ops = [{"op": "replace", "path": "/cartItem[?(@.id==__import__('os'))]/quantity", "value": 9}]
    assert client.patch(f"{V5}/{cart['id']}", json=ops, headers=QUERY_PATCH).status_code == 400


# --------------------------------------------------------------------------- hub, listeners, events


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    v4, v5 = Receiver(), Receiver()
    yield v4, v5
    v4.close()
    v5.close()


def test_each_version_hears_its_own_envelopes(app, client, receivers) -> None:
    v4_receiver, v5_receiver = receivers
    _ok(client.post(f"{CART_API}/hub", json={"callback": v4_receiver.url}), 201)
    hub = _ok(client.post(f"{V5_API}/hub", json={"@type": "Hub", "callback": v5_receiver.url}), 201)
    assert hub["@type"] == "Hub" and hub["callback"] == v5_receiver.url
    cart = _ok(client.post(V4, json={"cartItem": [{"id": "1", "itemPrice": [PRICE]}]}), 201)
    _ok(client.patch(f"{V5}/{cart['id']}", json={"@type": "ShoppingCart", "x-a": 1}, headers=MERGE))
    assert client.delete(f"{V5}/{cart['id']}").status_code == 204
    dispatcher = make_dispatcher(app.deps)
    try:
        while dispatcher.run_once():
            pass
    finally:
        dispatcher.stop()
    kinds = ["ShoppingCartCreateEvent", "ShoppingCartAttributeValueChangeEvent", "ShoppingCartDeleteEvent"]
    assert [e["eventType"] for e in v4_receiver.events] == kinds
    assert [e["eventType"] for e in v5_receiver.events] == kinds
    v4_cart = v4_receiver.events[0]["event"]["shoppingCart"]
    v5_event = v5_receiver.events[0]
    assert "ItemTotalPrice" in v4_cart["cartItem"][0] and "timeOcurred" in v4_receiver.events[0]
    assert v5_event["@type"] == "ShoppingCartCreateEvent" and "timeOccurred" in v5_event
    assert "itemTotalPrice" in v5_event["event"]["shoppingCart"]["cartItem"][0]
    assert (
        v5_receiver.events[1]["fieldPath"].split(",") == ["x-a", "lastUpdate"]
        or "x-a" in v5_receiver.events[1]["fieldPath"]
    )
    # the v5 envelope is what the v5 listener accepts (validated against the v5 schema): 204
    for event in v5_receiver.events:
        listener = f"{V5_API}/listener/{event['eventType'][0].lower()}{event['eventType'][1:]}"
        assert client.post(listener, json=event).status_code == 204
    assert client.delete(f"{V5_API}/hub/{hub['id']}").status_code == 204
    assert client.delete(f"{V5_API}/hub/{hub['id']}").status_code == 404


def test_v5_listener_validates_against_v5_schemas(client) -> None:
    bad = {"eventId": "1", "eventType": "ShoppingCartCreateEvent", "event": {"shoppingCart": {"id": "1"}}}
    # v5's ShoppingCart requires @type: the v4 shape of the same event is refused by the v5 listener
    assert client.post(f"{V5_API}/listener/shoppingCartCreateEvent", json=bad).status_code == 400
