"""A JSON Patch is checked as operations by Connexion; its result must still satisfy the resource schema."""

from ._support import CARTS, ORDERS, assert_tmf_error, json_patch


def test_json_patch_producing_a_schema_invalid_order_is_refused(client) -> None:
    order = client.post(ORDERS, json={"priority": 1}).json()
    refused = json_patch(
        client, f"{ORDERS}/{order['id']}", [{"op": "replace", "path": "/priority", "value": "high"}]
    )
    assert "priority" in assert_tmf_error(refused, 400)["message"]
    assert client.get(f"{ORDERS}/{order['id']}").json()["priority"] == 1


def test_json_patch_producing_a_schema_invalid_cart_is_refused(client) -> None:
    cart = client.post(CARTS, json={}).json()
    refused = json_patch(
        client, f"{CARTS}/{cart['id']}", [{"op": "add", "path": "/cartItem", "value": "not an array"}]
    )
    assert_tmf_error(refused, 400)
    assert client.get(f"{CARTS}/{cart['id']}").json().get("cartItem") is None
