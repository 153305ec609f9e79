"""domain/cart_versions.py: the v4 ↔ v5 mapping loses nothing, as properties over generated carts
(hand-written Hypothesis strategies covering every mapped property of both documents)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tmfserver.domain.cart_versions import RETAINED, from_v4, from_v5, stored_path, to_v4, to_v5

text = st.text(alphabet="abcdefxyz019 -", min_size=1, max_size=8)
money = st.fixed_dictionaries({"unit": st.sampled_from(["EUR", "USD"]), "value": st.integers(0, 500)})
price = st.fixed_dictionaries(
    {}, optional={"taxIncludedAmount": money, "dutyFreeAmount": money, "taxRate": st.integers(0, 30)}
)
alteration = st.fixed_dictionaries(
    {"priceType": text, "price": price}, optional={"priority": st.integers(0, 3), "name": text}
)
cart_price = st.fixed_dictionaries(
    {},
    optional={
        "priceType": text,
        "recurringChargePeriod": text,
        "price": price,
        "priceAlteration": st.lists(alteration, max_size=2),
        "productOfferingPrice": st.fixed_dictionaries({"id": text}),
    },
)
duration = st.fixed_dictionaries(
    {"units": text}, optional={"amount": st.one_of(st.integers(0, 24), st.sampled_from([1.5, 2.0]))}
)
note = st.fixed_dictionaries({}, optional={"id": text, "text": text, "author": text})
characteristic = st.fixed_dictionaries({"name": text, "value": st.one_of(text, st.integers())})
product = st.one_of(
    st.fixed_dictionaries({"id": text}, optional={"href": text, "@referredType": text}),
    st.fixed_dictionaries(
        {"name": text},
        optional={
            "productCharacteristic": st.lists(characteristic, max_size=2),
            "productPrice": st.lists(
                st.fixed_dictionaries(
                    {"priceType": text, "price": price},
                    optional={"productPriceAlteration": st.lists(alteration, max_size=1)},
                ),
                max_size=1,
            ),
            "productTerm": st.lists(st.fixed_dictionaries({"name": text, "duration": duration}), max_size=1),
            "relatedParty": st.lists(st.fixed_dictionaries({"id": text, "@referredType": text}), max_size=1),
        },
    ),
)


def item(children: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries(
        {"id": text},
        optional={
            "quantity": st.integers(1, 5),
            "status": st.sampled_from(["active", "saveForLater"]),
            "action": st.sampled_from(["add", "modify"]),
            "itemPrice": st.lists(cart_price, max_size=2),
            "ItemTotalPrice": st.lists(cart_price, max_size=1),
            "itemTerm": st.lists(
                st.fixed_dictionaries({"name": text}, optional={"duration": duration}), max_size=1
            ),
            "note": st.lists(note, max_size=2),
            "product": product,
            "productOffering": st.fixed_dictionaries({"id": text}, optional={"name": text}),
            "cartItemRelationship": st.lists(
                st.fixed_dictionaries({"id": text, "relationshipType": text}), max_size=1
            ),
            "cartItem": children,
            "@type": st.just("CartItem"),
            "x-ext": text,
        },
    )


items = st.recursive(st.just([]), lambda children: st.lists(item(children), max_size=2), max_leaves=4)
medium = st.fixed_dictionaries(
    {},
    optional={
        "mediumType": st.sampled_from(["email", "phone", "postalAddress", "Email"]),
        "preferred": st.booleans(),
        "characteristic": st.fixed_dictionaries(
            {},
            optional={
                "emailAddress": text,
                "phoneNumber": text,
                "city": text,
                "contactType": text,
                "street1": text,
            },
        ),
        "@type": st.just("ContactMedium"),
    },
)
party = st.fixed_dictionaries(
    {"id": text, "@referredType": text},
    optional={"name": text, "role": text, "href": text, "@type": st.just("RelatedParty")},
)
v4_carts = st.fixed_dictionaries(
    {"id": text},
    optional={
        "@type": st.just("ShoppingCart"),
        "cartItem": items,
        "cartTotalPrice": st.lists(cart_price, max_size=1),
        "contactMedium": st.lists(medium, max_size=2),
        "relatedParty": st.lists(party, max_size=2),
        "validFor": st.fixed_dictionaries({"startDateTime": st.just("2030-01-01T00:00:00Z")}),
        "creationDate": st.just("2030-01-01T00:00:00.000Z"),
        "@baseType": text,
        "x-ext": text,
    },
)

v5_party = st.fixed_dictionaries(
    {
        "@type": st.just("RelatedPartyOrPartyRole"),
        "partyOrPartyRole": st.one_of(
            st.fixed_dictionaries(
                {"@type": st.just("PartyRef"), "id": text}, optional={"@referredType": text, "name": text}
            ),
            st.fixed_dictionaries(
                {"@type": st.just("PartyRoleRef"), "id": text}, optional={"partyId": text, "partyName": text}
            ),
        ),
    },
    optional={"role": text},
)
v5_medium = st.one_of(
    st.fixed_dictionaries(
        {"@type": st.just("EmailContactMedium")},
        optional={"emailAddress": text, "id": text, "contactType": text, "preferred": st.booleans()},
    ),
    st.fixed_dictionaries({"@type": st.just("PhoneContactMedium")}, optional={"phoneNumber": text, "id": text}),
)
v5_carts = st.fixed_dictionaries(
    {"@type": st.just("ShoppingCart"), "id": text},
    optional={
        "relatedParty": st.lists(v5_party, max_size=2),
        "contactMedium": st.lists(v5_medium, max_size=2),
        "cartItem": st.lists(
            st.fixed_dictionaries(
                {"@type": st.just("CartItem"), "id": text},
                optional={
                    "productOffering": st.fixed_dictionaries(
                        {"@type": st.just("ProductOfferingRef"), "id": text}, optional={"version": text}
                    ),
                    "product": st.fixed_dictionaries({"@type": st.just("ProductRef"), "id": text}),
                    "quantity": st.integers(1, 4),
                },
            ),
            max_size=2,
        ),
    },
)


@settings(max_examples=150, deadline=None)
@given(v4_carts)
def test_a_v4_cart_read_and_written_back_through_v5_is_unchanged(stored: dict) -> None:
    assert from_v5(to_v5(stored), stored) == stored
    assert RETAINED not in str(to_v5(stored)) and RETAINED not in str(to_v4(stored))


@settings(max_examples=150, deadline=None)
@given(v5_carts)
def test_a_v5_cart_read_and_written_back_through_v4_is_unchanged(written: dict) -> None:
    stored = from_v5(written)
    shown = to_v5(stored)
    # nothing of what the v5 client wrote is lost, and a v4 write-back of the v4 view keeps it all
    again = to_v5(from_v4(to_v4(stored), stored))
    assert again == shown
    assert {k: v for k, v in shown.items()} == written | {k: shown[k] for k in shown if k not in written}


def test_paths_map_to_stored_names() -> None:
    assert stored_path(("cartItem", "itemTotalPrice", "price")) == ("cartItem", "ItemTotalPrice", "price")
    assert stored_path(("relatedParty", "partyOrPartyRole", "id")) == ("relatedParty", "id")
    assert stored_path(("relatedParty", "partyOrPartyRole", "partyId")) == (
        "relatedParty",
        RETAINED,
        "partyOrPartyRole",
        "partyId",
    )
    assert stored_path(("contactMedium", "emailAddress")) == ("contactMedium", "characteristic", "emailAddress")
    assert stored_path(("x-ext", "a")) == ("x-ext", "a")
