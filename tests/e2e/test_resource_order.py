"""TMF652 ResourceOrder over HTTP: create, retrieve, delete, JSON Merge Patch and JSON Patch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ._support import (
    JSON,
    JSON_PATCH,
    KIT_ORDER,
    MERGE_PATCH,
    ORDERS,
    ULID_RE,
    UTC_MS_RE,
    assert_tmf_error,
    create_order,
    get_order,
    json_patch,
    merge_patch,
    set_order_state,
)

# --------------------------------------------------------------------------- create


def test_create_answers_201_with_location_and_server_fields(client) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    response = client.post(ORDERS, json=KIT_ORDER)
    after = datetime.now(UTC) + timedelta(seconds=1)
    assert response.status_code == 201, response.text
    order = response.json()
    assert response.headers["Location"] == order["href"]
    assert ULID_RE.match(order["id"]), order["id"]
    assert len(order["id"]) == 26
    assert order["href"].startswith(("http://", "https://"))
    assert order["href"].endswith(f"{ORDERS}/{order['id']}")
    assert UTC_MS_RE.match(order["orderDate"]), order["orderDate"]
    order_date = datetime.strptime(order["orderDate"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= order_date <= after
    assert order["state"] == "acknowledged"
    assert order["@type"] == "ResourceOrder"
    assert [item["state"] for item in order["orderItem"]] == ["acknowledged"]
    assert order["relatedParty"] == KIT_ORDER["relatedParty"]
    assert "completionDate" not in order


def test_ids_are_unique_and_time_ordered(client) -> None:
    ids = [create_order(client)["id"] for _ in range(3)]
    assert len(set(ids)) == 3
    timestamps = [order_id[:10] for order_id in ids]  # a ULID starts with its creation time (ms)
    assert timestamps == sorted(timestamps)


def test_client_type_is_kept(client) -> None:
    assert create_order(client, {"@type": "SpecialOrder"})["@type"] == "SpecialOrder"


def test_item_ids_are_kept_and_missing_ones_numbered(client) -> None:
    order = create_order(
        client,
        {"orderItem": [{"action": "add"}, {"id": "2", "action": "add"}, {"action": "modify"}, {"id": "x"}]},
    )
    # "2" is taken by the client, so the unnamed items get 1 and 3.
    assert [item["id"] for item in order["orderItem"]] == ["1", "2", "3", "x"]
    assert [item.get("action") for item in order["orderItem"]] == ["add", "add", "modify", None]


def test_duplicate_item_ids_are_400(client) -> None:
    response = client.post(ORDERS, json={"orderItem": [{"id": "7"}, {"id": "7"}]})
    body = assert_tmf_error(response, 400)
    assert "7" in body["message"]
    assert client.get(ORDERS).json() == []


def test_server_owned_fields_sent_by_the_client_are_ignored(client) -> None:
    sent = {
        "id": "client-id",
        "href": "http://evil.example/x",
        "orderDate": "2001-01-01T00:00:00.000Z",
        "state": "completed",
        "completionDate": "2001-01-02T00:00:00.000Z",
        "orderItem": [{"id": "1", "state": "completed"}],
        "description": "kept",
    }
    response = client.post(ORDERS, json=sent)
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["id"] != "client-id" and ULID_RE.match(order["id"])
    assert order["href"].endswith(f"/resourceOrder/{order['id']}")
    assert order["orderDate"] != sent["orderDate"]
    assert order["state"] == "acknowledged"
    assert "completionDate" not in order
    assert order["orderItem"] == [{"id": "1", "state": "acknowledged"}]
    assert order["description"] == "kept"
    assert get_order(client, order["id"]) == order


# --------------------------------------------------------------------------- retrieve / delete


def test_retrieve_returns_the_created_order(client) -> None:
    order = create_order(client)
    assert get_order(client, order["id"]) == order


def test_retrieve_unknown_is_404(client) -> None:
    body = assert_tmf_error(client.get(f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    assert "01ARZ3NDEKTSV4RRFFQ69G5FAV" in body["message"]


def test_delete_then_gone(client) -> None:
    order = create_order(client)
    response = client.delete(f"{ORDERS}/{order['id']}")
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert_tmf_error(client.get(f"{ORDERS}/{order['id']}"), 404)
    assert_tmf_error(client.delete(f"{ORDERS}/{order['id']}"), 404)


def test_delete_refused_while_work_is_in_flight(client) -> None:
    order = create_order(client)
    assert set_order_state(client, order["id"], "inProgress").status_code == 200
    body = assert_tmf_error(client.delete(f"{ORDERS}/{order['id']}"), 409)
    assert "inProgress" in body["message"]
    assert get_order(client, order["id"])["state"] == "inProgress"


# --------------------------------------------------------------------------- merge patch


@pytest.mark.parametrize("content_type", [MERGE_PATCH, JSON])
def test_merge_patch_semantics(client, content_type: str) -> None:
    order = create_order(
        client,
        {**KIT_ORDER, "description": "old", "category": "c", "note": [{"text": "a"}, {"text": "b"}]},
    )
    response = merge_patch(
        client,
        f"{ORDERS}/{order['id']}",
        {"description": "new", "category": None, "note": [{"text": "c"}], "name": "n"},
        content_type,
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["description"] == "new"
    assert "category" not in patched  # null removes the key
    assert patched["note"] == [{"text": "c"}]  # arrays are replaced, not merged
    assert patched["name"] == "n"
    untouched = {k: v for k, v in order.items() if k not in ("description", "category", "note")}
    assert {k: patched[k] for k in untouched} == untouched
    assert get_order(client, order["id"]) == patched


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", "other"), ("href", "http://x/y"), ("orderDate", "2020-01-01T00:00:00.000Z"), ("id", None)],
)
def test_identity_fields_are_not_patchable(client, field: str, value: object) -> None:
    order = create_order(client)
    body = assert_tmf_error(merge_patch(client, f"{ORDERS}/{order['id']}", {field: value}), 400)
    assert field in body["message"]
    assert get_order(client, order["id"]) == order


@pytest.mark.parametrize("state", ["finished", "Completed", "aborted ", 7])
def test_unknown_state_is_400(client, state: object) -> None:
    order = create_order(client)
    response = merge_patch(client, f"{ORDERS}/{order['id']}", {"state": state})
    assert response.status_code == 400, response.text
    assert_tmf_error(response, 400)
    assert get_order(client, order["id"]) == order


def test_patch_unknown_order_is_404(client) -> None:
    assert_tmf_error(merge_patch(client, f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"name": "x"}), 404)


def test_merge_patch_body_must_be_an_object(client) -> None:
    order = create_order(client)
    assert_tmf_error(merge_patch(client, f"{ORDERS}/{order['id']}", ["state"]), 400)


# --------------------------------------------------------------------------- JSON Patch


def test_json_patch_replaces_an_item_state(client) -> None:
    order = create_order(client)
    response = json_patch(
        client,
        f"{ORDERS}/{order['id']}",
        [{"op": "replace", "path": "/orderItem/0/state", "value": "inProgress"}],
    )
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["orderItem"][0]["state"] == "inProgress"
    assert patched["state"] == "inProgress"  # the order follows its first started item
    assert get_order(client, order["id"]) == patched


def test_json_patch_appends_notes(client) -> None:
    order = create_order(client)
    path = f"{ORDERS}/{order['id']}"
    first = json_patch(client, path, [{"op": "add", "path": "/note", "value": [{"text": "one"}]}])
    assert first.status_code == 200, first.text
    second = json_patch(client, path, [{"op": "add", "path": "/note/-", "value": {"text": "two"}}])
    assert second.status_code == 200, second.text
    assert [note["text"] for note in get_order(client, order["id"])["note"]] == ["one", "two"]


def test_json_patch_every_operation(client) -> None:
    order = create_order(client, {**KIT_ORDER, "description": "d", "name": "n", "category": "c"})
    operations = [
        {"op": "test", "path": "/description", "value": "d"},
        {"op": "add", "path": "/priority", "value": 1},
        {"op": "remove", "path": "/category"},
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "move", "from": "/description", "path": "/externalId"},
        {"op": "copy", "from": "/name", "path": "/orderType"},
    ]
    response = json_patch(client, f"{ORDERS}/{order['id']}", operations)
    assert response.status_code == 200, response.text
    patched = response.json()
    assert patched["priority"] == 1
    assert "category" not in patched
    assert patched["name"] == "renamed"
    assert "description" not in patched and patched["externalId"] == "d"
    assert patched["orderType"] == "renamed"
    assert get_order(client, order["id"]) == patched
    # externalId is a promoted, filterable column: the move is visible to filters too.
    assert [o["id"] for o in client.get(f"{ORDERS}?externalId=d").json()] == [order["id"]]


def test_failed_test_op_is_409_and_nothing_applies(client) -> None:
    order = create_order(client, {**KIT_ORDER, "description": "d"})
    response = json_patch(
        client,
        f"{ORDERS}/{order['id']}",
        [
            {"op": "replace", "path": "/description", "value": "changed"},
            {"op": "test", "path": "/description", "value": "something else"},
        ],
    )
    assert_tmf_error(response, 409)
    assert get_order(client, order["id"]) == order


def test_json_patch_error_midway_applies_nothing(client) -> None:
    order = create_order(client)
    response = json_patch(
        client,
        f"{ORDERS}/{order['id']}",
        [
            {"op": "add", "path": "/description", "value": "x"},
            {"op": "remove", "path": "/doesNotExist"},
        ],
    )
    assert_tmf_error(response, 400)
    assert get_order(client, order["id"]) == order


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "replace", "path": "/id", "value": "x"},
        {"op": "remove", "path": "/href"},
        {"op": "replace", "path": "/orderDate", "value": "2020-01-01T00:00:00.000Z"},
        {"op": "copy", "from": "/orderDate", "path": "/id"},
        {"op": "move", "from": "/id", "path": "/externalId"},
    ],
    ids=["replace-id", "remove-href", "replace-orderDate", "copy-onto-id", "move-id"],
)
def test_json_patch_may_not_touch_identity(client, operation: dict) -> None:
    order = create_order(client)
    body = assert_tmf_error(json_patch(client, f"{ORDERS}/{order['id']}", [operation]), 400)
    assert any(name in body["message"] for name in ("id", "href", "orderDate"))
    assert get_order(client, order["id"]) == order


def test_json_patch_body_must_be_operations(client) -> None:
    order = create_order(client)
    path = f"{ORDERS}/{order['id']}"
    assert_tmf_error(json_patch(client, path, {"op": "add"}), 400)  # type: ignore[arg-type]
    assert_tmf_error(json_patch(client, path, [{"op": "frobnicate", "path": "/x"}]), 400)
    assert_tmf_error(json_patch(client, path, [{"path": "/x"}]), 400)
    assert get_order(client, order["id"]) == order


def test_json_patch_content_type_is_honoured(client) -> None:
    """The same array sent as merge patch is refused: the media type selects the semantics."""
    order = create_order(client)
    operations = [{"op": "add", "path": "/name", "value": "x"}]
    assert_tmf_error(merge_patch(client, f"{ORDERS}/{order['id']}", operations), 400)
    response = client.request(
        "PATCH",
        f"{ORDERS}/{order['id']}",
        json=operations,
        headers={"Content-Type": f"{JSON_PATCH}; charset=utf-8"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["name"] == "x"
