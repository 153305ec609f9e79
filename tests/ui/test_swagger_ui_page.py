"""`<base>/ui/` is Swagger UI on the documents this server serves, without a browser."""

from __future__ import annotations

import json
import re

import pytest

from tmfserver.bootstrap import document_path
from tmfserver.registry import find_document

ORDERS_BASE = "/tmf-api/resourceOrderingManagement/v4"
CARTS_BASE = "/tmf-api/shoppingCart/v4"
# The base path of each API's Swagger UI and every document its page offers, the one shown first first.
PAGES = {
    ORDERS_BASE: [f"{ORDERS_BASE}/swagger.json", f"{ORDERS_BASE}/extensions.json"],
    CARTS_BASE: [f"{CARTS_BASE}/swagger.json"],
}
SHOWN_URL = re.compile(r'^\s*url: "([^"]+)",$', re.M)
SELECTOR_URLS = re.compile(r"^\s*urls: (\[.*\]),$", re.M)


def page_documents(html: str) -> list[str]:
    """The document URLs the page's SwaggerUIBundle call loads: `urls` (a selector) when present, else `url`."""
    selector = SELECTOR_URLS.search(html)
    if selector:
        return [entry["url"] for entry in json.loads(selector.group(1))]
    shown = SHOWN_URL.search(html)
    assert shown, f"no SwaggerUIBundle url in the page:\n{html}"
    return [shown.group(1)]


@pytest.mark.parametrize("base", sorted(PAGES))
def test_ui_page_loads_the_served_documents(client, base: str) -> None:
    response = client.get(f"{base}/ui/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "SwaggerUIBundle(" in response.text
    assert SHOWN_URL.search(response.text).group(1) == PAGES[base][0]
    assert page_documents(response.text) == PAGES[base]
    for url in PAGES[base]:
        document = client.get(url)
        assert document.status_code == 200
        assert document.json()["basePath"].rstrip("/") == base


@pytest.mark.parametrize("base", sorted(PAGES))
def test_ui_without_slash_redirects_to_the_page(client, base: str) -> None:
    response = client.get(f"{base}/ui", follow_redirects=False)
    assert response.status_code in (301, 302, 307, 308)
    assert response.headers["location"].endswith(f"{base}/ui/")


@pytest.mark.parametrize("base", sorted(PAGES))
def test_ui_assets_are_served(client, base: str) -> None:
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        response = client.get(f"{base}/ui/{asset}")
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset


@pytest.mark.parametrize("name", ["TMF652", "TMF663", "TMF652-extensions"])
def test_documents_name_no_host_or_scheme(name: str) -> None:
    """Swagger 2.0: without them a client calls the host and scheme the document came from. Swagger UI
    would otherwise take the first listed scheme, http on an https page (refused as mixed content)."""
    document = json.loads(document_path(find_document(name)).read_text())
    assert "host" not in document
    assert "schemes" not in document
