"""Hostile input: each request is refused with its documented 4xx TMF Error, its message in the client's
terms (no internals: _support.assert_client_message), or, for injection attempts that are merely odd filter
values, answered with an empty page; and the database is exactly as before: same row count in every table,
same stored documents (checksum over id, version and document).

Run on both backends (`--db=postgresql`): PostgreSQL refuses NUL in text and JSONB, which must be a 400.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from tmfserver.store.models import RESOURCE_MODELS, Base

from ._support import (
    CANCELS,
    CARTS,
    JSON,
    JSON_PATCH,
    MERGE_PATCH,
    ORDERS,
    assert_client_message,
    assert_tmf_error,
)

J = {"Content-Type": JSON}
JP = {"Content-Type": JSON_PATCH}


def db_snapshot(engine) -> dict[str, Any]:
    """Row counts of every table and a checksum of every stored resource document."""
    snapshot: dict[str, Any] = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            snapshot[table.name] = connection.execute(select(func.count()).select_from(table)).scalar_one()
        digest = hashlib.sha256()
        for model in RESOURCE_MODELS:
            rows = connection.execute(select(model.id, model.version, model.doc).order_by(model.id))
            for resource_id, version, doc in rows:
                digest.update(
                    json.dumps([model.__tablename__, resource_id, version, doc], sort_keys=True).encode()
                )
        snapshot["documents"] = digest.hexdigest()
    return snapshot


@pytest.fixture(scope="module")
def seeded(shared_client) -> dict[str, str]:
    order = shared_client.post(
        ORDERS,
        json={
            "description": "seed",
            "orderItem": [{"id": "1", "action": "add", "quantity": 2}],
            "note": [{"text": "seed note"}],
        },
    )
    cart = shared_client.post(CARTS, json={"cartItem": [{"id": "1", "quantity": 1}]})
    assert order.status_code == cart.status_code == 201
    return {"order": order.json()["id"], "cart": cart.json()["id"]}


def _nested_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _nested_array(depth: int) -> bytes:
    return b'{"x":' + b"[" * depth + b"]" * depth + b"}"


def _chunks(size: int):
    chunk = b"x" * 65536
    for _ in range(size // len(chunk) + 1):
        yield chunk


TEN_MB = 10 * 1024 * 1024
ITEM = f"{ORDERS}/{{order}}"
CART = f"{CARTS}/{{cart}}"

# (id, method, path, request keyword arguments, expected status). "{order}"/"{cart}": the seeded ids.
CASES: list[tuple[str, str, str, dict, int]] = [
    # malformed JSON
    ("truncated", "POST", ORDERS, {"content": b'{"orderItem": [', "headers": J}, 400),
    ("trailing garbage", "POST", ORDERS, {"content": b'{"description": "x"} trailing', "headers": J}, 400),
    ("single quotes", "POST", CARTS, {"content": b"{'cartItem': []}", "headers": J}, 400),
    ("utf-8 BOM", "POST", ORDERS, {"content": b'\xef\xbb\xbf{"description": "x"}', "headers": J}, 400),
    ("binary junk", "POST", ORDERS, {"content": b"\x00\x01\x02\xff", "headers": J}, 400),
    (
        "malformed merge patch",
        "PATCH",
        ITEM,
        {"content": b'{"description":', "headers": {"Content-Type": MERGE_PATCH}},
        400,
    ),
    (
        "malformed json patch",
        "PATCH",
        ITEM,
        {"content": b'[{"op":', "headers": {"Content-Type": JSON_PATCH}},
        400,
    ),
    (
        "json patch not a list",
        "PATCH",
        ITEM,
        {"json": {"op": "remove"}, "headers": {"Content-Type": JSON_PATCH}},
        400,
    ),
    (
        "json patch bad op",
        "PATCH",
        CART,
        {"json": [{"op": "exec", "path": "/"}], "headers": {"Content-Type": JSON_PATCH}},
        400,
    ),
    # wrong types
    ("item null", "POST", ORDERS, {"json": {"orderItem": [None]}}, 400),
    ("quantity bool", "POST", CARTS, {"json": {"cartItem": [{"id": "1", "quantity": True}]}}, 400),
    ("cart items object", "POST", CARTS, {"json": {"cartItem": {"id": "1"}}}, 400),
    (
        "state number in patch",
        "PATCH",
        ITEM,
        {"json": {"state": 5}, "headers": {"Content-Type": MERGE_PATCH}},
        400,
    ),
    ("cancel without order", "POST", CANCELS, {"json": {"resourceOrder": "x"}}, 400),
    # huge numbers
    ("1e400", "POST", ORDERS, {"content": b'{"description": "x", "x": 1e400}', "headers": J}, 400),
    (
        "-1e400",
        "POST",
        CARTS,
        {"content": b'{"cartItem": [{"id": "1", "quantity": -1e400}]}', "headers": J},
        400,
    ),
    ("10**1000 digits", "POST", ORDERS, {"content": b'{"x": 1' + b"0" * 1000 + b"}", "headers": J}, 400),
    ("10**5000 digits", "POST", CARTS, {"content": b'{"x": 1' + b"0" * 5000 + b"}", "headers": J}, 400),
    ("NaN", "POST", ORDERS, {"content": b'{"x": NaN}', "headers": J}, 400),
    (
        "Infinity in patch",
        "PATCH",
        ITEM,
        {"content": b'{"x": Infinity}', "headers": {"Content-Type": MERGE_PATCH}},
        400,
    ),
    ("huge number filter", "GET", f"{ORDERS}?orderItem.quantity.gt=-1e400", {}, 400),
    ("NaN filter", "GET", f"{ORDERS}?orderItem.quantity.lt=NaN", {}, 400),
    ("huge limit", "GET", f"{ORDERS}?limit=1e400", {}, 400),
    # deep nesting
    ("object depth 40", "POST", ORDERS, {"content": _nested_object(40), "headers": J}, 400),
    ("array depth 100000", "POST", CARTS, {"content": _nested_array(100_000), "headers": J}, 400),
    # 10 MB bodies
    ("10 MB declared", "POST", ORDERS, {"content": b"x" * TEN_MB, "headers": J}, 413),
    ("10 MB chunked", "POST", CARTS, {"content": _chunks(TEN_MB), "headers": J}, 413),
    ("10 MB patch", "PATCH", ITEM, {"content": b" " * TEN_MB, "headers": {"Content-Type": MERGE_PATCH}}, 413),
    # invalid UTF-8
    ("overlong utf-8 in body", "POST", ORDERS, {"content": b'{"description": "\xc0\xaf"}', "headers": J}, 400),
    ("lone surrogate", "POST", ORDERS, {"content": b'{"description": "\\ud800"}', "headers": J}, 400),
    ("invalid utf-8 in query", "GET", f"{ORDERS}?description=%ff%fe", {}, 400),
    # NUL bytes
    ("NUL in string", "POST", ORDERS, {"content": b'{"description": "a\\u0000b"}', "headers": J}, 400),
    ("NUL in member name", "POST", CARTS, {"content": b'{"x\\u0000": 1}', "headers": J}, 400),
    ("NUL in item id", "POST", CARTS, {"content": b'{"cartItem": [{"id": "\\u0000"}]}', "headers": J}, 400),
    (
        "NUL in merge patch",
        "PATCH",
        ITEM,
        {"content": b'{"description": "\\u0000"}', "headers": {"Content-Type": MERGE_PATCH}},
        400,
    ),
    (
        "NUL in json patch",
        "PATCH",
        CART,
        {"json": [{"op": "add", "path": "/x", "value": "\x00"}], "headers": {"Content-Type": JSON_PATCH}},
        400,
    ),
    ("NUL in filter value", "GET", f"{ORDERS}?description=%00", {}, 400),
    ("NUL in filter name", "GET", f"{ORDERS}?desc%00ription=x", {}, 400),
    ("NUL in fields", "GET", f"{CARTS}?fields=id,%00", {}, 400),
    ("NUL in id", "GET", f"{ORDERS}/%00", {}, 400),
    ("NUL in deleted id", "DELETE", f"{CARTS}/abc%00", {}, 400),
    # SQL injection in filters and ids: just strings
    ("sql in filter value", "GET", f"{ORDERS}?description=x' OR '1'='1", {}, 200),
    ("sql in id filter", "GET", f"{ORDERS}?id=1;DROP TABLE resource_order;--", {}, 200),
    ("sql in state filter", "GET", f"{ORDERS}?state=x%27)%20OR%201=1--", {}, 200),
    ("sql in id", "GET", f"{ORDERS}/x' OR '1'='1", {}, 404),
    ("sql in deleted id", "DELETE", f"{ORDERS}/'; DROP TABLE resource_order; --", {}, 404),
    ("sql in sort-like fields", "GET", f"{ORDERS}?fields=id;DROP TABLE resource_order", {}, 200),
    # regex injection in filters (RE2: linear time, no backreferences)
    ("catastrophic regex", "GET", f"{ORDERS}?description.regex=(a%2B)%2B$", {}, 200),
    ("backreference", "GET", f"{ORDERS}?description.regex=(a)%5C1", {}, 400),
    ("unbalanced regex", "GET", f"{CARTS}?id.regex=[", {}, 400),
    ("long regex", "GET", f"{ORDERS}?description.regex={'a' * 300}", {}, 400),
    # path traversal in ids
    ("traversal encoded", "GET", f"{ORDERS}/..%2F..%2Fetc%2Fpasswd", {}, 404),
    ("traversal double encoded", "GET", f"{ORDERS}/..%252F..%252Fetc%252Fpasswd", {}, 404),
    ("dot-dot id patch", "PATCH", f"{ORDERS}/%2e%2e", {"json": {"description": "x"}}, 404),
    ("traversal delete", "DELETE", f"{CARTS}/..%2F{{cart}}", {}, 404),
    ("backslash traversal", "GET", f"{CARTS}/..%5C..%5Cwindows%5Cwin.ini", {}, 404),
    # unknown content types
    (
        "form",
        "POST",
        ORDERS,
        {"content": b"description=x", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        415,
    ),
    (
        "multipart",
        "POST",
        CARTS,
        {"content": b"--b\r\n\r\n--b--", "headers": {"Content-Type": "multipart/form-data; boundary=b"}},
        415,
    ),
    ("html", "POST", ORDERS, {"content": b"<h1>x</h1>", "headers": {"Content-Type": "text/html"}}, 415),
    ("garbage media type", "POST", CARTS, {"content": b"{}", "headers": {"Content-Type": "%%%/;;;"}}, 415),
    ("patch as xml", "PATCH", ITEM, {"content": b"<x/>", "headers": {"Content-Type": "application/xml"}}, 415),
    # methods the documents lack
    ("TRACE", "TRACE", ORDERS, {}, 405),
    ("PROPFIND", "PROPFIND", CARTS, {}, 405),
    ("OPTIONS without CORS", "OPTIONS", ITEM, {}, 405),
    ("PUT item", "PUT", ITEM, {"json": {"description": "x"}}, 405),
    ("DELETE cancel", "DELETE", f"{CANCELS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", {}, 405),
    ("PATCH collection", "PATCH", CARTS, {"json": {}}, 405),
    # query limits and paging integers (every integer parameter of every operation: test_paging_integers.py)
    ("query string too long", "GET", f"{ORDERS}?description={'q' * 5000}", {}, 414),
    ("offset 2**63", "GET", f"{ORDERS}?offset={2**63}", {}, 400),
    ("offset 10**100", "GET", f"{CARTS}?offset=1{'0' * 100}", {}, 400),
    ("offset negative", "GET", f"{CANCELS}?offset=-1", {}, 400),
    ("limit not a number", "GET", f"{ORDERS}?limit=abc", {}, 400),
    ("limit exponent", "GET", f"{CARTS}?limit=1e3", {}, 400),
    ("limit empty", "GET", f"{ORDERS}?limit=", {}, 400),
    # what the schema refuses, deep below the top
    ("object depth 10000", "POST", ORDERS, {"content": _nested_object(10_000), "headers": J}, 400),
    (
        "quantity a string",
        "POST",
        ORDERS,
        {"json": {"orderItem": [{"id": "1", "action": "add", "quantity": "2"}]}},
        400,
    ),
    ("priority a word", "POST", ORDERS, {"json": {"priority": "high"}}, 400),
    # JSON Patch operations that cannot be applied: atomic, nothing changes
    (
        "patch remove missing",
        "PATCH",
        ITEM,
        {"json": [{"op": "remove", "path": "/nothing"}], "headers": JP},
        400,
    ),
    (
        "patch replace past the end",
        "PATCH",
        ITEM,
        {"json": [{"op": "replace", "path": "/orderItem/5/quantity", "value": 1}], "headers": JP},
        400,
    ),
    (
        "patch add, no parent",
        "PATCH",
        CART,
        {"json": [{"op": "add", "path": "/x/y", "value": 1}], "headers": JP},
        400,
    ),
    (
        "patch add past the end",
        "PATCH",
        ITEM,
        {"json": [{"op": "add", "path": "/note/7", "value": {"text": "x"}}], "headers": JP},
        400,
    ),
    (
        "patch through a string",
        "PATCH",
        ITEM,
        {"json": [{"op": "add", "path": "/description/x", "value": 1}], "headers": JP},
        400,
    ),
    (
        "patch index not a number",
        "PATCH",
        ITEM,
        {"json": [{"op": "replace", "path": "/note/first/text", "value": "y"}], "headers": JP},
        400,
    ),
    ("patch add without value", "PATCH", ITEM, {"json": [{"op": "add", "path": "/x"}], "headers": JP}, 400),
    ("patch move without from", "PATCH", ITEM, {"json": [{"op": "move", "path": "/x"}], "headers": JP}, 400),
    (
        "patch move from missing",
        "PATCH",
        CART,
        {"json": [{"op": "move", "from": "/nothing", "path": "/x"}], "headers": JP},
        400,
    ),
    (
        "patch move into itself",
        "PATCH",
        ITEM,
        {"json": [{"op": "move", "from": "/note", "path": "/note/0/x"}], "headers": JP},
        400,
    ),
    (
        "patch path not a pointer",
        "PATCH",
        ITEM,
        {"json": [{"op": "replace", "path": "description", "value": "x"}], "headers": JP},
        400,
    ),
    (
        "patch bad escape",
        "PATCH",
        CART,
        {"json": [{"op": "add", "path": "/a~2b", "value": 1}], "headers": JP},
        400,
    ),
    (
        "patch test fails",
        "PATCH",
        ITEM,
        {"json": [{"op": "test", "path": "/description", "value": "other"}], "headers": JP},
        409,
    ),
    (
        "patch test missing",
        "PATCH",
        CART,
        {"json": [{"op": "test", "path": "/x", "value": 1}], "headers": JP},
        409,
    ),
    (
        "patch result invalid",
        "PATCH",
        ITEM,
        {"json": [{"op": "replace", "path": "/orderItem/0/quantity", "value": "many"}], "headers": JP},
        400,
    ),
    (
        "patch second operation fails",
        "PATCH",
        ITEM,
        {
            "json": [
                {"op": "replace", "path": "/description", "value": "changed"},
                {"op": "remove", "path": "/x"},
            ],
            "headers": JP,
        },
        400,
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_hostile_request(shared_client, app, seeded, method: str, path: str, kwargs: dict, status: int) -> None:
    before = db_snapshot(app.deps.engine)
    response = shared_client.request(method, path.format(**seeded), **kwargs)
    if status == 200:
        assert response.status_code == 200, response.text[:300]
        listed = response.json()
        assert isinstance(listed, list)
        if "fields=" not in path:
            assert listed == []  # an injection attempt is only an odd filter value: it matches nothing
    else:
        body = assert_tmf_error(response, status)
        assert body["requestId"] == response.headers["x-request-id"]
        assert_client_message(body["message"])  # the deny-list of internals (also in assert_tmf_error)
    assert db_snapshot(app.deps.engine) == before


def test_the_seed_is_intact_and_readable(shared_client, seeded) -> None:
    order = shared_client.get(f"{ORDERS}/{seeded['order']}").json()
    assert order["description"] == "seed"
    assert shared_client.get(f"{CARTS}/{seeded['cart']}").status_code == 200
    listed = shared_client.get(ORDERS).json()
    assert [o["id"] for o in listed] == [seeded["order"]]


def test_the_docs_list_every_case_with_its_status() -> None:
    """docs/api.md "Hostile input" is this module's table: every case, with the status asserted here."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    rows = dict(re.findall(r"^\| (.+?) \| `[^`]*` \| (\d{3}) \|$", text, re.M))
    assert {name: str(status) for name, _method, _path, _kwargs, status in CASES} == rows
