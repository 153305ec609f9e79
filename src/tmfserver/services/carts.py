"""TMF663 application service: ShoppingCart on the generic resource operations, priced by the domain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ..domain.pricing import PricingError, prepare_cart
from ..errors import BadRequest
from ..query.values import iso_ms
from ..store.models import ShoppingCart
from .resources import ResourceKind, WriteContext

BASE_PATH = "/tmf-api/shoppingCart/v4"


def _priced(document: dict) -> dict:
    try:
        return prepare_cart(document)
    except PricingError as exc:
        raise BadRequest(f"{exc.field}: {exc.message}") from None


def _create_cart(document: dict, context: WriteContext) -> tuple[dict, list]:
    cart = _priced(document)
    if cart.get("validFor") is None:
        start = datetime.strptime(context.now, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        lifetime = timedelta(days=context.services.settings.cart_lifetime_days)
        cart["validFor"] = {"startDateTime": context.now, "endDateTime": iso_ms(start + lifetime)}
    return cart, []


def _update_cart(_stored: dict, candidate: dict, _context: WriteContext) -> tuple[dict, list]:
    return _priced(candidate), []


CART_KIND = ResourceKind(
    model=ShoppingCart,
    api="TMF663",
    name="shoppingCart",
    event_resource="ShoppingCart",
    base_path=BASE_PATH,
    collection="shoppingCart",
    server_owned=frozenset({"id", "href", "cartTotalPrice"}),
    immutable=frozenset({"id", "href"}),
    on_create=_create_cart,
    on_update=_update_cart,
)
