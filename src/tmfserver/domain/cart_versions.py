"""One stored shopping cart, two representations: TMF663 v4.0.0 and v5.0.0. Pure: no I/O.

The stored document is the v4 shape (every cart stored before v5 was served is one), plus:
- `creationDate` and `lastUpdate` at the top (server-owned, kept for every cart; v5 shows them, v4 does not);
- `_retained` (RETAINED) in any object: what a v5 client wrote that v4 has no place for (a contact medium's
  `id`, a party's value fields, a reference's `version`, …). Stripped from both representations.
Data that v4 has and v5 has no place for (a postal contact medium's `city`, a v4 `@type` that v5 replaces by
its own, a duration of 1.5 months) stays where v4 put it, is not shown in v5 and survives a v5 write: the
conversion back takes it from the stored object the written one replaces (`previous`).

Matching a written object with the stored one it replaces: the object at the same key; in arrays, the element
with the same `id` when elements have ids, else the element at the same position.

The mapping is the table `SHAPES` (one entry per object type: its v5 name, renamed and nested members,
what only one version has), plus three conversions the table cannot say: contact media (v4 `mediumType` +
`characteristic` ↔ v5 `EmailContactMedium`/`PhoneContactMedium`), related parties (v4 `RelatedParty` ↔ v5
`RelatedPartyOrPartyRole` holding a `partyOrPartyRole`), and durations (v4 `Quantity`, any number ↔ v5
`Duration`, an integer).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

RETAINED = "_retained"
V5_ONLY_TOP = ("creationDate", "lastUpdate")  # server-owned, stored for every cart, shown in v5 only
META = ("@baseType", "@schemaLocation")


@dataclass(frozen=True)
class Member:
    shape: str  # a key of SHAPES
    many: bool = False


@dataclass(frozen=True)
class Shape:
    """One object type in both documents. Members are named as in v4."""

    v5_type: str  # the v5 schema, and the @type filled in when the stored object has none
    renames: Mapping[str, str] = field(default_factory=dict)  # v4 name → v5 name
    members: Mapping[str, Member] = field(default_factory=dict)  # typed members (v4 names)
    v5_only: frozenset[str] = frozenset()  # v5 properties v4 cannot hold: kept in RETAINED
    v4_only: frozenset[str] = frozenset()  # v4 properties v5 cannot show: hidden from v5, kept on v5 writes


def _m(shape: str) -> Member:
    return Member(shape)


def _many(shape: str) -> Member:
    return Member(shape, many=True)


_PRICE_REF = {"productOfferingPrice": _m("ProductOfferingPriceRef")}

SHAPES: dict[str, Shape] = {
    "ShoppingCart": Shape(
        "ShoppingCart",
        members={
            "cartItem": _many("CartItem"),
            "cartTotalPrice": _many("CartPrice"),
            "contactMedium": _many("ContactMedium"),
            "relatedParty": _many("RelatedParty"),
        },
    ),
    "CartItem": Shape(
        "CartItem",
        renames={"ItemTotalPrice": "itemTotalPrice"},
        members={
            "cartItem": _many("CartItem"),
            "ItemTotalPrice": _many("CartPrice"),
            "itemPrice": _many("CartPrice"),
            "itemTerm": _many("CartTerm"),
            "note": _many("Note"),
            "cartItemRelationship": _many("CartItemRelationship"),
            "product": _m("Product"),
            "productOffering": _m("ProductOfferingRef"),
        },
    ),
    "CartPrice": Shape(
        "CartPrice", members={"price": _m("Price"), "priceAlteration": _many("PriceAlteration"), **_PRICE_REF}
    ),
    "PriceAlteration": Shape("PriceAlteration", members={"price": _m("Price"), **_PRICE_REF}),
    "Price": Shape("Price"),
    "CartTerm": Shape("CartTerm", members={"duration": _m("Duration")}),
    "Note": Shape("Note"),
    "CartItemRelationship": Shape("CartItemRelationship"),
    "ProductOfferingRef": Shape("ProductOfferingRef", v5_only=frozenset({"version"})),
    "ProductOfferingPriceRef": Shape("ProductOfferingPriceRef", v5_only=frozenset({"version"})),
    # v4 ProductRefOrValue is one flat schema; v5 is Product or ProductRef, told apart by @type.
    "Product": Shape(
        "Product",
        renames={"agreement": "agreementItem"},
        members={
            "product": _many("Product"),
            "productCharacteristic": _many("Characteristic"),
            "productOffering": _m("ProductOfferingRef"),
            "productSpecification": _m("ProductSpecificationRef"),
            "productPrice": _many("ProductPrice"),
            "productTerm": _many("ProductTerm"),
            "productRelationship": _many("ProductRelationship"),
            "productOrderItem": _many("RelatedOrderItem"),
            "agreement": _many("AgreementItemRef"),
            "billingAccount": _m("BillingAccountRef"),
            "realizingResource": _many("ResourceRef"),
            "realizingService": _many("ServiceRef"),
            "relatedParty": _many("RelatedParty"),
            "place": _many("RelatedPlace"),
        },
        v5_only=frozenset({"creationDate", "intent"}),
    ),
    "Characteristic": Shape("Characteristic", v5_only=frozenset({"characteristicRelationship"})),
    "ProductSpecificationRef": Shape("ProductSpecificationRef"),
    "ProductPrice": Shape(
        "ProductPrice",
        renames={"productPriceAlteration": "priceAlteration"},
        members={"price": _m("Price"), "productPriceAlteration": _many("PriceAlteration"), **_PRICE_REF},
        v4_only=frozenset({"billingAccount"}),
    ),
    "ProductTerm": Shape("ProductTerm", members={"duration": _m("Duration")}),
    "ProductRelationship": Shape("ProductRelationship", v4_only=frozenset({"product"})),
    "RelatedOrderItem": Shape(
        "RelatedOrderItem", renames={"productOrderId": "orderId", "productOrderHref": "orderHref"}
    ),
    "AgreementItemRef": Shape(
        "AgreementItemRef", renames={"id": "agreementId", "href": "agreementHref", "name": "agreementName"}
    ),
    "BillingAccountRef": Shape("BillingAccountRef", v5_only=frozenset({"ratingType"})),
    "ResourceRef": Shape("ResourceRef", v4_only=frozenset({"value"})),
    "ServiceRef": Shape("ServiceRef"),
}

# Members whose conversion is code, not table: (v4 shape → functions below).
SPECIAL = frozenset({"ContactMedium", "RelatedParty", "RelatedPlace", "Duration", "Product"})

# Contact media: v4 mediumType ↔ v5 @type, and which characteristic member each v5 type shows.
MEDIUM_TYPES = {"email": "EmailContactMedium", "phone": "PhoneContactMedium", "mobile": "PhoneContactMedium"}
V5_MEDIUM = {"EmailContactMedium": ("email", "emailAddress"), "PhoneContactMedium": ("phone", "phoneNumber")}
MEDIUM_SHOWN = ("contactType", "emailAddress", "phoneNumber")  # characteristic members with a v5 place
# A party (or place) reference: these v4 members move into v5's nested partyOrPartyRole (or place).
REF_MEMBERS = ("id", "href", "name", "@referredType")
PRODUCT_VALUE = frozenset(
    {
        "description",
        "isBundle",
        "isCustomerVisible",
        "orderDate",
        "productSerialNumber",
        "startDate",
        "terminationDate",
        "status",
        *SHAPES["Product"].members,
    }
)


# --- helpers --------------------------------------------------------------------------------------------


def match(previous: Any, index: int, element: Any, key: str = "id") -> dict | None:
    """The stored element a written array element replaces: same id, else same position."""
    if not isinstance(previous, list):
        return None
    if isinstance(element, dict) and key in element:
        here = previous[index] if index < len(previous) else None
        if isinstance(here, dict) and here.get(key) == element[key]:
            return here  # the same position first: ids may repeat
        for candidate in previous:
            if isinstance(candidate, dict) and candidate.get(key) == element[key]:
                return candidate
        return None
    candidate = previous[index] if index < len(previous) else None
    if isinstance(candidate, dict) and key in candidate:
        return None  # it had an id and this one has none: a new element
    return candidate if isinstance(candidate, dict) else None


def strip_retained(value: Any) -> Any:
    """`value` without any RETAINED member, at any depth (a copy)."""
    if isinstance(value, dict):
        return {k: strip_retained(v) for k, v in value.items() if k != RETAINED}
    if isinstance(value, list):
        return [strip_retained(v) for v in value]
    return value


def _retained(obj: dict) -> dict:
    kept = obj.get(RETAINED)
    return kept if isinstance(kept, dict) else {}


# --- v4 -------------------------------------------------------------------------------------------------


def to_v4(stored: dict) -> dict:
    """The v4 representation: the stored cart without what v4 does not define."""
    return {k: strip_retained(v) for k, v in stored.items() if k not in (RETAINED, *V5_ONLY_TOP)}


def from_v4(body: dict, previous: dict | None = None) -> dict:
    """A cart written through v4 → stored: what a v5 client stored that v4 cannot show is kept from the
    object it replaces (RETAINED members and the top-level v5-only members)."""
    cart = strip_retained(body)
    if previous is not None:
        _keep_retained("ShoppingCart", cart, previous)
        for key in V5_ONLY_TOP:
            if key in previous:
                cart[key] = previous[key]
    return cart


def _keep_retained(shape_name: str, obj: dict, previous: dict) -> None:
    if RETAINED in previous:
        obj[RETAINED] = copy.deepcopy(previous[RETAINED])
    if shape_name in ("ContactMedium", "RelatedParty", "RelatedPlace", "Duration"):
        return
    shape = SHAPES[shape_name]
    for name, member in shape.members.items():
        value, before = obj.get(name), previous.get(name)
        if member.many and isinstance(value, list):
            for index, element in enumerate(value):
                old = match(before, index, element)
                if isinstance(element, dict) and old is not None:
                    _keep_retained(member.shape, element, old)
        elif isinstance(value, dict) and isinstance(before, dict):
            _keep_retained(member.shape, value, before)


# --- stored → v5 ----------------------------------------------------------------------------------------


def to_v5(stored: dict) -> dict:
    """The v5 representation of a stored cart (every object typed, names and shapes of v5)."""
    cart = _object_to_v5("ShoppingCart", stored)
    for key in V5_ONLY_TOP:
        if key in stored:
            cart[key] = stored[key]
    return cart


def _convert_to_v5(shape_name: str, value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    if shape_name == "ContactMedium":
        return _contact_medium_to_v5(value)
    if shape_name in ("RelatedParty", "RelatedPlace"):
        return _related_to_v5(shape_name, value)
    if shape_name == "Duration":
        return _duration_to_v5(value)
    return _object_to_v5(shape_name, value)


def _object_to_v5(shape_name: str, obj: dict) -> dict:
    shape = SHAPES[shape_name]
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key in (RETAINED, *V5_ONLY_TOP) or key in shape.v4_only:
            continue
        member = shape.members.get(key)
        if member is not None and member.many and isinstance(value, list):
            converted: Any = [_convert_to_v5(member.shape, v) for v in value]
            if member.shape == "Duration":
                converted = [v for v in converted if v is not None]
        elif member is not None:
            converted = _convert_to_v5(member.shape, value)
            if converted is None:
                continue
        else:
            converted = strip_retained(value)
        out[shape.renames.get(key, key)] = converted
    for key, value in _retained(obj).items():
        if key in shape.v5_only or key == "@type":
            out[key] = copy.deepcopy(value)
    if shape_name == "Product" and "@type" not in out:
        out["@type"] = "Product" if PRODUCT_VALUE & set(obj) else "ProductRef"
    if shape_name == "ProductRelationship" and "id" not in out:
        product = obj.get("product")
        if isinstance(product, dict):
            out.update({k: product[k] for k in REF_MEMBERS if k in product})
    out.setdefault("@type", shape.v5_type)
    if out["@type"] not in _v5_types(shape_name):
        # A v4 client may type an object freely; v5 names its types in a discriminator. Shown as the v5 type,
        # the stored @type stays for v4 (and is taken back on a v5 write, `_object_from_v5`).
        out["@type"] = _filled_type(shape_name, obj)
    return out


def _v5_types(shape_name: str) -> frozenset[str]:
    """The @type values the v5 document's discriminator knows for this shape."""
    if shape_name == "Product":
        return frozenset({"Product", "ProductRef"})
    return frozenset({SHAPES[shape_name].v5_type})


def _contact_medium_to_v5(obj: dict) -> dict:
    kept = _retained(obj)
    characteristic = obj.get("characteristic") if isinstance(obj.get("characteristic"), dict) else {}
    medium = str(obj.get("mediumType", "")).lower()
    v5_type = MEDIUM_TYPES.get(medium)
    if v5_type is None:
        v5_type = kept.get("@type") if isinstance(kept.get("@type"), str) else None
    if v5_type is None and "mediumType" not in obj:  # an untyped v4 medium: its characteristic tells
        if "emailAddress" in characteristic:
            v5_type = "EmailContactMedium"
        elif "phoneNumber" in characteristic:
            v5_type = "PhoneContactMedium"
    v5_type = v5_type or "ContactMedium"
    out: dict[str, Any] = {"@type": v5_type}
    for key, value in obj.items():
        if key in ("mediumType", "characteristic", "@type", RETAINED):
            continue
        out[key] = strip_retained(value)
    for key in MEDIUM_SHOWN:
        if key in characteristic:
            out[key] = characteristic[key]
    for key, value in kept.items():
        if key != "@type":
            out[key] = copy.deepcopy(value)
    return out


def _related_to_v5(shape_name: str, obj: dict) -> dict:
    """v4 RelatedParty / RelatedPlaceRefOrValue → v5 RelatedPartyOrPartyRole / RelatedPlaceRefOrValue."""
    kept = _retained(obj)
    inner_key = "partyOrPartyRole" if shape_name == "RelatedParty" else "place"
    outer_type = "RelatedPartyOrPartyRole" if shape_name == "RelatedParty" else "RelatedPlaceRefOrValue"
    inner_default = "PartyRef" if shape_name == "RelatedParty" else "PlaceRef"
    inner = {k: obj[k] for k in REF_MEMBERS if k in obj}
    inner_kept = kept.get(inner_key) if isinstance(kept.get(inner_key), dict) else {}
    if inner_kept.get("@referredTypeDerived"):
        inner.pop("@referredType", None)
    inner.update({k: copy.deepcopy(v) for k, v in inner_kept.items() if k != "@referredTypeDerived"})
    inner.setdefault("@type", inner_default)
    out: dict[str, Any] = {"@type": kept.get("@type", outer_type)}
    for key, value in obj.items():
        if key in (*REF_MEMBERS, "@type", RETAINED):
            continue
        out[key] = strip_retained(value)
    if inner:
        out[inner_key] = inner
    return out


def _duration_to_v5(obj: dict) -> dict | None:
    """v4 Quantity → v5 Duration (integer amount); a fractional amount has no v5 form: not shown."""
    out = {k: v for k, v in obj.items() if k != RETAINED}
    amount = out.get("amount")
    if isinstance(amount, float):
        if not amount.is_integer():
            out.pop("amount")
        else:
            out["amount"] = int(amount)
    return out


# --- v5 → stored ----------------------------------------------------------------------------------------


def from_v5(body: dict, previous: dict | None = None) -> dict:
    """A cart written through v5 → stored (v4 shape). `previous`: the stored cart it replaces, whose
    v4-only data is kept. Server-owned members (totals, dates) are the services' business."""
    cart = _object_from_v5("ShoppingCart", strip_retained(body), previous)
    for key in V5_ONLY_TOP:
        if key in body:
            cart[key] = body[key]
    return cart


def _convert_from_v5(shape_name: str, value: Any, previous: Any) -> Any:
    previous = previous if isinstance(previous, dict) else None
    if not isinstance(value, dict):
        return value
    if shape_name == "ContactMedium":
        return _contact_medium_from_v5(value, previous)
    if shape_name in ("RelatedParty", "RelatedPlace"):
        return _related_from_v5(shape_name, value, previous)
    if shape_name == "Duration":
        return _duration_from_v5(value, previous)
    return _object_from_v5(shape_name, value, previous)


def _object_from_v5(shape_name: str, obj: dict, previous: dict | None) -> dict:
    shape = SHAPES[shape_name]
    v4_names = {v5: v4 for v4, v5 in shape.renames.items()}
    out: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for key, value in obj.items():
        name = v4_names.get(key, key)
        if key in shape.v5_only:
            kept[key] = value
            continue
        if key in shape.renames and key not in v4_names:
            continue  # the v4 spelling sent to v5 (e.g. ItemTotalPrice): not a v5 member
        member = shape.members.get(name)
        before = previous.get(name) if previous else None
        if member is not None and member.many and isinstance(value, list):
            out[name] = [
                _convert_from_v5(member.shape, v, match(before, i, _v4_identity(member.shape, v)))
                for i, v in enumerate(value)
            ]
        elif member is not None:
            out[name] = _convert_from_v5(member.shape, value, before)
        else:
            out[name] = value
    if previous:
        for key in shape.v4_only:
            if key in previous and key not in out:
                out[key] = copy.deepcopy(previous[key])
        if "@type" not in obj and "@type" in previous:
            out["@type"] = previous["@type"]
    filled = previous is not None and "@type" not in previous
    if filled and out.get("@type") == _filled_type(shape_name, previous):
        del out["@type"]  # the @type v5 showed for an untyped stored object: not the client's
    foreign = previous is not None and previous.get("@type") not in (None, *_v5_types(shape_name))
    if foreign and out.get("@type") == _filled_type(shape_name, previous):
        out["@type"] = previous["@type"]  # the v4 @type v5 showed as its own type: kept for v4
    if kept:
        out[RETAINED] = kept
    return out


def _filled_type(shape_name: str, stored: dict) -> str:
    """The @type `to_v5` shows for a stored object that has none."""
    if shape_name == "Product":
        return "Product" if PRODUCT_VALUE & set(stored) else "ProductRef"
    return SHAPES[shape_name].v5_type


def _v4_identity(shape_name: str, value: Any) -> Any:
    """What identifies a written v5 element among the stored (v4) ones, for `match`."""
    if not isinstance(value, dict):
        return value
    if shape_name == "RelatedParty":
        inner = value.get("partyOrPartyRole")
        return {"id": inner["id"]} if isinstance(inner, dict) and "id" in inner else {}
    if shape_name == "ContactMedium":
        return {}  # v4 contact media have no id: matched by position
    return value


def _contact_medium_from_v5(obj: dict, previous: dict | None) -> dict:
    before = previous or {}
    before_char = before.get("characteristic") if isinstance(before.get("characteristic"), dict) else {}
    v5_type = obj.get("@type")
    out: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    medium = V5_MEDIUM.get(v5_type, (None, None))[0] if isinstance(v5_type, str) else None
    previous_medium = before.get("mediumType")
    untyped_before = previous is not None and previous_medium is None
    if untyped_before and _contact_medium_to_v5(before)["@type"] == v5_type:
        pass  # v5 derived the type from the characteristic: the stored medium had no mediumType
    elif medium is not None:
        same = isinstance(previous_medium, str) and MEDIUM_TYPES.get(previous_medium.lower()) == v5_type
        out["mediumType"] = previous_medium if same else medium
    elif previous_medium is not None and MEDIUM_TYPES.get(str(previous_medium).lower()) is None:
        out["mediumType"] = previous_medium  # a v4 medium type v5 has no subtype for (postalAddress, …)
    if isinstance(v5_type, str) and v5_type not in V5_MEDIUM and v5_type != "ContactMedium":
        kept["@type"] = v5_type
    characteristic = {k: v for k, v in before_char.items() if k not in MEDIUM_SHOWN}
    for key, value in obj.items():
        if key in MEDIUM_SHOWN:
            characteristic[key] = value
        elif key == "id":
            kept[key] = value
        elif key != "@type":
            out[key] = value
    if characteristic or "characteristic" in before:
        out["characteristic"] = characteristic
    if "@type" in before:
        out["@type"] = before["@type"]
    if kept:
        out[RETAINED] = kept
    return out


def _related_from_v5(shape_name: str, obj: dict, previous: dict | None) -> dict:
    inner_key = "partyOrPartyRole" if shape_name == "RelatedParty" else "place"
    outer_type = "RelatedPartyOrPartyRole" if shape_name == "RelatedParty" else "RelatedPlaceRefOrValue"
    out: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    inner = obj.get(inner_key)
    for key, value in obj.items():
        if key == inner_key:
            continue
        if key == "@type":
            if value != outer_type:
                kept["@type"] = value
            continue
        out[key] = value
    if isinstance(inner, dict):
        inner_kept = {k: v for k, v in inner.items() if k not in REF_MEMBERS}
        out.update({k: inner[k] for k in REF_MEMBERS if k in inner})
        if "@referredType" not in inner and shape_name == "RelatedParty":
            # v4 requires @referredType: the party's own type stands in (PartyRef → Party), and is not
            # shown back in v5.
            inner_type = str(inner.get("@type", "Party"))
            out["@referredType"] = inner_type.removesuffix("Ref") or "Party"
            inner_kept["@referredTypeDerived"] = True
        if inner_kept.get("@type") == ("PartyRef" if shape_name == "RelatedParty" else "PlaceRef"):
            del inner_kept["@type"]  # the default to_v5 fills in
        if inner_kept:
            kept[inner_key] = inner_kept
    elif inner is not None:
        kept[inner_key] = inner
    if previous and "@type" in previous:
        out["@type"] = previous["@type"]
    if kept:
        out[RETAINED] = kept
    return out


def _duration_from_v5(obj: dict, previous: dict | None) -> dict:
    out = dict(obj)
    if previous and "amount" not in out and isinstance(previous.get("amount"), float):
        out["amount"] = previous["amount"]  # a fractional v4 amount v5 could not show
    return out


# --- paths: TMF630 filters and sorts on v5 names --------------------------------------------------------


def stored_path(path: tuple[str, ...]) -> tuple[str, ...]:
    """A dotted v5 attribute path → the stored one it is kept at (`cartItem.itemTotalPrice.name` →
    `cartItem.ItemTotalPrice.name`; `relatedParty.partyOrPartyRole.id` → `relatedParty.id`;
    `contactMedium.emailAddress` → `contactMedium.characteristic.emailAddress`; a v5-only member →
    its RETAINED place). Unknown names are left as they are (extension attributes)."""
    out: list[str] = []
    shape_name: str | None = "ShoppingCart"
    index = 0
    while index < len(path):
        segment = path[index]
        if shape_name == "ContactMedium":
            if segment in MEDIUM_SHOWN:
                out += ["characteristic", segment]
            elif segment == "id":
                out += [RETAINED, "id"]
            else:
                out.append(segment)
            shape_name = None
        elif shape_name in ("RelatedParty", "RelatedPlace"):
            inner_key = "partyOrPartyRole" if shape_name == "RelatedParty" else "place"
            if segment == inner_key and index + 1 < len(path):
                nxt = path[index + 1]
                out += [nxt] if nxt in REF_MEMBERS else [RETAINED, inner_key, nxt]
                index += 1
            else:
                out.append(segment)
            shape_name = None
        elif shape_name in SHAPES:
            shape = SHAPES[shape_name]
            v4_names = {v5: v4 for v4, v5 in shape.renames.items()}
            name = v4_names.get(segment, segment)
            if segment in shape.v5_only:
                out += [RETAINED, segment]
                shape_name = None
            else:
                out.append(name)
                member = shape.members.get(name)
                shape_name = member.shape if member else None
        else:
            out.append(segment)
        index += 1
    return tuple(out)
