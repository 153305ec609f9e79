"""Transport hygiene: request ids (header, error bodies, log lines), security headers, CORS, no banner."""

from __future__ import annotations

import json
import logging

import pytest

from tests.conftest import _empty_tables
from tmfserver import serving
from tmfserver.app import create_app
from tmfserver.logs import JsonLines, TextLines
from tmfserver.services import resources
from tmfserver.settings import Settings

from ._support import CARTS, ORDERS, ULID_RE, assert_tmf_error, create_order

UI = "/tmf-api/resourceOrderingManagement/v4/ui/"
SPEC = "/tmf-api/shoppingCart/v4/swagger.json"


# --- request ids ------------------------------------------------------------------------------------------


def test_request_id_is_generated(client) -> None:
    response = client.get(ORDERS)
    assert ULID_RE.match(response.headers["x-request-id"])
    assert client.get(ORDERS).headers["x-request-id"] != response.headers["x-request-id"]


def test_sane_request_id_is_echoed(client) -> None:
    response = client.get(ORDERS, headers={"X-Request-ID": "trace-42.a:b"})
    assert response.headers["x-request-id"] == "trace-42.a:b"
    assert response.headers.get_list("x-request-id") == ["trace-42.a:b"]


@pytest.mark.parametrize("sent", ["x" * 129, "has space", "semi;colon", "<script>", "é"])
def test_insane_request_id_is_replaced(client, sent: str) -> None:
    response = client.get(ORDERS, headers={"X-Request-ID": sent.encode()})
    assert ULID_RE.match(response.headers["x-request-id"]), response.headers["x-request-id"]


def _error_cases(client):
    order = create_order(client)
    yield "ApiError (handler)", client.get(f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404
    yield "domain conflict", client.patch(f"{ORDERS}/{order['id']}", json={"state": "completed"}), 409
    yield "validation problem", client.post(ORDERS, json={"orderItem": "x"}), 400
    yield "body parse", client.post(ORDERS, content=b"{", headers={"Content-Type": "application/json"}), 400
    yield "unknown route", client.get("/nothing"), 404
    yield "wrong method", client.put(ORDERS, json={}), 405
    yield (
        "unsupported media type",
        client.post(ORDERS, content=b"{}", headers={"Content-Type": "text/plain"}),
        415,
    )
    yield "guard: query length", client.get(f"{ORDERS}?x={'a' * 5000}"), 414
    yield "guard: body size", client.post(ORDERS, content=b"x" * 1_000_001), 413
    yield "guard: NUL", client.get(f"{ORDERS}?description=%00"), 400
    yield "bad filter", client.get(f"{ORDERS}?orderDate.gt=abc"), 400


def test_every_error_body_carries_the_request_id(client) -> None:
    for case, response, status in _error_cases(client):
        body = assert_tmf_error(response, status)
        assert body.get("requestId") == response.headers["x-request-id"], case


def test_error_body_carries_the_clients_request_id(client) -> None:
    response = client.get(f"{ORDERS}/01ARZ3NDEKTSV4RRFFQ69G5FAV", headers={"X-Request-ID": "client-1"})
    assert assert_tmf_error(response, 404)["requestId"] == "client-1"


def test_crash_is_logged_with_the_request_id(client, monkeypatch, caplog) -> None:
    order = create_order(client)

    def explode(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(resources, "retrieve", explode)
    with caplog.at_level(logging.ERROR):
        response = client.get(f"{ORDERS}/{order['id']}", headers={"X-Request-ID": "crash-7"})
    assert assert_tmf_error(response, 500)["requestId"] == "crash-7"
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert records and all(r.request_id == "crash-7" for r in records)
    assert "[crash-7]" in TextLines().format(records[0])
    assert json.loads(JsonLines().format(records[0]))["request_id"] == "crash-7"


def test_log_lines_outside_requests_have_a_placeholder(client) -> None:
    record = logging.getLogger("tmfserver.test").makeRecord("x", logging.INFO, "f", 1, "m", (), None)
    assert record.request_id == "-"


# --- security headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", ORDERS, 200),
        ("POST", CARTS, 201),
        ("GET", "/nothing", 404),
        ("GET", SPEC, 200),
    ],
)
def test_api_responses_carry_the_security_headers(client, method, path, status) -> None:
    response = client.request(method, path, json={} if method == "POST" else None)
    assert response.status_code == status
    headers = response.headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["cache-control"] == "no-store"
    assert "server" not in headers
    assert "x-powered-by" not in headers


def test_swagger_ui_may_run_its_scripts_but_not_be_framed(client) -> None:
    response = client.get(UI)
    assert response.status_code == 200
    assert response.headers["content-security-policy"] == "frame-ancestors 'none'"
    assert response.headers["x-frame-options"] == "DENY"
    assert "no-store" not in response.headers.get("cache-control", "")


def test_an_order_named_ui_is_an_api_response(client) -> None:
    response = client.get(f"{ORDERS}/ui")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_etag_responses_are_still_not_stored(client) -> None:
    order = create_order(client)
    response = client.get(f"{ORDERS}/{order['id']}")
    assert response.headers["etag"]
    assert response.headers["cache-control"] == "no-store"


def test_serve_disables_the_server_banner() -> None:
    assert serving.uvicorn_config(Settings(), workers=1).server_header is False


# --- CORS --------------------------------------------------------------------------------------------


def test_cors_is_off_by_default(client) -> None:
    response = client.get(ORDERS, headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        ORDERS, headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"}
    )
    assert "access-control-allow-origin" not in preflight.headers


@pytest.fixture(scope="module")
def cors_client(app, settings):
    crossing = create_app(
        settings.model_copy(
            update={
                "cors_origins": "https://ui.example, https://other.example/",
                "auth_mode": "apikey",
                "auth_api_keys": "k1",
            }
        )
    )
    _empty_tables(app)
    with crossing.test_client() as test_client:
        yield test_client


def test_cors_preflight_for_an_allowed_origin(cors_client) -> None:
    response = cors_client.options(
        ORDERS,
        headers={
            "Origin": "https://ui.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, X-API-Key",
        },
    )
    assert response.status_code == 200  # before authentication: a preflight carries no credentials
    assert response.headers["access-control-allow-origin"] == "https://ui.example"
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in response.headers


def test_cors_actual_request_exposes_headers_even_on_errors(cors_client) -> None:
    allowed = cors_client.get(ORDERS, headers={"Origin": "https://other.example", "X-API-Key": "k1"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://other.example"
    assert "X-Total-Count" in allowed.headers["access-control-expose-headers"]
    refused = cors_client.get(ORDERS, headers={"Origin": "https://ui.example"})
    assert_tmf_error(refused, 401)
    assert refused.headers["access-control-allow-origin"] == "https://ui.example"


def test_cors_disallowed_origin(cors_client) -> None:
    response = cors_client.options(
        ORDERS, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert_tmf_error(response, 400)
    assert "access-control-allow-origin" not in response.headers
    simple = cors_client.get(ORDERS, headers={"Origin": "https://evil.example", "X-API-Key": "k1"})
    assert "access-control-allow-origin" not in simple.headers


# --- hrefs behind a proxy ---------------------------------------------------------------------------------


def test_href_follows_x_forwarded_only_from_a_trusted_proxy(app) -> None:
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "api.example, inner.example"}
    _empty_tables(app)
    with app.test_client(client=("127.0.0.1", 40000)) as proxied:  # loopback: trusted by default
        response = proxied.post(ORDERS, json={}, headers=forwarded)
    assert response.status_code == 201, response.text
    assert response.json()["href"].startswith("https://api.example/")
    with app.test_client(client=("198.51.100.7", 40000)) as direct:  # not trusted: its headers are ignored
        response = direct.post(ORDERS, json={}, headers=forwarded)
    assert response.status_code == 201, response.text
    assert response.json()["href"].startswith("http://testserver/")
