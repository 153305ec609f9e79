"""What a request handler needs from the running app, and the request's own facts in the services' terms."""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl

from connexion import request

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


def current_api() -> str:
    """The API this request addressed, by its base path (the hub and listener handlers serve every API)."""
    api = dependencies().api_at(request.url.path)
    if api is None:
        raise LookupError(f"{request.url.path} belongs to no served API")
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
    settings = dependencies().settings
    if settings.public_base_url:
        return settings.public_base_url.rstrip("/")
    headers = request.headers
    scheme = request.url.scheme
    host = headers.get("host") or f"{settings.host}:{settings.port}"
    client = request.scope.get("client")
    if client and is_trusted(client[0], settings.trusted_proxy_networks):
        scheme = headers.get("x-forwarded-proto", scheme).split(",")[0].strip() or scheme
        host = headers.get("x-forwarded-host", host).split(",")[0].strip() or host
    return f"{scheme}://{host}"


def expected_version() -> ExpectedVersion | None:
    """RFC 9110 If-Match with strong comparison: `*`, or the versions named by our ETags (weak or foreign
    tags match nothing, so the request fails its precondition)."""
    header = request.headers.get("if-match")
    if header is None:
        return None
    tags = [tag.strip() for tag in header.split(",")]
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
    values = request.headers.getlist("idempotency-key")
    if not values:
        return None
    if len(values) > 1:
        raise HttpError(400, "send one Idempotency-Key header")
    key = values[0].strip()
    if len(key) >= 2 and key.startswith('"') and key.endswith('"'):
        key = re.sub(r"\\([\\\"])", r"\1", key[1:-1])  # sf-string: \" and \\ escapes
    if not key or len(key) > MAX_IDEMPOTENCY_KEY or not _PRINTABLE_ASCII.fullmatch(key):
        raise HttpError(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    principal = request.scope.get(PRINCIPAL_KEY)
    scope = (principal.subject or f"{principal.via}:") if principal is not None else ""
    if len(scope) > MAX_IDEMPOTENCY_KEY:
        scope = "sha256:" + hashlib.sha256(scope.encode()).hexdigest()
    return RequestKey(scope=scope, key=key, method=request.method, path=request.url.path)
