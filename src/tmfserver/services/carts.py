"""TMF663 application service: ShoppingCart on the generic resource operations, priced by the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..clock import iso_ms
from ..domain import cart_versions, events
from ..domain.pricing import PricingError, prepare_cart
from ..store.models import ShoppingCart
from .exceptions import InvalidRequest
from .representations import Representation
from .resources import ResourceKind, WriteContext

# The same stored carts in each version's shape (the mapping is domain/cart_versions.py).
CART_AS_V4 = Representation("TMF663 v4", show=cart_versions.to_v4, take=cart_versions.from_v4)
CART_AS_V5 = Representation(
    "TMF663 v5",
    show=cart_versions.to_v5,
    take=cart_versions.from_v5,
    stored_path=cart_versions.stored_path,
    envelope=events.envelope_v5,
)


def _priced(document: dict) -> dict:
    try:
        return prepare_cart(document)
    except PricingError as exc:
        raise InvalidRequest(f"{exc.field}: {exc.message}") from None


def _create_cart(document: dict, context: WriteContext) -> tuple[dict, list]:
    cart = _priced(document)
    cart["creationDate"] = cart["lastUpdate"] = context.now  # v5 shows both; kept for every cart
    if cart.get("validFor") is None:
        start = datetime.strptime(context.now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        lifetime = timedelta(days=context.deps.settings.cart_lifetime_days)
        cart["validFor"] = {"startDateTime": context.now, "endDateTime": iso_ms(start + lifetime)}
    return cart, []


def _update_cart(stored: dict, candidate: dict, context: WriteContext) -> tuple[dict, list]:
    cart = _priced(candidate)
    for key in ("creationDate", "lastUpdate"):
        if key in stored:
            cart[key] = stored[key]
        else:
            cart.pop(key, None)
    if cart != stored:
        cart["lastUpdate"] = context.now
    return cart, []


CART_KIND = ResourceKind(
    model=ShoppingCart,
    definition="ShoppingCart",
    server_owned=frozenset({"id", "href", "cartTotalPrice", "creationDate", "lastUpdate"}),
    immutable=frozenset({"id", "href"}),
    on_create=_create_cart,
    on_update=_update_cart,
)
