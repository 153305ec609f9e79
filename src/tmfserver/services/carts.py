"""TMF663 application service: ShoppingCart on the generic resource operations, priced by the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..clock import iso_ms
from ..domain.pricing import PricingError, prepare_cart
from ..store.models import ShoppingCart
from .exceptions import InvalidRequest
from .resources import ResourceKind, WriteContext


def _priced(document: dict) -> dict:
    try:
        return prepare_cart(document)
    except PricingError as exc:
        raise InvalidRequest(f"{exc.field}: {exc.message}") from None


def _create_cart(document: dict, context: WriteContext) -> tuple[dict, list]:
    cart = _priced(document)
    if cart.get("validFor") is None:
        start = datetime.strptime(context.now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        lifetime = timedelta(days=context.deps.settings.cart_lifetime_days)
        cart["validFor"] = {"startDateTime": context.now, "endDateTime": iso_ms(start + lifetime)}
    return cart, []


def _update_cart(_stored: dict, candidate: dict, _context: WriteContext) -> tuple[dict, list]:
    return _priced(candidate), []


CART_KIND = ResourceKind(
    model=ShoppingCart,
    definition="ShoppingCart",
    server_owned=frozenset({"id", "href", "cartTotalPrice"}),
    immutable=frozenset({"id", "href"}),
    on_create=_create_cart,
    on_update=_update_cart,
)
