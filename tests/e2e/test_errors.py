"""Every failure leaves as a TMF `Error` body (code, reason, message, status: strings; status = HTTP status)."""

from __future__ import annotations

import json

import pytest

from tmfserver.services import resources

from ._support import CANCELS, CARTS, ORDERS, assert_tmf_error, create_order


@pytest.mark.parametrize("path", [ORDERS, CARTS, CANCELS])
def test_malformed_json_is_400(client, path: str) -> None:
    response = client.post(path, content=b'{"orderItem": [', headers={"Content-Type": "application/json"})
    assert_tmf_error(response, 400)


@pytest.mark.parametrize(
    "body",
    [
        {"orderItem": "not an array"},
        {"orderItem": [{"quantity": "two"}]},
        {"description": 42},
        {"orderDate": "yesterday"},
        {"relatedParty": [{"id": "1"}]},  # @referredType is required
        [],
        "order",
    ],
    ids=[
        "items-string",
        "quantity-string",
        "description-number",
        "bad-date-time",
        "party-type",
        "array",
        "string",
    ],
)
def test_wrong_types_are_400(client, body: object) -> None:
    assert_tmf_error(client.post(ORDERS, json=body), 400)
    assert client.get(ORDERS).json() == []


def test_wrong_type_in_a_patch_is_400(client) -> None:
    order = create_order(client)
    response = client.patch(f"{ORDERS}/{order['id']}", json={"orderItem": "x"})
    assert_tmf_error(response, 400)


@pytest.mark.parametrize(
    "path",
    [
        "/nothing",
        "/tmf-api/resourceOrderingManagement/v4/productOrder",
        f"{ORDERS}/x/y",
        "/tmf-api/shoppingCart/v6/shoppingCart",
    ],
)
def test_unknown_path_is_404(client, path: str) -> None:
    body = assert_tmf_error(client.get(path), 404)
    assert path in body["message"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"DELETE", "GET", "PATCH"}),
        ("POST", f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"DELETE", "GET", "PATCH"}),
        ("DELETE", ORDERS, {"GET", "POST"}),
        ("PATCH", f"{CANCELS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", {"GET"}),
        ("PUT", CARTS, {"GET", "POST"}),
        ("PUT", f"{CARTS}/", {"GET", "POST"}),
        ("POST", f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV/stateHistory", {"GET"}),
    ],
)
def test_wrong_method_is_405_with_allow(client, method: str, path: str, allow: set) -> None:
    response = client.request(method, path, json={})
    assert_tmf_error(response, 405)
    assert {m.strip() for m in response.headers["Allow"].split(",")} == allow


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml"])
def test_unsupported_content_type_is_415(client, content_type: str) -> None:
    response = client.post(ORDERS, content=b"{}", headers={"Content-Type": content_type})
    assert_tmf_error(response, 415)


def test_unsupported_patch_content_type_is_415(client) -> None:
    order = create_order(client)
    response = client.patch(f"{ORDERS}/{order['id']}", content=b"{}", headers={"Content-Type": "text/plain"})
    assert_tmf_error(response, 415)


def test_missing_content_type_is_treated_as_json(client) -> None:
    response = client.post(ORDERS, content=b'{"description": "raw"}')
    assert response.status_code == 201, response.text
    assert response.json()["description"] == "raw"


def test_invalid_utf8_is_400(client) -> None:
    response = client.post(
        ORDERS, content=b'{"description": "\xff\xfe"}', headers={"Content-Type": "application/json"}
    )
    assert_tmf_error(response, 400)


def _big_body() -> bytes:
    body = json.dumps({"description": "x" * 1_200_000}).encode()
    assert len(body) > 1_000_000
    return body


def test_body_over_the_limit_is_413(client, settings) -> None:
    assert settings.max_body_bytes == 1_000_000
    response = client.post(ORDERS, content=_big_body(), headers={"Content-Type": "application/json"})
    assert_tmf_error(response, 413)
    assert client.get(ORDERS).json() == []


def test_streamed_body_over_the_limit_is_413(client) -> None:
    """No Content-Length (chunked): the limit is enforced while the body streams in."""
    body = _big_body()

    def chunks():
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = client.post(ORDERS, content=chunks(), headers={"Content-Type": "application/json"})
    assert_tmf_error(response, 413)
    assert client.get(ORDERS).json() == []


def test_streamed_body_within_the_limit_is_read(client) -> None:
    def chunks():
        yield b'{"cartItem": [{"id": '
        yield b'"z"}]}'

    response = client.post(CARTS, content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    assert [item["id"] for item in response.json()["cartItem"]] == ["z"]


def test_body_just_under_the_limit_is_accepted(client) -> None:
    # Many short strings: single strings and arrays have limits of their own.
    body = json.dumps({"note": [{"text": "x" * 1000} for _ in range(900)]}).encode()
    assert 900_000 < len(body) < 1_000_000
    response = client.post(ORDERS, content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 201, response.text[:200]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_json_nested_deeper_than_32_is_400(client) -> None:
    assert_tmf_error(client.post(ORDERS, json={"description": "d", "x": _nested(40)}), 400)
    deep_list: list = []
    for _ in range(40):
        deep_list = [deep_list]
    assert_tmf_error(client.post(ORDERS, json={"x": deep_list}), 400)
    assert client.post(ORDERS, json={"x": _nested(20)}).status_code == 201


@pytest.mark.parametrize(
    "query",
    [
        "=x",
        ".gt=1",
        "a..b=1",
        "orderDate.gt=abc",
        "x.regex=(",
        "offset=-1",
        "limit=abc",
        "offset=abc",
        "limit=-5",
    ],
)
@pytest.mark.parametrize("collection", [ORDERS, CARTS])
def test_bad_filters_are_400(client, collection: str, query: str) -> None:
    assert_tmf_error(client.get(f"{collection}?{query}"), 400)


def test_handler_exception_is_a_500_without_stack_trace(client, monkeypatch) -> None:
    order = create_order(client)

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(resources, "retrieve", explode)
    response = client.get(f"{ORDERS}/{order['id']}")
    body = assert_tmf_error(response, 500)
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text and "RuntimeError" not in response.text
    assert body["message"]
    monkeypatch.undo()
    assert client.get(f"{ORDERS}/{order['id']}").status_code == 200


def test_errors_of_the_domain_are_tmf_errors_too(client) -> None:
    order = create_order(client)
    body = assert_tmf_error(client.patch(f"{ORDERS}/{order['id']}", json={"state": "completed"}), 409)
    assert body["reason"] == "Conflict"
    assert body["code"] == "409"
