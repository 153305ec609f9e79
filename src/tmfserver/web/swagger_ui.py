"""Swagger UI at `<basePath>/ui/`: Connexion's bundled page, one per base path, on the served documents
(`swagger.json` for the Swagger 2.0 documents, `openapi.json` for OpenAPI 3 ones such as TMF663 v5).

The page loads the documents `ServedDocuments` serves byte for byte, never Connexion's re-serialised spec
(which fails on TMF663's recursive CartItem). "Try it out" calls the host and scheme the document came from,
because the documents declare neither (patch `common-host.json`). Documents sharing a base path (TMF652
and its extension document) are one page with a document selector, so the extension operations are
reachable from the UI too.
"""

from __future__ import annotations

from collections.abc import Mapping

from connexion.options import SwaggerUIOptions

OFFICIAL_DOCUMENTS = ("swagger.json", "openapi.json")  # Swagger 2.0, OpenAPI 3


def swagger_ui_options(url: str, served: Mapping[str, dict]) -> SwaggerUIOptions:
    """Connexion's UI options for the document served at `url`, given every served (parsed) document by URL.

    Only the official document of a base path gets a page; it lists the other documents of that base path
    after the official one."""
    base, name = url.rsplit("/", 1)
    here = sorted(
        (other for other in served if other.rsplit("/", 1)[0] == base),
        key=lambda other: (other.rsplit("/", 1)[1] not in OFFICIAL_DOCUMENTS, other),
    )
    selector = {}
    if len(here) > 1:
        # Swagger UI's `urls`: a drop-down of documents, the first one shown.
        selector["urls"] = [{"url": u, "name": served[u]["info"]["title"]} for u in here]
    return SwaggerUIOptions(
        serve_spec=False,  # ServedDocuments serves the built file itself
        spec_path="/" + name,
        swagger_ui=name in OFFICIAL_DOCUMENTS,
        swagger_ui_template_arguments=selector,
    )
