"""What a request handler needs from the running app, and the request's own facts in the services' terms."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl

from connexion import request
from starlette.types import Scope

from ..services.dependencies import Dependencies
from ..services.idempotency import RequestKey
from ..services.resources import ExpectedVersion, PatchFormat
from .error_responses import HttpError
from .transport import is_trusted

SCOPE_KEY = "tmfserver.dependencies"
PRINCIPAL_KEY = "tmfserver.principal"  # the authenticated Principal (web/auth.py), when auth is on
JSON_PATCH = "application/json-patch+json"
JSON_PATCH_QUERY = "application/json-patch-query+json"
# A strong entity tag as this server writes them: the stored version in quotes.
_OUR_ETAG = re.compile(r'^"(\d{1,18})"$')
MAX_IDEMPOTENCY_KEY = 255
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")


def dependencies() -> Dependencies:
    return request.scope[SCOPE_KEY]


# The request's facts below are read from its ASGI scope, not through `request.url` and `request.headers`:
# each of those builds a URL or Headers object behind Connexion's context proxy (~8 % of a create's py-spy
# samples; reading the scope: 3-4 % less CPU per create, bench/README.md "Issue 14, session 6").


def request_path(scope: Scope | None = None) -> str:
    """The request's path as `request.url.path` gives it (Starlette escapes `?`, `#` and `\\`)."""
    path = (scope or request.scope)["path"]
    return path.replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def header_values(name: bytes, scope: Scope | None = None) -> list[str]:
    """Every value of one request header (`name` in lower case), decoded as Starlette's Headers do."""
    return [value.decode("latin-1") for key, value in (scope or request.scope)["headers"] if key == name]


def header(name: bytes, scope: Scope | None = None) -> str | None:
    """The first value of one request header (`name` in lower case), or None."""
    for key, value in (scope or request.scope)["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def current_api() -> str:
    """The API this request addressed, by its base path (the hub and listener handlers serve every API)."""
    scope = request.scope
    path = request_path(scope)
    api = scope[SCOPE_KEY].api_at(path)
    if api is None:
        raise LookupError(f"{path} belongs to no served API")
    return api


def query_pairs() -> list[tuple[str, str]]:
    """The raw query string as ordered (name, value) pairs: TMF630 filters are not in the documents."""
    raw = request.scope.get("query_string", b"")
    try:
        # errors="strict": percent-encoded bytes that are not UTF-8 (%ff) are refused like raw ones
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise HttpError(400, "the query string is not valid UTF-8") from None


def base_url() -> str:
    """Scheme and authority for absolute hrefs: the configured public URL, else this request's."""
    scope = request.scope
    settings = scope[SCOPE_KEY].settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    scheme = scope.get("scheme", "http")
    host = header(b"host", scope) or f"{settings.host}:{settings.port}"
    client = scope.get("client")
    if client and is_trusted(client[0], settings.trusted_proxy_networks):
        scheme = (header(b"x-forwarded-proto", scope) or scheme).split(",")[0].strip() or scheme
        host = (header(b"x-forwarded-host", scope) or host).split(",")[0].strip() or host
    return f"{scheme}://{host}"


def expected_version() -> ExpectedVersion | None:
    """RFC 9110 If-Match with strong comparison: `*`, or the versions named by our ETags (weak or foreign
    tags match nothing, so the request fails its precondition)."""
    if_match = header(b"if-match")
    if if_match is None:
        return None
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return ExpectedVersion(any=True)
    return ExpectedVersion(frozenset(int(m.group(1)) for tag in tags if (m := _OUR_ETAG.match(tag))))


def patch_format() -> PatchFormat:
    """JSON Patch for application/json-patch+json, JSON Patch Query (TMF630) for
    application/json-patch-query+json; a JSON Merge Patch for the other JSON media types."""
    content_type = (request.content_type or "").split(";")[0].strip().lower()
    if content_type == JSON_PATCH:
        return PatchFormat.JSON_PATCH
    if content_type == JSON_PATCH_QUERY:
        return PatchFormat.JSON_PATCH_QUERY
    return PatchFormat.MERGE_PATCH


def idempotency_key() -> RequestKey | None:
    """`Idempotency-Key` (IETF HTTPAPI draft): a structured-field string (`"…"`) or the bare value, 1 to 255
    printable ASCII characters, else 400; scoped to the authenticated client (its subject), or to the one
    anonymous scope when authentication is off."""
    scope = request.scope
    values = header_values(b"idempotency-key", scope)
    if not values:
        return None
    if len(values) > 1:
        raise HttpError(400, "send one Idempotency-Key header")
    key = values[0].strip()
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        key = re.sub(r"\\([\\\"])", r"\1", key[1:-1])  # sf-string: \" and \\ escapes
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not _PRINTABLE_ASCII.fullmatch(key):
        raise HttpError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    principal = scope.get(PRINCIPAL_KEY)
    client = (principal.subject or f"{principal.via}:") if principal is not None else ""
    if len(client) > MAX_IDEMPOTENCY_KEY:
        client = "sha256:" + hashlib.sha256(client.encode()).hexdigest()
    return RequestKey(scope=client, key=key, method=scope["method"], path=request_path(scope))
