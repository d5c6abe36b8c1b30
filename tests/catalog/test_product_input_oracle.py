"""parse_product takes the common shape of each field without a call; every other value goes through
_check. The shortcut must answer exactly as _check would: the same values (same types, a price with
the same exponent), errors, reason codes and warnings, for any item. The oracle here is
parse_product's loop with every value given to _check."""

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalog.product_input import EMPTY, FIELDS, ProductInput, Reason, _check, _Refused, parse_product

pytestmark = pytest.mark.django_db  # money() asks the connection which database it is


def general_path(index: int, raw) -> ProductInput:
    """parse_product's loop with no shortcut: each given value through _check."""
    if not isinstance(raw, dict):
        parsed = ProductInput(index, None)
        parsed.refuse("product", Reason.WRONG_TYPE, "Each product is an object of fields.")
        return parsed
    product_id = raw.get("product_id")
    parsed = ProductInput(index, product_id if isinstance(product_id, str) else None)
    for name in sorted(set(raw) - set(FIELDS)):
        parsed.refuse(name, Reason.STRUCTURE, "Unknown field.")
    for name, spec in FIELDS.items():
        if name not in raw:
            if spec.required:
                parsed.refuse(name, Reason.MISSING, "This field is required.")
        elif raw[name] is None:
            if spec.required:
                parsed.refuse(name, Reason.NULL, "This field is required and cannot be null.")
            elif spec.nullable:
                parsed.values[name] = EMPTY.get(spec.kind)
            else:
                parsed.refuse(name, Reason.NULL, "This field cannot be null.")
        else:
            try:
                parsed.values[name] = _check(name, spec, raw[name], parsed)
            except _Refused as refused:
                parsed.refuse(name, refused.reason, refused.message)
    if parsed.errors:
        parsed.values = {}
    return parsed


def answer(parsed: ProductInput) -> tuple:
    # repr: a value's type and, for a Decimal, its exponent count too ("79.90" is not "79.9").
    return (
        parsed.product_id,
        repr(sorted(parsed.values.items())),
        sorted(parsed.errors.items()),
        sorted(parsed.reasons.items()),
        sorted(parsed.warnings.items()),
    )


URL_HOSTS = st.sampled_from(["https://example.com", "http://shop.example.pl:8080", "https://bad host", "ftp://x.y"])
URLS = st.one_of(
    st.builds(lambda host, path: host + path, URL_HOSTS, st.sampled_from(["", "/", "/a b", "/media/x.jpg", "?q=1"])),
    st.text(max_size=20),
)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**40), max_value=2**40),
    st.sampled_from([0, 1, 2, 3, 4, 5, 100, 101, -1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=-1, max_value=Decimal("1e14"), places=3),
    st.sampled_from([Decimal("29.99"), Decimal("29.990"), Decimal("29.999"), Decimal("-0.00"), Decimal("1E+2")]),
    st.sampled_from([Decimal("9999999999999.99"), Decimal("10000000000000"), Decimal("1e19"), Decimal("sNaN")]),
    st.floats(),
    st.booleans(),
)


def texts(limit: int):
    """Text around a field's limit: within, at, one over; blank; any."""
    return st.one_of(
        st.text(max_size=12),
        st.sampled_from(["", " ", "\t", "White t-shirt", "x" * (limit - 1), "x" * limit, "x" * (limit + 1)]),
        st.sampled_from(["x" * limit, "x" * (limit + 1), " " * limit]),
    )


def lists(items):
    # Mostly lists the shortcut could take, so that one item over a limit is what decides.
    return st.one_of(st.lists(items, max_size=2), st.lists(st.one_of(items, NUMBERS, st.none()), max_size=6))


def value_for(name: str):
    """Mostly the field's own kind, near its limits; sometimes any other value."""
    spec = FIELDS[name]
    limit = spec.max_length or 255
    own = {
        "text": texts(limit),
        "url": URLS,
        "text_list": lists(texts(limit)),
        "url_list": lists(URLS),
        "bool": st.booleans(),
        "int": NUMBERS,
        "money": NUMBERS,
        "gender": st.one_of(st.integers(-1, 5), NUMBERS),
        "details": st.dictionaries(texts(limit), st.one_of(texts(limit), texts(limit), NUMBERS), max_size=6),
    }[spec.kind]
    anything = st.one_of(texts(20), URLS, NUMBERS, lists(texts(20)), st.dictionaries(texts(20), texts(20)), st.none())
    return st.one_of(own, own, own, anything)


@st.composite
def items(draw):
    item = {name: draw(value_for(name)) for name in FIELDS if draw(st.integers(0, 5))}
    if draw(st.integers(0, 9)) == 0:
        item["unknown_field"] = draw(value_for("name"))
    return item


# Each shortcut's edges, always tried besides the random items: one past each limit it checks.
EDGES = [
    {"categories": ["x" * 255, "y" * 256]},
    {"categories": ["Winter", " "]},
    {"categories": ["a", "b", "c", "d", "e", "f"]},
    {"image_urls": ["https://example.com/1.jpg", "https://bad host/2.jpg"]},
    {"image_urls": ["https://example.com/" + "x" * 2029]},
    {"custom_details": {"detail1": "x" * 256}},
    {"custom_details": {" ": "linen"}},
    {"custom_details": {"k" * 256: "linen"}},
    {"custom_details": {"detail1": 5}},
    {"price": Decimal("29.999"), "discount_price": Decimal("-0.01"), "unit_price": Decimal("9999999999999.99")},
    {"price": Decimal("10000000000000"), "discount_price": Decimal("1E+2"), "unit_price": Decimal("NaN")},
    {"gender": 5, "popularity": 101, "quantity": 2**31, "stock_qty": -(2**31) - 1},
    {"gender": True, "popularity": 100, "quantity": -(2**31), "stock_qty": 2**31 - 1},
]


def edge_examples(test):
    for edge in EDGES:
        test = example(edge)(test)
    return test


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items())
@edge_examples
def test_the_shortcuts_answer_as_the_general_checks_on_any_item(item):
    assert answer(parse_product(3, item)) == answer(general_path(3, item))


def test_the_oracle_sees_the_common_shapes():
    """The shapes the shortcuts take, each answered alike (and taken: no errors)."""
    item = {
        "product_id": "SKU-1",
        "name": "White t-shirt",
        "main_category": "t-shirts",
        "categories": ["Winter collection", "Linen products"],
        "product_url": "https://example.com/shop/1",
        "image_urls": ["https://example.com/media/1.jpg"],
        "available": True,
        "quantity": 90,
        "price": Decimal("29.99"),
        "discount_price": Decimal("19.9"),
        "gender": 4,
        "custom_details": {"detail1": "linen"},
    }
    fast = parse_product(0, item)
    assert not fast.errors and fast.values["discount_price"].as_tuple().exponent == -2
    assert answer(fast) == answer(general_path(0, item))
