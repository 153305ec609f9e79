"""Callback URL safety: only http(s), and by default no loopback, link-local or private targets (SSRF)."""

from __future__ import annotations

import socket
from ipaddress import ip_address
from urllib.parse import urlsplit

from ..client_messages import quoted


class UnsafeCallback(ValueError):
    pass


def _forbidden(address: str) -> bool:
    ip = ip_address(address.split("%")[0])
    return (
        ip.is_loopback
        or ip.is_link_local
        or ip.is_private
        or ip.is_multicast
        or ip.is_unspecified
        or ip.is_reserved
    )


# Why: docs/decisions/0032-callback-address-checks.md
def check_callback(url: str, *, allow_private: bool) -> None:
    """Raise UnsafeCallback unless `url` is an http(s) URL whose host resolves only to allowed addresses."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal
        raise UnsafeCallback(f"callback '{quoted(url)}' is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeCallback(f"callback '{quoted(url)}' must be an absolute http or https URL")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError):
        raise UnsafeCallback(f"callback host '{quoted(parts.hostname)}' does not resolve") from None
    for info in infos:
        if _forbidden(info[4][0]):
            raise UnsafeCallback(
                f"callback host '{parts.hostname}' resolves to {info[4][0]}, a private or local address "
                "(set TMF_CALLBACK_ALLOW_PRIVATE=true to permit)"
            )
