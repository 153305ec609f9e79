"""Every limit is a setting, answered with a TMF Error (with requestId) when exceeded.

Body size (413), the default depth, bad JSON and wrong types are in test_errors.py; here each limit is
checked against its setting, with an app whose limits are small enough to test at the boundary.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import _empty_tables
from tmfserver.app import create_app
from tmfserver.settings import Settings
from tmfserver.web.ratelimit import TokenBuckets, client_address

from ._support import CARTS, ORDERS, assert_tmf_error, create_order, json_patch

TIGHT = {
    "max_array_items": 5,
    "max_string_length": 50,
    "max_json_depth": 4,
    "max_body_bytes": 2_000,
    "max_query_length": 100,
    "max_filter_conditions": 2,
    "max_limit": 3,
    "default_limit": 2,
}


@pytest.fixture(scope="module")
def tight(app, settings):
    limited = create_app(settings.model_copy(update=TIGHT))
    _empty_tables(app)
    with limited.test_client() as test_client:
        yield test_client


def refused(response, status: int = 400) -> dict:
    body = assert_tmf_error(response, status)
    assert body["requestId"] == response.headers["x-request-id"]
    return body


def test_defaults() -> None:
    defaults = Settings()
    assert defaults.max_array_items == 1000
    assert defaults.max_string_length == 10_000
    assert defaults.max_json_depth == 32
    assert defaults.max_body_bytes == 1_000_000
    assert defaults.max_limit == 1000
    assert defaults.rate_limit_per_minute == 0  # off


# --- arrays ---------------------------------------------------------------------------------------


def items(n: int) -> list[dict]:
    return [{"id": str(i), "action": "add"} for i in range(n)]


@pytest.mark.parametrize(
    ("path", "make"),
    [
        (ORDERS, lambda n: {"orderItem": items(n)}),
        (CARTS, lambda n: {"cartItem": [{"id": str(i)} for i in range(n)]}),
        (ORDERS, lambda n: {"note": [{"text": "x"}] * n}),
        (ORDERS, lambda n: {"x": {"y": list(range(n))}}),  # any array, even an unknown attribute's
    ],
    ids=["order-items", "cart-items", "notes", "nested-unknown"],
)
def test_array_items_limit(tight, path: str, make) -> None:
    body = refused(tight.post(path, json=make(6)))
    assert "more than 5 items" in body["message"]
    assert tight.post(path, json=make(5)).status_code == 201


def test_array_limit_applies_to_patches_too(tight) -> None:
    order = create_order(tight, {"orderItem": items(1)})
    path = f"{ORDERS}/{order['id']}"
    refused(tight.patch(path, json={"orderItem": items(6)}))
    refused(json_patch(tight, path, [{"op": "test", "path": "/id", "value": order["id"]}] * 6))


def test_default_array_limit_is_1000(client) -> None:
    assert_tmf_error(client.post(CARTS, json={"x": [0] * 1001}), 400)
    assert client.post(CARTS, json={"x": [0] * 1000}).status_code == 201


# --- strings --------------------------------------------------------------------------------------


def test_string_length_limit(tight) -> None:
    body = refused(tight.post(ORDERS, json={"description": "x" * 51}))
    assert "longer than 50 characters" in body["message"]
    assert tight.post(ORDERS, json={"description": "x" * 50}).status_code == 201
    refused(tight.post(ORDERS, json={"orderItem": [{"id": "1", "action": "add", "x": "é" * 51}]}))


def test_member_names_count_as_strings(tight) -> None:
    refused(tight.post(CARTS, json={"k" * 51: 1}))


def test_string_limit_applies_to_json_patch_values(tight) -> None:
    order = create_order(tight, {"orderItem": items(1)})
    response = json_patch(
        tight, f"{ORDERS}/{order['id']}", [{"op": "add", "path": "/description", "value": "y" * 51}]
    )
    refused(response)


def test_default_string_limit_is_10000(client) -> None:
    assert_tmf_error(client.post(CARTS, json={"x": "s" * 10_001}), 400)
    assert client.post(CARTS, json={"x": "s" * 10_000}).status_code == 201


# --- depth, body size: the settings are honoured ---------------------------------------------------------


def test_depth_setting(tight) -> None:
    refused(tight.post(CARTS, json={"a": {"b": {"c": {"d": 1}}}}))  # 5 levels, counting the body
    assert tight.post(CARTS, json={"a": {"b": {"c": 1}}}).status_code == 201


def test_body_size_setting(tight) -> None:
    refused(tight.post(CARTS, content=json.dumps({"x": ["y" * 40] * 5} | {"p": "z" * 2000})), 413)


# --- query: limit maximum, length, number of filter conditions ---------------------------------------------


def _page_limit(response) -> int:
    first = response.headers["Link"].split(">")[0].lstrip("<")
    return int(parse_qs(urlparse(first).query)["limit"][0])


def test_limit_is_clamped_to_max_limit(tight) -> None:
    for _ in range(5):
        tight.post(CARTS, json={})
    response = tight.get(f"{CARTS}?limit=1000000")
    assert response.status_code == 200
    assert len(response.json()) == 3
    assert response.headers["X-Result-Count"] == "3"
    assert _page_limit(response) == 3
    assert len(tight.get(CARTS).json()) == 2  # default_limit


def test_limit_clamped_by_default_to_1000(client) -> None:
    response = client.get(f"{CARTS}?limit=99999999")
    assert response.status_code == 200
    client.post(CARTS, json={})
    assert _page_limit(client.get(f"{CARTS}?limit=99999999")) == 1000


def test_query_string_length(tight) -> None:
    body = refused(tight.get(f"{ORDERS}?description={'q' * 100}"), 414)
    assert "longer than 100" in body["message"]
    assert tight.get(f"{ORDERS}?description={'q' * 80}").status_code == 200


def test_number_of_filter_conditions(tight) -> None:
    refused(tight.get(f"{ORDERS}?state=a&description=b&externalId=c"))
    assert tight.get(f"{ORDERS}?state=a&description=b").status_code == 200


# --- rate limiting --------------------------------------------------------------------------------------


def test_rate_limit_is_off_by_default(client) -> None:
    for _ in range(30):
        assert client.get(CARTS).status_code == 200


def test_rate_limit_429_with_retry_after(app, settings) -> None:
    limited = create_app(settings.model_copy(update={"rate_limit_per_minute": 3}))
    with limited.test_client() as test_client:
        statuses = [test_client.get(CARTS).status_code for _ in range(3)]
        assert statuses == [200, 200, 200]
        response = test_client.get(CARTS)
        body = refused(response, 429)
        assert "3 requests per minute" in body["message"]
        assert 1 <= int(response.headers["Retry-After"]) <= 20
        # every request counts, documents and errors included
        assert test_client.get(f"{CARTS}/nothing").status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])  # one token a second, burst 60
    assert all(buckets.take("a") == 0 for _ in range(60))
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # per client
    now[0] = 2.5
    assert buckets.take("a") == 0
    assert buckets.take("a") == 0
    assert buckets.take("a") > 0


def test_rate_limit_client_behind_a_trusted_proxy() -> None:
    networks = Settings().trusted_proxy_networks
    forwarded = [(b"x-forwarded-for", b"203.0.113.9, 127.0.0.1")]
    assert client_address({"client": ("127.0.0.1", 1), "headers": forwarded}, networks) == "203.0.113.9"
    # an untrusted peer cannot pick its own bucket
    assert client_address({"client": ("198.51.100.7", 1), "headers": forwarded}, networks) == "198.51.100.7"
