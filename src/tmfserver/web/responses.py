"""Shaping handler results into HTTP responses: created/retrieved/listed, with the TMF headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from ..query.projection import project
from ..services.resources import JsonText, Page, Stored
from .context import header, request_path


def etag(version: int) -> str:
    """A strong validator: the row version changes with every stored change."""
    return f'"{version}"'


JSON = "application/json"


def created(stored: Stored, fields: Any = None) -> tuple[dict, int, dict[str, str]]:
    """201 with the (projected: `fields` on POST, where a document allows it) document, Location, ETag."""
    headers = {"Location": stored.document["href"], "ETag": etag(stored.version)}
    return project(stored.document, fields, stored.shape), 201, headers


def one(
    stored: Stored, fields: Any = None, content_type: str | None = None
) -> tuple[dict | None, int, dict[str, str]] | Response:
    """200 with the (projected) document and its ETag, or 304 when the client's If-None-Match is current.
    `content_type`: say it, for operations whose document declares several response media types (Connexion
    refuses to guess)."""
    tag = etag(stored.version)
    headers = {"ETag": tag, **({"Content-Type": content_type} if content_type else {})}
    if_none_match = header(b"if-none-match")
    if if_none_match and (if_none_match.strip() == "*" or tag in {t.strip() for t in if_none_match.split(",")}):
        return None, 304, {"ETag": tag}
    if isinstance(stored.document, JsonText) and fields is None:
        return _as_stored(stored.document, 200, headers)
    return project(stored.document, fields, stored.shape), 200, headers


def _as_stored(text: JsonText, status: int, headers: dict[str, str]) -> Response:
    """JSON text sent as it was read (services/resources.py `JsonText`): no decode and encode again."""
    # Connexion's serialiser ends a JSON body with a newline: so do these.
    return Response(text + "\n", status, headers, media_type=JSON)


def page(result: Page, pairs: list[tuple[str, str]]) -> tuple[list[dict], int, dict[str, str]] | Response:
    """200 with X-Total-Count, X-Result-Count and RFC 8288 Link (first/prev/next/last); `pairs`: the
    request's query string as parsed (web/context.query_pairs), repeated in the links but for offset/limit."""
    query = result.query
    kept = urlencode([(k, v) for k, v in pairs if k not in ("offset", "limit")])
    path = request_path()

    def _page_link(offset: int, limit: int) -> str:
        return f"<{path}?{kept + '&' if kept else ''}offset={offset}&limit={limit}>"

    headers = {
        "X-Total-Count": str(result.total),
        "X-Result-Count": str(result.count),
    }
    if query.limit > 0:
        links = [f'{_page_link(0, query.limit)}; rel="first"']
        if query.offset > 0:
            previous = max(query.offset - query.limit, 0)
            links.append(f'{_page_link(previous, query.limit)}; rel="prev"')
        if query.offset + query.limit < result.total:
            links.append(f'{_page_link(query.offset + query.limit, query.limit)}; rel="next"')
        last = max((result.total - 1) // query.limit * query.limit, 0)
        links.append(f'{_page_link(last, query.limit)}; rel="last"')
        headers["Link"] = ", ".join(links)
    if isinstance(result.documents, JsonText):
        return _as_stored(result.documents, 200, headers)
    return result.documents, 200, headers
