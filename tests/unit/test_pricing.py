"""Unit + property tests for tmfserver.domain.pricing (TMF663 cart pricing).

Every expected number below is computed by hand in the comment next to it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tmfserver.domain.pricing import PricingError, money_value, prepare_cart

# ---------------------------------------------------------------------------
# Builders
# ---------------------------------------------------------------------------


def money(value: Any, unit: str = "EUR") -> dict[str, Any]:
    return {"unit": unit, "value": value}


def cprice(
    df: Any = None,
    ti: Any = None,
    *,
    unit: str = "EUR",
    price_type: str | None = "oneTime",
    period: str | None = None,
    tax_rate: Any = None,
    alterations: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    price: dict[str, Any] = {}
    if df is not None:
        price["dutyFreeAmount"] = money(df, unit)
    if ti is not None:
        price["taxIncludedAmount"] = money(ti, unit)
    if tax_rate is not None:
        price["taxRate"] = tax_rate
    out: dict[str, Any] = {"price": price}
    if price_type is not None:
        out["priceType"] = price_type
    if period is not None:
        out["recurringChargePeriod"] = period
    if alterations is not None:
        out["priceAlteration"] = alterations
    return out


def pct_alt(p: Any, priority: int | None = None, price_type: str = "recurring") -> dict[str, Any]:
    alt: dict[str, Any] = {"priceType": price_type, "price": {"percentage": p}}
    if priority is not None:
        alt["priority"] = priority
    return alt


def abs_alt(
    df: Any = None,
    ti: Any = None,
    priority: int | None = None,
    unit: str = "EUR",
    price_type: str = "oneTime",
) -> dict[str, Any]:
    price: dict[str, Any] = {}
    if df is not None:
        price["dutyFreeAmount"] = money(df, unit)
    if ti is not None:
        price["taxIncludedAmount"] = money(ti, unit)
    alt: dict[str, Any] = {"priceType": price_type, "price": price}
    if priority is not None:
        alt["priority"] = priority
    return alt


def amounts(cart_price: dict[str, Any]) -> tuple[Any, Any]:
    p = cart_price["price"]
    df = p.get("dutyFreeAmount", {}).get("value")
    ti = p.get("taxIncludedAmount", {}).get("value")
    return df, ti


def one_item_total(item: dict[str, Any], **kw: Any) -> dict[str, Any]:
    out = prepare_cart({"cartItem": [item], **kw})
    (total,) = out["cartItem"][0]["ItemTotalPrice"]
    return total


def expect_error(cart: dict[str, Any], field: str) -> PricingError:
    with pytest.raises(PricingError) as exc:
        prepare_cart(cart)
    assert exc.value.field == field, exc.value
    assert isinstance(exc.value, ValueError)
    assert exc.value.message
    return exc.value


# ---------------------------------------------------------------------------
# Worked examples
# ---------------------------------------------------------------------------


def test_one_time_and_monthly_recurring_with_quantity_three() -> None:
    cart = {
        "cartItem": [
            {"quantity": 3, "itemPrice": [cprice("100.00", "120.00")]},
            {
                "itemPrice": [
                    cprice(20, 24, price_type="recurring", period="month"),
                ]
            },
        ]
    }
    out = prepare_cart(cart)
    a, b = out["cartItem"]
    # 3 x 100.00 = 300.00 ; 3 x 120.00 = 360.00
    assert a["ItemTotalPrice"] == [
        {
            "priceType": "oneTime",
            "price": {
                "dutyFreeAmount": {"unit": "EUR", "value": 300.0},
                "taxIncludedAmount": {"unit": "EUR", "value": 360.0},
            },
        }
    ]
    # 1 x 20 = 20.00 ; 1 x 24 = 24.00, period carried over
    assert b["ItemTotalPrice"] == [
        {
            "priceType": "recurring",
            "recurringChargePeriod": "month",
            "price": {
                "dutyFreeAmount": {"unit": "EUR", "value": 20.0},
                "taxIncludedAmount": {"unit": "EUR", "value": 24.0},
            },
        }
    ]
    # two groups, in order of first appearance: oneTime then recurring/month
    assert out["cartTotalPrice"] == [
        {
            "priceType": "oneTime",
            "price": {
                "dutyFreeAmount": {"unit": "EUR", "value": 300.0},
                "taxIncludedAmount": {"unit": "EUR", "value": 360.0},
            },
        },
        {
            "priceType": "recurring",
            "recurringChargePeriod": "month",
            "price": {
                "dutyFreeAmount": {"unit": "EUR", "value": 20.0},
                "taxIncludedAmount": {"unit": "EUR", "value": 24.0},
            },
        },
    ]


def test_alteration_order_percentage_then_absolute() -> None:
    # 2 x 50.00 = 100.00 ; -10 % -> 90.00 ; -5.00 -> 85.00
    item = {
        "quantity": 2,
        "itemPrice": [
            cprice(
                "50.00",
                price_type="recurring",
                period="month",
                alterations=[abs_alt(df="-5.00", priority=2), pct_alt(10, priority=1)],
            )
        ],
    }
    assert amounts(one_item_total(item)) == (85.0, None)


def test_alteration_order_absolute_then_percentage() -> None:
    # 2 x 50.00 = 100.00 ; -5.00 -> 95.00 ; -10 % -> 85.50  (differs from 85.00 above)
    item = {
        "quantity": 2,
        "itemPrice": [
            cprice(
                "50.00",
                price_type="recurring",
                period="month",
                alterations=[pct_alt(10, priority=2), abs_alt(df="-5.00", priority=1)],
            )
        ],
    }
    assert amounts(one_item_total(item)) == (85.5, None)


def test_alteration_missing_priority_sorts_last_and_ties_keep_array_order() -> None:
    # order: priority 1 (+10.00), then priority 1 tie (-50 %), then missing (-1.00)
    # 100.00 + 10.00 = 110.00 ; x 0.5 = 55.00 ; - 1.00 = 54.00
    # (array order would have been -1.00 first: (99 + 10) x 0.5 = 54.50)
    item = {
        "itemPrice": [
            cprice(
                100,
                alterations=[
                    abs_alt(df=-1),
                    abs_alt(df=10, priority=1),
                    pct_alt(50, priority=1),
                ],
            )
        ]
    }
    assert amounts(one_item_total(item)) == (54.0, None)


def test_absolute_alteration_applies_once_per_entry_not_per_unit() -> None:
    # 4 x 10.00 = 40.00 ; -5.00 once -> 35.00 (not 4 x 5 = 20 off)
    # tax-included: 4 x 12.00 = 48.00 ; -6.00 -> 42.00
    item = {"quantity": 4, "itemPrice": [cprice(10, 12, alterations=[abs_alt(df=-5, ti=-6)])]}
    assert amounts(one_item_total(item)) == (35.0, 42.0)


def test_percentage_alteration_applies_to_both_amounts() -> None:
    # 10.00 x (1 - 0.15) = 8.50 ; 12.00 x 0.85 = 10.20
    item = {"itemPrice": [cprice(10, 12, alterations=[pct_alt(15)])]}
    assert amounts(one_item_total(item)) == (8.5, 10.2)


def test_alteration_amount_derived_from_entry_tax_rate() -> None:
    # entry: 100.00 df, taxRate 20 -> ti 120.00
    # alteration -10.00 df only, no own rate -> derived ti -12.00 via entry's 20 %
    # df: 100 - 10 = 90.00 ; ti: 120 - 12 = 108.00
    item = {"itemPrice": [cprice(100, tax_rate=20, alterations=[abs_alt(df=-10)])]}
    assert amounts(one_item_total(item)) == (90.0, 108.0)


def test_save_for_later_item_kept_not_charged_nor_its_children() -> None:
    cart = {
        "cartItem": [
            {"id": "a", "itemPrice": [cprice("10.00")]},
            {
                "id": "b",
                "status": "saveForLater",
                "itemPrice": [cprice("1000.00")],
                "cartItem": [{"id": "c", "status": "active", "itemPrice": [cprice("7.00")]}],
            },
        ]
    }
    out = prepare_cart(cart)
    saved = out["cartItem"][1]
    # kept, with its own totals computed for display
    assert saved["status"] == "saveForLater"
    assert amounts(saved["ItemTotalPrice"][0]) == (1000.0, None)
    assert amounts(saved["cartItem"][0]["ItemTotalPrice"][0]) == (7.0, None)
    # cart total = only item a: 10.00
    assert [amounts(p) for p in out["cartTotalPrice"]] == [(10.0, None)]


def test_spec_enum_spelling_only_for_status() -> None:
    # The v4.0.0 enum says "saveForLater"; the prose's "savedForLater" is not accepted.
    expect_error({"cartItem": [{"status": "savedForLater"}]}, "cartItem[0].status")
    expect_error({"cartItem": [{"status": "Active"}]}, "cartItem[0].status")
    expect_error({"cartItem": [{"cartItem": [{"status": 1}]}]}, "cartItem[0].cartItem[0].status")


def test_bundle_nested_item_own_quantity_and_totals() -> None:
    cart = {
        "cartItem": [
            {
                "quantity": 2,
                "itemPrice": [cprice("10.00")],
                "cartItem": [{"quantity": 3, "itemPrice": [cprice("1.50")]}],
            }
        ]
    }
    out = prepare_cart(cart)
    parent = out["cartItem"][0]
    child = parent["cartItem"][0]
    # parent covers only its own: 2 x 10.00 = 20.00
    assert amounts(parent["ItemTotalPrice"][0]) == (20.0, None)
    # child: own quantity 3, not 2 x 3: 3 x 1.50 = 4.50
    assert amounts(child["ItemTotalPrice"][0]) == (4.5, None)
    # cart: 20.00 + 4.50 = 24.50
    assert [amounts(p) for p in out["cartTotalPrice"]] == [(24.5, None)]
    assert child["quantity"] == 3


def test_two_currencies_are_never_added() -> None:
    cart = {
        "cartItem": [
            {"itemPrice": [cprice("10.00", unit="EUR")]},
            {"itemPrice": [cprice("10.00", unit="USD")]},
            {"itemPrice": [cprice("2.50", unit="EUR")]},
        ]
    }
    out = prepare_cart(cart)
    # EUR: 10.00 + 2.50 = 12.50 ; USD: 10.00
    assert out["cartTotalPrice"] == [
        {"priceType": "oneTime", "price": {"dutyFreeAmount": {"unit": "EUR", "value": 12.5}}},
        {"priceType": "oneTime", "price": {"dutyFreeAmount": {"unit": "USD", "value": 10.0}}},
    ]


def test_jpy_rounds_half_even_to_zero_decimals() -> None:
    # 3 x 333.5 = 1000.5 -> half-even -> 1000 (1000 is even); served as int
    total = one_item_total({"quantity": 3, "itemPrice": [cprice("333.5", unit="JPY")]})
    assert amounts(total) == (1000, None)
    assert isinstance(total["price"]["dutyFreeAmount"]["value"], int)
    # 1 x 333.5 -> half-even -> 334 (334 is even); 1 x 332.5 -> 332
    assert amounts(one_item_total({"itemPrice": [cprice(333.5, unit="JPY")]})) == (334, None)
    assert amounts(one_item_total({"itemPrice": [cprice(332.5, unit="JPY")]})) == (332, None)


def test_three_decimal_currency_and_half_even_cents() -> None:
    # BHD has 3 decimals: 1.2345 -> 1.234 (4 is even); 1.2355 -> 1.236
    assert amounts(one_item_total({"itemPrice": [cprice("1.2345", unit="BHD")]})) == (1.234, None)
    assert amounts(one_item_total({"itemPrice": [cprice("1.2355", unit="BHD")]})) == (1.236, None)
    # EUR: 0.125 -> 0.12 (2 even) ; 0.135 -> 0.14 (4 even)
    assert amounts(one_item_total({"itemPrice": [cprice("0.125")]})) == (0.12, None)
    assert amounts(one_item_total({"itemPrice": [cprice("0.135")]})) == (0.14, None)


def test_no_float_arithmetic_point_one_plus_point_two() -> None:
    assert 0.1 + 0.2 != 0.3  # the trap we must not fall into
    cart = {"cartItem": [{"itemPrice": [cprice(0.1)]}, {"itemPrice": [cprice(0.2)]}]}
    out = prepare_cart(cart)
    value = out["cartTotalPrice"][0]["price"]["dutyFreeAmount"]["value"]
    # Decimal 0.1 + 0.2 = 0.30 exactly
    assert value == 0.3
    assert Decimal(str(value)) == Decimal("0.30")
    # and 3 x 0.1 = 0.30 (float would give 0.30000000000000004)
    assert amounts(one_item_total({"quantity": 3, "itemPrice": [cprice(0.1)]})) == (0.3, None)


def test_tax_rate_derivation_both_directions() -> None:
    # df 100.00, rate 20 -> ti = 100 x 1.20 = 120.00
    t = one_item_total({"itemPrice": [cprice("100.00", tax_rate=20)]})
    assert amounts(t) == (100.0, 120.0)
    assert t["price"]["taxRate"] == 20
    # ti 119.00, rate 19 -> df = 119 / 1.19 = 100.00
    assert amounts(one_item_total({"itemPrice": [cprice(ti=119, tax_rate=19)]})) == (100.0, 119.0)


def test_tax_derivation_happens_on_unit_amount_before_quantity() -> None:
    # unit df = 10.00 / 1.19 = 8.4033613... ; x 3 = 25.2100840... -> 25.21
    # (deriving after rounding the unit would give 8.40 x 3 = 25.20)
    t = one_item_total({"quantity": 3, "itemPrice": [cprice(ti="10.00", tax_rate=19)]})
    assert amounts(t) == (25.21, 30.0)


def test_missing_amount_without_tax_rate_stays_absent_and_group_sums_partially() -> None:
    cart = {
        "cartItem": [
            {"itemPrice": [cprice(10)]},  # df only, no rate
            {"itemPrice": [cprice(5, 6)]},
        ]
    }
    out = prepare_cart(cart)
    assert "taxIncludedAmount" not in out["cartItem"][0]["ItemTotalPrice"][0]["price"]
    # df: 10 + 5 = 15.00 ; ti covers only the entry that has it: 6.00
    assert [amounts(p) for p in out["cartTotalPrice"]] == [(15.0, 6.0)]


def test_group_tax_rate_shown_only_when_uniform() -> None:
    same = prepare_cart(
        {
            "cartItem": [
                {"itemPrice": [cprice(10, tax_rate=20)]},
                {"itemPrice": [cprice(5, tax_rate=20.0)]},
            ]
        }
    )
    # 10 + 5 = 15.00 ; 12 + 6 = 18.00 ; both at 20 %
    assert same["cartTotalPrice"][0]["price"]["taxRate"] == 20
    assert amounts(same["cartTotalPrice"][0]) == (15.0, 18.0)
    mixed = prepare_cart(
        {
            "cartItem": [
                {"itemPrice": [cprice(10, tax_rate=20)]},
                {"itemPrice": [cprice(5, tax_rate=10)]},
            ]
        }
    )
    assert "taxRate" not in mixed["cartTotalPrice"][0]["price"]
    # 12.00 + 5.50 = 17.50
    assert amounts(mixed["cartTotalPrice"][0]) == (15.0, 17.5)


def test_id_assignment_keeps_client_ids_and_skips_used_numbers() -> None:
    cart = {
        "cartItem": [
            {"id": "2"},
            {},
            {"cartItem": [{}, {"id": 4}]},
            {},
        ]
    }
    out = prepare_cart(cart)
    items = out["cartItem"]
    # used by clients: {"2", "4"}; pre-order free numbers: 1, 3, 5, 6
    assert items[0]["id"] == "2"
    assert items[1]["id"] == "1"
    assert items[2]["id"] == "3"
    assert items[2]["cartItem"][0]["id"] == "5"
    assert items[2]["cartItem"][1]["id"] == "4"  # number coerced to str
    assert items[3]["id"] == "6"


def test_duplicate_ids_across_nesting_rejected() -> None:
    expect_error({"cartItem": [{"id": "1"}, {"cartItem": [{"id": 1}]}]}, "cartItem[1].cartItem[0].id")
    expect_error({"cartItem": [{"id": "x"}, {"id": "x"}]}, "cartItem[1].id")
    expect_error({"cartItem": [{"id": True}]}, "cartItem[0].id")


def test_defaults_and_quantity_validation() -> None:
    out = prepare_cart({"cartItem": [{}, {"quantity": "2"}]})
    first, second = out["cartItem"]
    assert first["quantity"] == 1
    assert first["status"] == "active"
    assert first["action"] == "add"
    assert first["ItemTotalPrice"] == []
    assert second["quantity"] == 2  # integer string coerced
    assert prepare_cart({"cartItem": [{"action": "modify"}]})["cartItem"][0]["action"] == "modify"
    for bad in (0, -1, 1.5, 2.0, True, "abc", "2.0", "", [1]):
        expect_error({"cartItem": [{"quantity": bad}]}, "cartItem[0].quantity")
    expect_error({"cartItem": [{"action": "remove"}]}, "cartItem[0].action")


@pytest.mark.parametrize("bad", ["abc", True, float("nan"), "NaN", "Infinity", float("inf"), None, {}])
def test_bad_amount_value(bad: Any) -> None:
    cart = {"cartItem": [{"itemPrice": [cprice(10, 12)]}]}
    cart["cartItem"][0]["itemPrice"][0]["price"]["dutyFreeAmount"]["value"] = bad
    expect_error(cart, "cartItem[0].itemPrice[0].price.dutyFreeAmount.value")


@pytest.mark.parametrize("bad", ["ABC", "eur", "EURO", "XAU", 978, None])
def test_bad_currency(bad: Any) -> None:
    cart = {"cartItem": [{"itemPrice": [cprice(10, 12)]}]}
    cart["cartItem"][0]["itemPrice"][0]["price"]["taxIncludedAmount"]["unit"] = bad
    expect_error(cart, "cartItem[0].itemPrice[0].price.taxIncludedAmount.unit")


def test_amount_bound() -> None:
    # exactly 10^12 is allowed, above is not (either sign)
    ok = one_item_total({"itemPrice": [cprice(10**12)]})
    assert amounts(ok) == (1e12, None)
    field = "cartItem[0].itemPrice[0].price.dutyFreeAmount.value"
    expect_error({"cartItem": [{"itemPrice": [cprice(10**12 + 1)]}]}, field)
    expect_error({"cartItem": [{"itemPrice": [cprice("-1e13")]}]}, field)
    # a computed total beyond the bound names the entry
    expect_error({"cartItem": [{"quantity": 2, "itemPrice": [cprice(10**12)]}]}, "cartItem[0].itemPrice[0]")


@pytest.mark.parametrize("bad", [-1, 100.01, "101", "x", True])
def test_bad_percentage(bad: Any) -> None:
    cart = {"cartItem": [{"itemPrice": [cprice(10, alterations=[abs_alt(df=-1), pct_alt(bad)])]}]}
    expect_error(cart, "cartItem[0].itemPrice[0].priceAlteration[1].price.percentage")


def test_percentage_bounds_inclusive() -> None:
    # 0 % -> 10.00 ; 100 % -> 0.00
    assert amounts(one_item_total({"itemPrice": [cprice(10, alterations=[pct_alt(0)])]})) == (
        10.0,
        None,
    )
    assert amounts(one_item_total({"itemPrice": [cprice(10, alterations=[pct_alt(100)])]})) == (
        0,
        None,
    )


@pytest.mark.parametrize("bad", [-0.5, 100.5, "abc"])
def test_bad_tax_rate(bad: Any) -> None:
    expect_error(
        {"cartItem": [{"itemPrice": [cprice(10, tax_rate=bad)]}]},
        "cartItem[0].itemPrice[0].price.taxRate",
    )


def test_non_list_containers() -> None:
    expect_error({"cartItem": {"id": "1"}}, "cartItem")
    expect_error({"cartItem": [{"cartItem": "x"}]}, "cartItem[0].cartItem")
    expect_error({"cartItem": [{"itemPrice": {}}]}, "cartItem[0].itemPrice")
    cart = {"cartItem": [{"itemPrice": [cprice(10)]}]}
    cart["cartItem"][0]["itemPrice"][0]["priceAlteration"] = {"price": {}}
    expect_error(cart, "cartItem[0].itemPrice[0].priceAlteration")
    expect_error({"cartItem": ["x"]}, "cartItem[0]")
    expect_error({"cartItem": [{"itemPrice": [1]}]}, "cartItem[0].itemPrice[0]")


def test_mixed_currencies_in_one_price() -> None:
    cart = {"cartItem": [{"itemPrice": [cprice(10, 12)]}]}
    cart["cartItem"][0]["itemPrice"][0]["price"]["taxIncludedAmount"]["unit"] = "USD"
    expect_error(cart, "cartItem[0].itemPrice[0].price.taxIncludedAmount.unit")
    # alteration in another currency than its entry
    cart = {"cartItem": [{"itemPrice": [cprice(10, alterations=[abs_alt(df=-1, unit="USD")])]}]}
    expect_error(cart, "cartItem[0].itemPrice[0].priceAlteration[0].price.dutyFreeAmount.unit")


def test_bad_money_deep_in_bundle_names_full_path() -> None:
    cart = {"cartItem": [{}, {"cartItem": [{"itemPrice": [cprice(1), cprice("x")]}]}]}
    expect_error(cart, "cartItem[1].cartItem[0].itemPrice[1].price.dutyFreeAmount.value")


def test_client_sent_totals_are_ignored_and_lowercase_dropped() -> None:
    bogus = [{"price": {"dutyFreeAmount": {"unit": "EUR", "value": 999}}}]
    cart = {
        "cartTotalPrice": bogus,
        "cartItem": [
            {"itemPrice": [cprice(1)], "ItemTotalPrice": bogus, "itemTotalPrice": bogus},
        ],
    }
    out = prepare_cart(cart)
    item = out["cartItem"][0]
    assert "itemTotalPrice" not in item
    assert [amounts(p) for p in item["ItemTotalPrice"]] == [(1.0, None)]
    assert [amounts(p) for p in out["cartTotalPrice"]] == [(1.0, None)]


def test_input_not_mutated_and_extensions_pass_through() -> None:
    cart = {
        "@type": "ShoppingCart",
        "validFor": {"startDateTime": "2024-01-01T00:00:00Z"},
        "x-custom": [1, 2],
        "cartItem": [
            {
                "productOffering": {"id": "po-1"},
                "note": [{"text": "hi"}],
                "itemPrice": [{**cprice(1, alterations=[pct_alt(10)]), "name": "fee"}],
                "cartItem": [{}],
            }
        ],
    }
    snapshot = copy.deepcopy(cart)
    out = prepare_cart(cart)
    assert cart == snapshot
    assert out is not cart
    assert out["@type"] == "ShoppingCart"
    assert out["validFor"] == snapshot["validFor"]
    assert out["x-custom"] == [1, 2]
    item = out["cartItem"][0]
    assert item["productOffering"] == {"id": "po-1"}
    assert item["note"] == [{"text": "hi"}]
    assert item["itemPrice"] == snapshot["cartItem"][0]["itemPrice"]  # input prices untouched
    json.dumps(out)  # fully JSON-serialisable


def test_empty_cart() -> None:
    assert prepare_cart({}) == {"cartTotalPrice": []}
    assert prepare_cart({"cartItem": []}) == {"cartItem": [], "cartTotalPrice": []}
    assert prepare_cart({"cartItem": [{}]})["cartTotalPrice"] == []


def test_entry_without_amounts_is_kept_but_not_grouped() -> None:
    out = prepare_cart({"cartItem": [{"itemPrice": [{"priceType": "oneTime"}]}]})
    assert out["cartItem"][0]["ItemTotalPrice"] == [{"priceType": "oneTime", "price": {}}]
    assert out["cartTotalPrice"] == []


def test_negative_total_not_clamped_and_no_negative_zero() -> None:
    # 3.00 - 5.00 = -2.00
    assert amounts(one_item_total({"itemPrice": [cprice(3, alterations=[abs_alt(df=-5)])]})) == (
        -2.0,
        None,
    )
    # 0.001 - 0.004 = -0.003 -> -0.00 -> served as 0.0, not -0.0
    t = one_item_total({"itemPrice": [cprice("0.001", alterations=[abs_alt(df="-0.004")])]})
    assert json.dumps(t["price"]["dutyFreeAmount"]["value"]) == "0.0"


def test_money_value() -> None:
    assert money_value(Decimal("1000")) == 1000
    assert isinstance(money_value(Decimal("1000")), int)
    assert money_value(Decimal("0.30")) == 0.3
    assert money_value(Decimal("-0.00")) == 0.0
    assert str(money_value(Decimal("-0.00"))) == "0.0"


def test_pricing_error_attributes() -> None:
    e = PricingError("cartItem[0].quantity", "must be an integer >= 1")
    assert e.field == "cartItem[0].quantity"
    assert e.message == "must be an integer >= 1"
    assert "cartItem[0].quantity" in str(e)


# ---------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------

CURRENCIES = {"EUR": 2, "USD": 2, "JPY": 0, "BHD": 3}


@st.composite
def amount_values(draw: st.DrawFn, max_value: int = 1000) -> Any:
    d = draw(st.decimals(min_value=-max_value, max_value=max_value, places=4))
    # exercise every accepted JSON spelling: number (int/float) or numeric string
    style = draw(st.sampled_from(["str", "float", "int"]))
    if style == "str":
        return str(d)
    if style == "int":
        return int(d)
    return float(d)


@st.composite
def cart_prices(draw: st.DrawFn) -> dict[str, Any]:
    unit = draw(st.sampled_from(sorted(CURRENCIES)))
    has_df, has_ti = draw(
        st.sampled_from([(True, True), (True, False), (False, True)]),
    )
    tax_rate = draw(st.none() | st.sampled_from([0, 5, 19, 20, 7.7]))
    alts = []
    for _ in range(draw(st.integers(0, 3))):
        prio = draw(st.none() | st.integers(0, 3))
        if draw(st.booleans()):
            alt = pct_alt(draw(st.decimals(0, 100, places=2).map(str)), prio)
        else:
            alt = abs_alt(
                df=draw(st.none() | amount_values(50)),
                ti=draw(st.none() | amount_values(50)),
                priority=prio,
                unit=unit,
            )
        alts.append(alt)
    return cprice(
        draw(amount_values()) if has_df else None,
        draw(amount_values()) if has_ti else None,
        unit=unit,
        price_type=draw(st.sampled_from(["oneTime", "recurring", None])),
        period=draw(st.sampled_from([None, "month"])),
        tax_rate=tax_rate,
        alterations=alts or None,
    )


def cart_items(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    children = st.just([]) if depth <= 0 else st.lists(cart_items(depth - 1), max_size=2)
    return st.fixed_dictionaries(
        {
            "quantity": st.integers(1, 5),
            "status": st.sampled_from(["active", "active", "saveForLater"]),
            "itemPrice": st.lists(cart_prices(), max_size=3),
            "cartItem": children,
        }
    )


carts = st.fixed_dictionaries({"cartItem": st.lists(cart_items(2), max_size=3)})


def walk(items: list[dict[str, Any]], charged: bool = True) -> Iterator[tuple[dict[str, Any], bool]]:
    for item in items:
        c = charged and item["status"] == "active"
        yield item, c
        yield from walk(item.get("cartItem") or [], c)


def group_key(cp: dict[str, Any]) -> tuple[Any, ...]:
    p = cp["price"]
    unit = (p.get("dutyFreeAmount") or p.get("taxIncludedAmount"))["unit"]
    return (cp.get("priceType"), cp.get("recurringChargePeriod"), cp.get("unitOfMeasure"), unit)


def dec(money_obj: dict[str, Any] | None) -> Decimal | None:
    return None if money_obj is None else Decimal(str(money_obj["value"]))


def totals_by_group(cart_total: list[dict[str, Any]]) -> dict[tuple[Any, ...], tuple[Any, Any]]:
    return {
        group_key(cp): (
            dec(cp["price"].get("dutyFreeAmount")),
            dec(cp["price"].get("taxIncludedAmount")),
        )
        for cp in cart_total
    }


PROPERTY_SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(carts)
def test_property_cart_total_is_sum_of_charged_item_totals(cart: dict[str, Any]) -> None:
    out = prepare_cart(cart)
    expected: dict[tuple[Any, ...], list[Decimal | None]] = {}
    for item, charged in walk(out["cartItem"]):
        assert len(item["ItemTotalPrice"]) == len(item["itemPrice"])
        if not charged:
            continue
        for cp in item["ItemTotalPrice"]:
            acc = expected.setdefault(group_key(cp), [None, None])
            for i, name in enumerate(("dutyFreeAmount", "taxIncludedAmount")):
                v = dec(cp["price"].get(name))
                if v is not None:
                    acc[i] = v if acc[i] is None else acc[i] + v
    got = totals_by_group(out["cartTotalPrice"])
    assert list(got) == list(expected)  # same groups, first-appearance order
    for key, (df, ti) in got.items():
        exp_df, exp_ti = expected[key]
        assert df == exp_df
        assert ti == exp_ti
        # every total is exactly representable at the currency's minor unit
        for v in (df, ti):
            if v is not None:
                assert v == v.quantize(Decimal(1).scaleb(-CURRENCIES[key[3]]))


@PROPERTY_SETTINGS
@given(carts)
def test_property_idempotent(cart: dict[str, Any]) -> None:
    once = prepare_cart(cart)
    assert prepare_cart(once) == once
    # and survives a JSON round-trip (what the store does)
    assert prepare_cart(json.loads(json.dumps(once))) == once


@PROPERTY_SETTINGS
@given(carts, st.data())
def test_property_quantity_patch_changes_total_by_item_delta(cart: dict[str, Any], data: st.DataObject) -> None:
    before = prepare_cart(cart)
    charged_items = [item for item, charged in walk(before["cartItem"]) if charged]
    if not charged_items:
        return
    target_id = data.draw(st.sampled_from([i["id"] for i in charged_items]))
    new_q = data.draw(st.integers(1, 7))
    patched = copy.deepcopy(before)
    old_item = next(i for i, _ in walk(before["cartItem"]) if i["id"] == target_id)
    next(i for i, _ in walk(patched["cartItem"]) if i["id"] == target_id)["quantity"] = new_q
    after = prepare_cart(patched)
    new_item = next(i for i, _ in walk(after["cartItem"]) if i["id"] == target_id)

    zero = Decimal(0)
    delta: dict[tuple[Any, ...], list[Decimal]] = {}
    for sign, item in ((-1, old_item), (1, new_item)):
        for cp in item["ItemTotalPrice"]:
            acc = delta.setdefault(group_key(cp), [zero, zero])
            for i, name in enumerate(("dutyFreeAmount", "taxIncludedAmount")):
                acc[i] += sign * (dec(cp["price"].get(name)) or zero)

    old_t, new_t = (
        totals_by_group(before["cartTotalPrice"]),
        totals_by_group(after["cartTotalPrice"]),
    )
    assert set(new_t) == set(old_t)  # quantity changes never add or drop a group
    for key in old_t:
        for i in range(2):
            o, n = old_t[key][i], new_t[key][i]
            assert (o is None) == (n is None)
            if o is not None:
                assert n - o == delta.get(key, [zero, zero])[i]
    # everything else in the item is unchanged
    assert {k: v for k, v in new_item.items() if k not in ("quantity", "ItemTotalPrice")} == {
        k: v for k, v in old_item.items() if k not in ("quantity", "ItemTotalPrice")
    }
