"""Cart item normalisation and price computation for TMF663 Shopping Cart v4.0.0.

Pure stdlib module: the web layer calls :func:`prepare_cart` on every create and
patch and stores/serves whatever it returns.

Conventions (where the TMF663 document is silent, these are *our* rules):

* Totals are server-owned. ``cartTotalPrice`` and every item's ``ItemTotalPrice``
  are recomputed from ``itemPrice``; client-sent values are ignored. The v4.0.0
  swagger names the item total ``ItemTotalPrice`` (capital I), so that is the only
  spelling we serve; a client's lowercase ``itemTotalPrice`` is dropped rather
  than echoed, so there is never a second, stale total next to the real one.
* Arithmetic is ``decimal.Decimal`` throughout (JSON numbers are parsed via
  ``Decimal(str(x))``; numeric strings are accepted). Nothing is rounded until an
  entry total is complete; it is then rounded ROUND_HALF_EVEN to the currency's
  ISO 4217 minor unit. Cart totals are sums of those rounded entry totals.
* Output amounts are JSON numbers (see :func:`money_value`): a quantized Decimal is
  converted to ``int`` for zero-decimal currencies and to ``float`` otherwise. This
  is exact for our range: every amount and total is bounded by 10**12, and a
  binary64 float's spacing there (~1.2e-4) is below half a unit of a 3-decimal
  currency, so ``Decimal(str(float(d))) == d`` and re-reading our own output gives
  the same Decimal. (Only the 4-decimal fund codes CLF/UYW lose that guarantee, above
  ~5e11.) Amounts outside the bound are rejected, not clamped.
* Entry total, per amount (duty-free and tax-included are computed separately):
  ``unit amount x quantity``, then each ``priceAlteration`` in ascending
  ``priority`` (ties keep array order; a missing priority sorts last). Within one
  alteration, ``price.percentage`` is applied first (lowers the running amount by
  p %), then its absolute amounts are added once per entry (negative = discount).
  Totals are not clamped at zero: a discount larger than the price yields a
  negative total, visibly, rather than silently losing money.
* A missing duty-free/tax-included amount is derived from ``price.taxRate`` on the
  unit amount before multiplying. An alteration's missing amount is derived with
  the alteration's own ``taxRate``, else the entry's. Without a rate the amount
  stays absent, and an alteration amount whose counterpart is absent in the entry
  has nothing to modify and is ignored.
* ``cartTotalPrice`` holds one CartPrice per (priceType, recurringChargePeriod,
  unitOfMeasure, currency), in order of first appearance in a pre-order
  depth-first walk, summing entries of charged items only: status ``active`` and
  no ancestor in ``saveForLater`` (the spec's enum spelling). Nested items are
  priced with their own quantity; a parent's totals cover only its own
  ``itemPrice``. When some entries of a group lack one of the two amounts, that
  amount's group sum covers only the entries that have it (and is absent when
  none has it). A group's ``taxRate`` is shown only when all its entries share one.
* An itemPrice entry with neither amount (e.g. only a productOfferingPrice ref)
  gets an ``ItemTotalPrice`` entry without amounts and contributes to no group.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation, localcontext
from typing import Any

__all__ = ["PricingError", "money_value", "prepare_cart"]


class PricingError(ValueError):
    """Bad money / bad item input.

    ``field`` is a JSON-pointer-ish path such as
    ``'cartItem[0].itemPrice[1].price.dutyFreeAmount.value'``.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


# Active ISO 4217 currency codes. Fund/precious-metal/testing codes with no minor
# unit ("N.A." in the standard: XAU, XAG, XDR, XTS, XXX, ...) are excluded because
# they cannot be rounded to a minor unit and are not used for retail prices.
# fmt: off
ISO_4217_CODES: frozenset[str] = frozenset({
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD",
    "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP",
    "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU",
    "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD",
    "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY",
    "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR",
    "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD",
    "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB",
    "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SLL", "SOS", "SRD",
    "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES",
    "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG",
    "ZWL",
})

# ISO 4217 minor units that differ from the default of 2.
_MINOR_UNITS: dict[str, int] = {
    **dict.fromkeys((
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
        "VND", "VUV", "XAF", "XOF", "XPF",
    ), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    **dict.fromkeys(("CLF", "UYW"), 4),
}
# fmt: on

MAX_AMOUNT = Decimal(10) ** 12
# Item nesting deeper than this is refused: keeps recursion well inside Python's limit.
MAX_NESTING_DEPTH = 100

CART_ITEM_STATUSES: frozenset[str] = frozenset({"active", "saveForLater"})  # spec enum
CART_ITEM_ACTIONS: frozenset[str] = frozenset({"add", "modify", "delete", "noChange"})

_CURRENCY_RE = re.compile(r"[A-Z]{3}")
_INT_RE = re.compile(r"[+-]?[0-9]+")
_HUNDRED = Decimal(100)
# Generous working precision so only the final quantize rounds (no double rounding).
_PRECISION = 60

_GroupKey = tuple[str | None, str | None, str | None, str]


def minor_unit(currency: str) -> int:
    """Number of decimals of ``currency`` per ISO 4217 (2 unless listed otherwise)."""
    return _MINOR_UNITS.get(currency, 2)


def money_value(d: Decimal) -> float | int:
    """Convert a quantized money Decimal into a JSON number.

    Zero-decimal results become ``int`` (``JPY 1000`` not ``1000.0``); others a
    ``float``, which round-trips exactly within ``MAX_AMOUNT`` for <= 3 decimals.
    Negative zero is normalised so JSON never shows ``-0.0``.
    """
    if d.is_zero():
        d = d.copy_abs()
    if d.as_tuple().exponent >= 0:  # type: ignore[operator]
        return int(d)
    return float(d)


def _number_out(d: Decimal) -> float | int:
    # Non-money numbers (taxRate): integral -> int, else float.
    if d == d.to_integral_value():
        return int(d.copy_abs()) if d.is_zero() else int(d)
    return float(d)


# ---------------------------------------------------------------------------
# Parsing helpers
# ---------------------------------------------------------------------------


def _decimal(raw: Any, field: str) -> Decimal:
    # bool is an int subclass; True as a price is a client bug, not 1.
    if isinstance(raw, bool) or not isinstance(raw, int | float | str | Decimal):
        raise PricingError(field, "must be a number")
    try:
        d = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except InvalidOperation:
        raise PricingError(field, "must be a number") from None
    if not d.is_finite():
        raise PricingError(field, "must be a finite number")
    return d


def _amount(raw: Any, field: str) -> Decimal:
    d = _decimal(raw, field)
    if abs(d) > MAX_AMOUNT:
        raise PricingError(field, f"absolute amount must not exceed {MAX_AMOUNT:.0f}")
    return d


def _percent(raw: Any, field: str) -> Decimal:
    d = _decimal(raw, field)
    if d < 0 or d > _HUNDRED:
        raise PricingError(field, "must be between 0 and 100")
    return d


def _currency(raw: Any, field: str) -> str:
    if not isinstance(raw, str) or not _CURRENCY_RE.fullmatch(raw):
        raise PricingError(field, "must be a 3-letter uppercase ISO 4217 currency code")
    if raw not in ISO_4217_CODES:
        raise PricingError(field, f"unknown ISO 4217 currency code {raw!r}")
    return raw


def _money(raw: Any, field: str) -> tuple[str, Decimal] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise PricingError(field, "must be a Money object")
    if raw.get("value") is None:
        raise PricingError(f"{field}.value", "is required")
    value = _amount(raw["value"], f"{field}.value")
    # Without a currency we cannot round nor group, so the unit is mandatory.
    if raw.get("unit") is None:
        raise PricingError(f"{field}.unit", "is required")
    return _currency(raw["unit"], f"{field}.unit"), value


def _optional_dict(raw: Any, field: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PricingError(field, "must be an object")
    return raw


def _optional_list(raw: Any, field: str) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise PricingError(field, "must be an array")
    return raw


def _optional_str(raw: Any, field: str) -> str | None:
    if raw is not None and not isinstance(raw, str):
        raise PricingError(field, "must be a string")
    return raw


@dataclass
class _PriceAmounts:
    """Both amounts of one Price, currency-checked; derived via taxRate if needed."""

    currency: str | None
    duty_free: Decimal | None
    tax_included: Decimal | None
    tax_rate: Decimal | None


def _price_amounts(price: dict[str, Any], field: str, fallback_rate: Decimal | None) -> _PriceAmounts:
    rate = None
    if price.get("taxRate") is not None:
        rate = _percent(price["taxRate"], f"{field}.taxRate")
    df = _money(price.get("dutyFreeAmount"), f"{field}.dutyFreeAmount")
    ti = _money(price.get("taxIncludedAmount"), f"{field}.taxIncludedAmount")
    if df and ti and df[0] != ti[0]:
        raise PricingError(
            f"{field}.taxIncludedAmount.unit",
            f"currency {ti[0]!r} differs from dutyFreeAmount currency {df[0]!r}",
        )
    currency = df[0] if df else ti[0] if ti else None
    df_v = df[1] if df else None
    ti_v = ti[1] if ti else None
    derive_rate = rate if rate is not None else fallback_rate
    if derive_rate is not None:
        factor = 1 + derive_rate / _HUNDRED
        if df_v is None and ti_v is not None:
            df_v = ti_v / factor
        elif ti_v is None and df_v is not None:
            ti_v = df_v * factor
    return _PriceAmounts(currency, df_v, ti_v, rate)


def _priority(raw: Any, field: str) -> int | None:
    if raw is None:
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        return int(raw)
    raise PricingError(field, "must be an integer")


def _quantity(raw: Any, field: str) -> int:
    if raw is None:
        return 1
    if isinstance(raw, bool):
        raise PricingError(field, "must be an integer >= 1")
    if isinstance(raw, int):
        q = raw
    elif isinstance(raw, str) and _INT_RE.fullmatch(raw.strip()):
        q = int(raw)
    else:
        raise PricingError(field, "must be an integer >= 1")
    if q < 1:
        raise PricingError(field, "must be an integer >= 1")
    return q


def _client_id(raw: Any, field: str) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise PricingError(field, "must be a string")
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        if raw != raw or raw in (float("inf"), float("-inf")):
            raise PricingError(field, "must be a string")
        # 2.0 and 2 name the same item; keep the integral spelling.
        return str(int(raw)) if raw.is_integer() else str(raw)
    if isinstance(raw, str):
        if raw == "":
            raise PricingError(field, "must not be empty")
        return raw
    raise PricingError(field, "must be a string")


# ---------------------------------------------------------------------------
# Pricing of one itemPrice entry
# ---------------------------------------------------------------------------


@dataclass
class _EntryTotal:
    key: _GroupKey
    duty_free: Decimal | None
    tax_included: Decimal | None
    tax_rate: Decimal | None


def _round(d: Decimal, currency: str, field: str) -> Decimal:
    r = d.quantize(Decimal(1).scaleb(-minor_unit(currency)), rounding=ROUND_HALF_EVEN)
    if abs(r) > MAX_AMOUNT:
        raise PricingError(field, f"computed total exceeds {MAX_AMOUNT:.0f}")
    return r


def _price_entry(entry: Any, quantity: int, field: str) -> tuple[dict[str, Any], _EntryTotal | None]:
    """Compute one ItemTotalPrice entry (and its group contribution) from a CartPrice."""
    if not isinstance(entry, dict):
        raise PricingError(field, "must be a CartPrice object")
    meta = {
        k: _optional_str(entry.get(k), f"{field}.{k}")
        for k in ("priceType", "recurringChargePeriod", "unitOfMeasure")
    }
    price = _optional_dict(entry.get("price"), f"{field}.price")
    base = _price_amounts(price, f"{field}.price", None)
    currency = base.currency
    q = Decimal(quantity)
    df = base.duty_free * q if base.duty_free is not None else None
    ti = base.tax_included * q if base.tax_included is not None else None

    alterations = _optional_list(entry.get("priceAlteration"), f"{field}.priceAlteration")
    ordered: list[tuple[bool, int, int, dict[str, Any], str]] = []
    for idx, alt in enumerate(alterations):
        afield = f"{field}.priceAlteration[{idx}]"
        if not isinstance(alt, dict):
            raise PricingError(afield, "must be a PriceAlteration object")
        prio = _priority(alt.get("priority"), f"{afield}.priority")
        # (missing-last flag, priority, array index): stable, ties keep array order.
        ordered.append((prio is None, prio or 0, idx, alt, afield))
    ordered.sort(key=lambda t: (t[0], t[1], t[2]))

    for _, _, _, alt, afield in ordered:
        aprice = _optional_dict(alt.get("price"), f"{afield}.price")
        pct = None
        if aprice.get("percentage") is not None:
            pct = _percent(aprice["percentage"], f"{afield}.price.percentage")
        amounts = _price_amounts(aprice, f"{afield}.price", base.tax_rate)
        if amounts.currency is not None and currency is not None and amounts.currency != currency:
            which = "dutyFreeAmount" if aprice.get("dutyFreeAmount") else "taxIncludedAmount"
            raise PricingError(
                f"{afield}.price.{which}.unit",
                f"currency {amounts.currency!r} differs from the price currency {currency!r}",
            )
        if pct is not None:
            factor = 1 - pct / _HUNDRED
            df = df * factor if df is not None else None
            ti = ti * factor if ti is not None else None
        if df is not None and amounts.duty_free is not None:
            df += amounts.duty_free
        if ti is not None and amounts.tax_included is not None:
            ti += amounts.tax_included

    out_price: dict[str, Any] = {}
    total: _EntryTotal | None = None
    if currency is not None:
        df_r = _round(df, currency, field) if df is not None else None
        ti_r = _round(ti, currency, field) if ti is not None else None
        if df_r is not None:
            out_price["dutyFreeAmount"] = {"unit": currency, "value": money_value(df_r)}
        if ti_r is not None:
            out_price["taxIncludedAmount"] = {"unit": currency, "value": money_value(ti_r)}
        key: _GroupKey = (
            meta["priceType"],
            meta["recurringChargePeriod"],
            meta["unitOfMeasure"],
            currency,
        )
        total = _EntryTotal(key, df_r, ti_r, base.tax_rate)
    if base.tax_rate is not None:
        out_price["taxRate"] = _number_out(base.tax_rate)

    out: dict[str, Any] = {k: v for k, v in meta.items() if v is not None}
    out["price"] = out_price
    return out, total


# ---------------------------------------------------------------------------
# Cart walk
# ---------------------------------------------------------------------------


@dataclass
class _Node:
    item: dict[str, Any]
    path: str
    charged: bool


def _collect(items: list[Any], prefix: str, parent_charged: bool, depth: int, out: list[_Node]) -> None:
    # Pre-order walk: a parent precedes its children (defines id and group order).
    if depth > MAX_NESTING_DEPTH:
        raise PricingError(prefix, f"cart items nested deeper than {MAX_NESTING_DEPTH} levels")
    for idx, item in enumerate(items):
        path = f"{prefix}[{idx}]"
        if not isinstance(item, dict):
            raise PricingError(path, "must be a CartItem object")
        status = item.get("status", "active")
        if status is None:
            status = "active"
        if not isinstance(status, str) or status not in CART_ITEM_STATUSES:
            raise PricingError(f"{path}.status", f"must be one of {sorted(CART_ITEM_STATUSES)}")
        charged = parent_charged and status == "active"
        out.append(_Node(item, path, charged))
        children = _optional_list(item.get("cartItem"), f"{path}.cartItem")
        _collect(children, f"{path}.cartItem", charged, depth + 1, out)


def _assign_ids(nodes: list[_Node]) -> None:
    used: set[str] = set()
    for node in nodes:
        cid = _client_id(node.item.get("id"), f"{node.path}.id")
        if cid is None:
            continue
        if cid in used:
            raise PricingError(f"{node.path}.id", f"duplicate cart item id {cid!r}")
        used.add(cid)
        node.item["id"] = cid
    counter = 0
    for node in nodes:
        if node.item.get("id") is not None:
            continue
        counter += 1
        while str(counter) in used:
            counter += 1
        node.item["id"] = str(counter)
        used.add(str(counter))


@dataclass
class _Group:
    duty_free: Decimal | None = None
    tax_included: Decimal | None = None
    tax_rate: Decimal | None = None
    uniform_rate: bool = True
    first: bool = True


def _add(acc: Decimal | None, d: Decimal | None) -> Decimal | None:
    if d is None:
        return acc
    return d if acc is None else acc + d


# Why: docs/decisions/0029-pricing-decimal-rounded-per-entry.md
def prepare_cart(cart: dict) -> dict:
    """Return a NEW cart dict with items normalised and all totals recomputed.

    The input is not mutated. Raises :class:`PricingError` on bad items or money.
    """
    if not isinstance(cart, dict):
        raise PricingError("", "shopping cart must be an object")
    out = copy.deepcopy(cart)
    with localcontext() as ctx:
        ctx.prec = _PRECISION
        ctx.rounding = ROUND_HALF_EVEN
        nodes: list[_Node] = []
        _collect(_optional_list(out.get("cartItem"), "cartItem"), "cartItem", True, 0, nodes)
        _assign_ids(nodes)

        groups: dict[_GroupKey, _Group] = {}
        for node in nodes:
            item, path = node.item, node.path
            quantity = _quantity(item.get("quantity"), f"{path}.quantity")
            item["quantity"] = quantity
            item["status"] = item.get("status") or "active"
            action = item.get("action")
            if action is None:
                action = "add"
            if not isinstance(action, str) or action not in CART_ITEM_ACTIONS:
                raise PricingError(f"{path}.action", f"must be one of {sorted(CART_ITEM_ACTIONS)}")
            item["action"] = action

            item_totals: list[dict[str, Any]] = []
            prices = _optional_list(item.get("itemPrice"), f"{path}.itemPrice")
            for idx, entry in enumerate(prices):
                total_entry, total = _price_entry(entry, quantity, f"{path}.itemPrice[{idx}]")
                item_totals.append(total_entry)
                if node.charged and total is not None:
                    g = groups.setdefault(total.key, _Group())
                    g.duty_free = _add(g.duty_free, total.duty_free)
                    g.tax_included = _add(g.tax_included, total.tax_included)
                    if g.first:
                        g.tax_rate, g.first = total.tax_rate, False
                    elif g.tax_rate is None or total.tax_rate != g.tax_rate:
                        g.uniform_rate = False
            item.pop("itemTotalPrice", None)  # client's lowercase variant: never served
            item["ItemTotalPrice"] = item_totals

        cart_totals: list[dict[str, Any]] = []
        for (price_type, period, uom, currency), g in groups.items():
            entry: dict[str, Any] = {}
            if price_type is not None:
                entry["priceType"] = price_type
            if period is not None:
                entry["recurringChargePeriod"] = period
            if uom is not None:
                entry["unitOfMeasure"] = uom
            price: dict[str, Any] = {}
            for name, value in (
                ("dutyFreeAmount", g.duty_free),
                ("taxIncludedAmount", g.tax_included),
            ):
                if value is not None:
                    if abs(value) > MAX_AMOUNT:
                        raise PricingError("cartTotalPrice", f"cart total exceeds {MAX_AMOUNT:.0f}")
                    price[name] = {"unit": currency, "value": money_value(value)}
            if g.uniform_rate and g.tax_rate is not None:
                price["taxRate"] = _number_out(g.tax_rate)
            entry["price"] = price
            cart_totals.append(entry)
        out["cartTotalPrice"] = cart_totals
    return out
