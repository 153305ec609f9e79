"""Swagger UI in headless Chromium against a live server: each API's page at `<base>/ui/` loads the
served document and "Try it out" → "Execute" on the list operation gets a 200 and the seeded resource."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.live_server import live_server
from tests.ui.conftest import WatchedPage, chromium_executable
from tests.ui.test_swagger_ui_page import CARTS_BASE, ORDERS_BASE

ORDER = {
    "orderItem": [{"id": "1", "action": "add", "resource": {"id": "r-1", "href": "https://inventory/r-1"}}]
}
CART = {"cartItem": [{"id": "1", "action": "add", "quantity": 2}]}
API_KEY = "swagger-ui-test-key"


@dataclass(frozen=True)
class Shown:
    """What Swagger UI shows under "Server response" after Execute."""

    status: str
    request_url: str
    body: str


def seed(origin: str, url: str, body: dict) -> dict:
    response = httpx.post(f"{origin}{url}", json=body, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def open_ui(watched: WatchedPage, url: str) -> None:
    watched.page.goto(url)
    watched.page.locator(".opblock").first.wait_for()  # the document loaded and its operations rendered
    errors = watched.page.locator(".errors-wrapper")  # Swagger UI's own report of a document it cannot read
    assert errors.count() == 0, errors.all_inner_texts()


def execute(watched: WatchedPage, method: str, path: str, parameters: dict[str, str] | None = None) -> Shown:
    """Expand `method path`, Try it out, fill the parameters, Execute; return the live response shown."""
    page = watched.page
    operation = page.locator(f".opblock-{method}").filter(
        has=page.locator(f".opblock-summary-path[data-path='{path}']")
    )
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    for name, value in (parameters or {}).items():
        operation.locator(f"tr[data-param-name='{name}'] input").fill(value)
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table tbody tr.response").first
    live.wait_for()
    return Shown(
        status=live.locator(".response-col_status").inner_text().strip(),
        request_url=operation.locator(".request-url pre").inner_text().strip(),
        body=live.locator(".response-col_description pre").first.inner_text(),
    )


@pytest.mark.parametrize(
    ("base", "collection", "body"),
    [
        pytest.param(ORDERS_BASE, "/resourceOrder", ORDER, id="TMF652"),
        pytest.param(CARTS_BASE, "/shoppingCart", CART, id="TMF663"),  # the recursive document
    ],
)
def test_try_it_out_lists_the_collection(
    client, ui_server: str, watched: WatchedPage, base: str, collection: str, body: dict
) -> None:
    created = seed(ui_server, base + collection, body)  # `client` emptied the database first
    open_ui(watched, f"{ui_server}{base}/ui/")
    shown = execute(watched, "get", collection)
    assert shown.status == "200", shown
    assert shown.request_url == f"{ui_server}{base}{collection}"  # this server, the page's scheme
    listed = json.loads(shown.body)
    assert isinstance(listed, list)
    assert [resource["id"] for resource in listed] == [created["id"]]
    assert watched.problems == []


def test_extension_document_is_on_the_orders_page(client, ui_server: str, watched: WatchedPage) -> None:
    order = seed(ui_server, f"{ORDERS_BASE}/resourceOrder", ORDER)
    open_ui(watched, f"{ui_server}{ORDERS_BASE}/ui/")
    watched.page.locator(".topbar select").select_option(label="TMF652 extensions of this server")
    shown = execute(watched, "get", "/resourceOrder/{id}/stateHistory", {"id": order["id"]})
    assert shown.status == "200", shown
    history = json.loads(shown.body)
    assert {(change["entity"], change["toState"]) for change in history} >= {("resourceOrder", "acknowledged")}
    assert watched.problems == []


@pytest.fixture(scope="module")
def ui_server_with_auth(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    chromium_executable()  # no server start when the browser tests cannot run
    env = {
        "TMF_LOG_LEVEL": "WARNING",
        "TMF_BACKGROUND_WORKERS": "false",
        "TMF_AUTH_MODE": "apikey",
        "TMF_AUTH_API_KEYS": f"{API_KEY}:tmf.read",
    }
    log_path = tmp_path_factory.mktemp("ui-auth") / "server.log"
    with live_server(database_url, log_path, env=env) as origin:
        yield origin


def test_with_authentication_the_ui_loads_and_sends_the_key(
    client, ui_server_with_auth: str, watched: WatchedPage
) -> None:
    assert httpx.get(f"{ui_server_with_auth}{CARTS_BASE}/shoppingCart").status_code == 401  # auth is on
    open_ui(watched, f"{ui_server_with_auth}{CARTS_BASE}/ui/")  # page, assets and document stay public
    page = watched.page
    page.locator(".auth-wrapper button.authorize").click()
    api_key = page.locator(".modal-ux .auth-container").filter(has_text="X-API-Key")
    api_key.locator("input").fill(API_KEY)
    api_key.get_by_role("button", name="Authorize").click()
    page.locator(".modal-ux button.close-modal").click()
    shown = execute(watched, "get", "/shoppingCart")
    assert shown.status == "200", shown
    assert json.loads(shown.body) == []
    assert watched.problems == []
