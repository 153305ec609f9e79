"""A JSON Patch is checked as operations by Connexion; its result must still satisfy the resource schema."""

from tests.e2e._support import ORDERS

JSON_PATCH = {"Content-Type": "application/json-patch+json"}
CARTS = "/tmf-api/shoppingCart/v4/shoppingCart"


def test_json_patch_producing_a_schema_invalid_order_is_refused(client) -> None:
    order = client.post(ORDERS, json={"priority": 1}).json()
    refused = client.patch(
        f"{ORDERS}/{order['id']}",
        json=[{"op": "replace", "path": "/priority", "value": "high"}],
        headers=JSON_PATCH,
    )
    assert refused.status_code == 400
    assert "priority" in refused.json()["message"]
    assert client.get(f"{ORDERS}/{order['id']}").json()["priority"] == 1


def test_json_patch_producing_a_schema_invalid_cart_is_refused(client) -> None:
    cart = client.post(CARTS, json={}).json()
    refused = client.patch(
        f"{CARTS}/{cart['id']}",
        json=[{"op": "add", "path": "/cartItem", "value": "not an array"}],
        headers=JSON_PATCH,
    )
    assert refused.status_code == 400
    assert client.get(f"{CARTS}/{cart['id']}").json().get("cartItem") is None
