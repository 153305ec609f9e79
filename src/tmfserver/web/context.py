"""What a request handler needs from the running app, and how it gets the request's own facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from connexion import request
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from ..errors import BadRequest
from ..settings import Settings
from .transport import is_trusted

SCOPE_KEY = "tmfserver.services"


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Resource name → validator of a whole stored document against its definition in the served document.
    # A JSON Patch is validated only as a list of operations; its result is checked with these.
    document_validators: Mapping[str, Any] = field(default_factory=dict)
    # Resource name → what its schema requires at each level, kept by `fields` selections.
    required_keys: Mapping[str, Any] = field(default_factory=dict)


def services() -> Services:
    return request.scope[SCOPE_KEY]


def query_pairs() -> list[tuple[str, str]]:
    """The raw query string as ordered (name, value) pairs: TMF630 filters are not in the documents."""
    raw = request.scope.get("query_string", b"")
    try:
        # errors="strict": percent-encoded bytes that are not UTF-8 (%ff) are refused like raw ones
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise BadRequest("the query string is not valid UTF-8") from None


def base_url() -> str:
    """Scheme and authority for absolute hrefs: the configured public URL, else this request's."""
    settings = services().settings
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
