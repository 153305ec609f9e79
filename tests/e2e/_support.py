"""Shared helpers for the HTTP end-to-end suite: paths, request shortcuts and the TMF Error check."""

from __future__ import annotations

import re
from typing import Any

ORDER_API = "/tmf-api/resourceOrderingManagement/v4"
ORDERS = f"{ORDER_API}/resourceOrder"
CANCELS = f"{ORDER_API}/cancelResourceOrder"
CART_API = "/tmf-api/shoppingCart/v4"
CARTS = f"{CART_API}/shoppingCart"

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
KIT_HEADERS = {"Accept": JSON, "Content-Type": JSON}

# Crockford base32, 26 characters, first character at most 7 (128-bit ULID).
ULID_RE = re.compile(r"^[0-7][0-9A-HJKMNP-TV-Z]{25}$")
# Server timestamps: UTC, millisecond precision, `Z`.
UTC_MS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

# The TMF622 kit's minimal order, with TMF652's item array name.
KIT_ORDER = {
    "orderItem": [{"id": "123", "action": "add"}],
    "relatedParty": [{"id": "456-dd-df45", "@referredType": "Individual"}],
}


# What a TMF Error's `message` must never contain: it speaks of the request in the client's terms, never of
# the server's internals (exception texts, stack frames, schema dumps, library names, source paths, reprs).
INTERNALS = re.compile(
    r"Traceback|recursion|\{'[^']*':|sqlalchemy|psycopg|jsonschema|Failed validating|File \""
    r"|/[\w.-]+/[\w.-]+\.py|\b[A-Z]\w*(Error|Exception)\(|<class '|(^|[\s(:])b'",
    re.IGNORECASE,
)
MAX_MESSAGE_LENGTH = 300


def assert_client_message(message: str) -> None:
    """One line, short, and nothing of the server's internals (INTERNALS)."""
    assert "\n" not in message, message
    assert len(message) <= MAX_MESSAGE_LENGTH, message
    found = INTERNALS.search(message)
    assert found is None, f"{found.group()!r} in {message!r}"


def assert_tmf_error(response: Any, status: int) -> dict:
    """The response is a TMF `Error`: code/reason/message/status are strings and status is the HTTP one;
    the message is in the client's terms (assert_client_message)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    for key in ("code", "reason", "message", "status"):
        assert isinstance(body.get(key), str) and body[key], (key, body)
    assert body["status"] == str(status), body
    assert_client_message(body["message"])
    return body


def create_order(client: Any, body: dict | None = None) -> dict:
    response = client.post(ORDERS, json=KIT_ORDER if body is None else body)
    assert response.status_code == 201, response.text
    return response.json()


def get_order(client: Any, order_id: str) -> dict:
    response = client.get(f"{ORDERS}/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()


def merge_patch(client: Any, path: str, body: Any, content_type: str = MERGE_PATCH) -> Any:
    return client.request("PATCH", path, json=body, headers={"Content-Type": content_type})


def json_patch(client: Any, path: str, operations: list[dict]) -> Any:
    return client.request("PATCH", path, json=operations, headers={"Content-Type": JSON_PATCH})


def set_order_state(client: Any, order_id: str, state: str) -> Any:
    return merge_patch(client, f"{ORDERS}/{order_id}", {"state": state})


def set_item_state(client: Any, order: dict, item_id: str, state: str) -> Any:
    """Merge-patch replaces arrays: send every item as it is, with only `item_id`'s state changed."""
    items = [{**item, "state": state} if item["id"] == item_id else item for item in order["orderItem"]]
    return merge_patch(client, f"{ORDERS}/{order['id']}", {"orderItem": items})
