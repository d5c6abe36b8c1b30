"""A product as SALESmanago API v3 takes it (product/upsert), checked field by field with its limits
and its reason codes, before anything is stored. catalog.services.products writes what this returns;
the API's schema and the README read the same FIELDS.

Over-long text is either trimmed (stored cut, with a warning: reason 12, the request still succeeds)
or refused (reason 11). Trimmed: prose and descriptive details, whose first characters keep their
meaning (SALESmanago says most functionalities use only the first 1024 characters of a description
anyway): description, brand, manufacturer, season, color and custom detail values. Refused: what
identifies or links something, where a cut value would be another (product id, name, categories,
category external id, slug) or a broken link (product and image URLs).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import IntEnum
from typing import Any

from django.db import connection

from .models import Product, ProductGender


class Reason(IntEnum):
    """SALESmanago API v3's reason codes of errors and warnings."""

    EXCEEDS_LIMIT = 11
    TRIMMED = 12  # a warning: the value was stored cut
    MISSING = 13
    WRONG_TYPE = 14
    NOT_UNIQUE = 15
    UNKNOWN = 16
    NULL = 17
    STRUCTURE = 18
    ABOVE_RESOURCE_LIMIT = 19


# Django ValidationError codes the catalog's services raise, and the reason each stands for. "unique"
# is also what salloq.core.api.service_errors turns into a 409.
REASON_BY_CODE = {
    "exceeds_limit": Reason.EXCEEDS_LIMIT,
    "required": Reason.MISSING,
    "invalid_type": Reason.WRONG_TYPE,
    "unique": Reason.NOT_UNIQUE,
    "not_found": Reason.UNKNOWN,
    "null": Reason.NULL,
    "structure": Reason.STRUCTURE,
    "resource_limit": Reason.ABOVE_RESOURCE_LIMIT,
}
CODE_BY_REASON = {reason: code for code, reason in REASON_BY_CODE.items()}

MAX_BATCH = 100  # products per request (SALESmanago's limit)
MAX_LIST_ITEMS = 5  # categories, image_urls, custom_details keys
# SALESmanago's prices: up to 19 digits before the decimal point and 2 after.
MONEY_INTEGER_DIGITS = 19
MONEY_DECIMAL_PLACES = 2
MONEY_LIMIT = Decimal(10) ** MONEY_INTEGER_DIGITS
CENT = Decimal("0.01")
SQLITE_MONEY_LIMIT = Decimal(10) ** (15 - MONEY_DECIMAL_PLACES)
INT32 = 2**31 - 1
CUSTOM_DETAIL_LENGTH = 255
GENDERS = frozenset(ProductGender.values)


@dataclass(frozen=True)
class FieldSpec:
    kind: str  # text, url, text_list, url_list, bool, int, money, gender, details
    max_length: int | None = None
    required: bool = False
    trim: bool = False  # over-long text is stored cut with a warning instead of refused
    nullable: bool = True  # null (for an optional field) clears it
    minimum: int | None = None
    maximum: int | None = None


FIELDS: dict[str, FieldSpec] = {
    "product_id": FieldSpec("text", 255, required=True),
    "name": FieldSpec("text", 255, required=True),
    "main_category": FieldSpec("text", 255, required=True),
    "category_external_id": FieldSpec("text", 255),
    "categories": FieldSpec("text_list", 255),
    "description": FieldSpec("text", 16384, trim=True),
    "product_url": FieldSpec("url", 2048, required=True),
    "main_image_url": FieldSpec("url", 2048),
    "image_urls": FieldSpec("url_list", 2048),
    "available": FieldSpec("bool", required=True),
    "active": FieldSpec("bool", nullable=False),
    "quantity": FieldSpec("int", minimum=-INT32 - 1, maximum=INT32),
    "price": FieldSpec("money", required=True),
    "discount_price": FieldSpec("money"),
    "unit_price": FieldSpec("money"),
    "brand": FieldSpec("text", 255, trim=True),
    "manufacturer": FieldSpec("text", 100, trim=True),
    "season": FieldSpec("text", 40, trim=True),
    "color": FieldSpec("text", 40, trim=True),
    "popularity": FieldSpec("int", minimum=0, maximum=100),
    "gender": FieldSpec("gender", nullable=False),
    "bestseller": FieldSpec("bool", nullable=False),
    "new_product": FieldSpec("bool", nullable=False),
    "custom_details": FieldSpec("details", CUSTOM_DETAIL_LENGTH),
    "slug": FieldSpec("text", 255),
    "stock_qty": FieldSpec("int", minimum=-INT32 - 1, maximum=INT32),
    "subscription_enabled": FieldSpec("bool", nullable=False),
}
FIELD_NAMES = frozenset(FIELDS)
REQUIRED = tuple(name for name, spec in FIELDS.items() if spec.required)
# The value an optional field gets on a new product, and when null clears it.
EMPTY = {
    "text": "",
    "url": "",
    "text_list": [],
    "url_list": [],
    "details": {},
    "int": None,
    "money": None,
}

# An absolute http(s) URL (SALESmanago checks URLs with Apache's UrlValidator): a domain name whose
# top-level label is letters (any alphabet) or punycode, localhost, an IPv4 address or a bracketed
# IPv6 one; an optional port; no spaces or control characters. Django's URLValidator says about the
# same at several times the cost, too slow for the 500 URLs of a batch.
_LABEL = "[0-9a-z\u00a1-\uffff](?:[0-9a-z\u00a1-\uffff-]{0,61}[0-9a-z\u00a1-\uffff])?"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HOST = (
    f"(?:{_LABEL}\\.)+(?:[a-z\u00a1-\uffff]{{2,63}}|xn--[a-z0-9]{{1,59}})\\.?"
    f"|localhost|{_OCTET}(?:\\.{_OCTET}){{3}}|\\[[0-9a-f:.]+\\]"
)
URL_PATTERN = re.compile(
    f"https?://(?:[^\\s/?#@]+@)?(?:{_HOST})(?::(?P<port>[0-9]{{1,5}}))?(?:[/?#][^\\s\\x00-\\x1f\\x7f]*)?",
    re.IGNORECASE,
)


class _Refused(Exception):
    def __init__(self, reason: Reason, message: str):
        self.reason = reason
        self.message = message


@dataclass
class ProductInput:
    """One item, checked: `values` holds the fields given (model field names), ready to store."""

    index: int
    product_id: str | None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)
    reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)

    def refuse(self, name: str, reason: Reason, message: str) -> None:
        self.errors.setdefault(name, []).append(message)
        self.reasons.setdefault(name, int(reason))

    @property
    def reason(self) -> int | None:
        """The item's reason code: that of its first refused field."""
        return next(iter(self.reasons.values()), None)


def parse_product(index: int, raw: Any) -> ProductInput:
    """Check one item of a batch against SALESmanago API v3's limits."""
    if not isinstance(raw, dict):
        parsed = ProductInput(index, None)
        parsed.refuse("product", Reason.WRONG_TYPE, "Each product is an object of fields.")
        return parsed
    product_id = raw.get("product_id")
    parsed = ProductInput(index, product_id if isinstance(product_id, str) else None)
    if not FIELD_NAMES.issuperset(raw):
        for name in sorted(set(raw) - FIELD_NAMES):
            parsed.refuse(name, Reason.STRUCTURE, "Unknown field.")
    for name, spec in FIELDS.items():
        if name not in raw:
            if spec.required:
                parsed.refuse(name, Reason.MISSING, "This field is required.")
            continue
        value = raw[name]
        if value is None:
            if spec.required:
                parsed.refuse(name, Reason.NULL, "This field is required and cannot be null.")
            elif spec.nullable:
                parsed.values[name] = EMPTY.get(spec.kind)
            else:
                parsed.refuse(name, Reason.NULL, "This field cannot be null.")
            continue
        # The common case of each kind, without a call: text or a URL within its limit, a boolean, an
        # integer within its range, a gender, a price of at most two decimals, lists and details
        # within their limits (a batch of 100 products has 2,700 values to check). Anything else,
        # valid or not, goes through _check, which answers alike for what is taken here
        # (tests/catalog/test_product_input_oracle.py).
        kind = value.__class__
        field_kind = spec.kind
        if kind is str:
            if (
                (field_kind == "text" or field_kind == "url")
                and len(value) <= spec.max_length
                and (field_kind == "text" or (value and _is_url(value)))
                and (not spec.required or value.strip())
            ):
                parsed.values[name] = value
                continue
        elif kind is bool:
            if field_kind == "bool":
                parsed.values[name] = value
                continue
        elif kind is int:
            if (field_kind == "int" and spec.minimum <= value <= spec.maximum) or (
                field_kind == "gender" and value in GENDERS
            ):
                parsed.values[name] = value
                continue
        elif kind is Decimal:
            # Below SQLite's limit (itself below MONEY_LIMIT): what money() takes on any database.
            if field_kind == "money" and value.is_finite() and 0 <= value < SQLITE_MONEY_LIMIT:
                cents = value.quantize(CENT)
                if cents == value:
                    parsed.values[name] = cents
                    continue
        elif kind is list:
            if (
                (field_kind == "text_list" or field_kind == "url_list")
                and len(value) <= MAX_LIST_ITEMS
                and all(
                    item.__class__ is str
                    and len(item) <= spec.max_length
                    and item.strip()
                    and (field_kind == "text_list" or _is_url(item))
                    for item in value
                )
            ):
                parsed.values[name] = list(value)
                continue
        elif kind is dict and (
            field_kind == "details"
            and len(value) <= MAX_LIST_ITEMS
            and all(
                key.__class__ is str
                and detail.__class__ is str
                and len(key) <= spec.max_length
                and len(detail) <= spec.max_length
                and key.strip()
                for key, detail in value.items()
            )
        ):
            parsed.values[name] = dict(value)
            continue
        try:
            parsed.values[name] = _check(name, spec, value, parsed)
        except _Refused as refused:
            parsed.refuse(name, refused.reason, refused.message)
    if parsed.errors:
        parsed.values = {}
    return parsed


def _check(name: str, spec: FieldSpec, value: Any, parsed: ProductInput) -> Any:
    kind = spec.kind
    if kind in ("text", "url"):
        text = _text(spec, value, parsed, name)
        if spec.required and not text.strip():
            raise _Refused(Reason.MISSING, "This field is required and cannot be blank.")
        if kind == "url" and text:
            _url(text)
        return text
    if kind in ("text_list", "url_list"):
        return _text_list(spec, value, is_url=kind == "url_list")
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Refused(Reason.WRONG_TYPE, "Must be true or false.")
        return value
    if kind == "int":
        return _integer(spec, value)
    if kind == "money":
        return money(value)
    if kind == "gender":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Refused(Reason.WRONG_TYPE, "Must be an integer.")
        if value not in GENDERS:
            raise _Refused(Reason.STRUCTURE, f"Must be one of {', '.join(map(str, ProductGender.values))}.")
        return value
    return _details(spec, value, parsed, name)


def _text(spec: FieldSpec, value: Any, parsed: ProductInput, name: str) -> str:
    if not isinstance(value, str):
        raise _Refused(Reason.WRONG_TYPE, "Must be a string.")
    if spec.max_length is not None and len(value) > spec.max_length:
        if not spec.trim:
            raise _Refused(Reason.EXCEEDS_LIMIT, f"Longer than {spec.max_length} characters ({len(value)}).")
        parsed.warnings.setdefault(name, []).append(
            f"Longer than {spec.max_length} characters ({len(value)}): stored trimmed to {spec.max_length}."
        )
        value = value[: spec.max_length]
    return value


def _url(text: str) -> None:
    if not _is_url(text):
        raise _Refused(Reason.STRUCTURE, "Must be an absolute http(s) URL.")


# URL_PATTERN's scheme, user, host and port can hold none of "/?#", so a URL it takes is the scheme
# and authority up to the first of them (or the end), each URL of a shop naming the same few, then
# a rest that is empty or "/", "?" or "#" and no whitespace or control character. _is_url checks
# each authority with URL_PATTERN once per process (a batch holds 500 URLs of the same shop) and
# the rest with the simple pattern: the same answer as URL_PATTERN on the whole URL.
_URL_AUTHORITY = re.compile(r"https?://[^/?#]*", re.IGNORECASE)
_URL_REST = re.compile(r"(?:[/?#][^\s\x00-\x1f\x7f]*)?")
_checked_authorities: dict[str, bool] = {}
CHECKED_AUTHORITIES_MAX = 4096
CHECKED_AUTHORITY_LENGTH = 255


def _is_whole_url(text: str) -> bool:
    match = URL_PATTERN.fullmatch(text)
    return match is not None and (match["port"] is None or int(match["port"]) <= 65535)


def _is_url(text: str) -> bool:
    start = _URL_AUTHORITY.match(text)
    if start is None:
        return False
    authority = start.group()
    valid = _checked_authorities.get(authority)
    if valid is None:
        valid = _is_whole_url(authority)
        if len(authority) <= CHECKED_AUTHORITY_LENGTH:
            if len(_checked_authorities) >= CHECKED_AUTHORITIES_MAX:
                _checked_authorities.clear()
            _checked_authorities[authority] = valid
    return valid and _URL_REST.fullmatch(text, start.end()) is not None


def _text_list(spec: FieldSpec, value: Any, *, is_url: bool) -> list[str]:
    if not isinstance(value, list):
        raise _Refused(Reason.WRONG_TYPE, "Must be a list of strings.")
    if len(value) > MAX_LIST_ITEMS:
        raise _Refused(Reason.EXCEEDS_LIMIT, f"At most {MAX_LIST_ITEMS} items ({len(value)} sent).")
    for position, item in enumerate(value):
        if not isinstance(item, str):
            raise _Refused(Reason.WRONG_TYPE, f"Item {position} must be a string.")
        if not item.strip():
            raise _Refused(Reason.STRUCTURE, f"Item {position} is blank.")
        if len(item) > spec.max_length:
            raise _Refused(
                Reason.EXCEEDS_LIMIT, f"Item {position} is longer than {spec.max_length} characters ({len(item)})."
            )
        if is_url:
            try:
                _url(item)
            except _Refused as refused:
                raise _Refused(refused.reason, f"Item {position}: {refused.message}") from None
    return list(value)


def _integer(spec: FieldSpec, value: Any) -> int:
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)  # 3.0 is the integer 3 as JSON writes it
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(Reason.WRONG_TYPE, "Must be an integer.")
    if not spec.minimum <= value <= spec.maximum:
        raise _Refused(Reason.EXCEEDS_LIMIT, f"Must be between {spec.minimum} and {spec.maximum}.")
    return value


def money(value: Any) -> Decimal:
    """A price as an exact Decimal: at most 19 digits before the decimal point and 2 after, not negative.

    The API reads JSON numbers as Decimals from their text; a float (an internal caller's JSON) is
    read from its shortest repr, the number its JSON text said."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise _Refused(Reason.WRONG_TYPE, "Must be a number.")
    try:
        amount = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError):
        raise _Refused(Reason.WRONG_TYPE, "Must be a number.") from None
    if not amount.is_finite():
        raise _Refused(Reason.WRONG_TYPE, "Must be a finite number.")
    if amount < 0:
        raise _Refused(Reason.EXCEEDS_LIMIT, "Must not be negative.")
    if amount >= MONEY_LIMIT:
        raise _Refused(Reason.EXCEEDS_LIMIT, f"At most {MONEY_INTEGER_DIGITS} digits before the decimal point.")
    # SQLite (the embedded default) keeps numbers as doubles: exact to 15 significant digits only.
    if amount >= SQLITE_MONEY_LIMIT and connection.vendor == "sqlite":
        raise _Refused(
            Reason.EXCEEDS_LIMIT, f"Must be below {SQLITE_MONEY_LIMIT} on SQLite, which keeps 15 significant digits."
        )
    # Exact within the context's 28 digits: the amount is below 10**19 here.
    cents = amount.quantize(CENT)
    if cents != amount:  # a third decimal that is not zero
        raise _Refused(Reason.EXCEEDS_LIMIT, f"At most {MONEY_DECIMAL_PLACES} digits after the decimal point.")
    return cents


def _details(spec: FieldSpec, value: Any, parsed: ProductInput, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Refused(Reason.WRONG_TYPE, "Must be an object of text values.")
    if len(value) > MAX_LIST_ITEMS:
        raise _Refused(Reason.EXCEEDS_LIMIT, f"At most {MAX_LIST_ITEMS} keys ({len(value)} sent).")
    details = {}
    for key, detail in value.items():
        if not key.strip() or len(key) > spec.max_length:
            raise _Refused(Reason.STRUCTURE, f"Keys are 1 to {spec.max_length} characters.")
        if not isinstance(detail, str):
            raise _Refused(Reason.WRONG_TYPE, f"The value of '{key[:40]}' must be a string.")
        if len(detail) > spec.max_length:
            parsed.warnings.setdefault(name, []).append(
                f"The value of '{key[:40]}' is longer than {spec.max_length} characters ({len(detail)}): "
                f"stored trimmed to {spec.max_length}."
            )
            detail = detail[: spec.max_length]
        details[key] = detail
    return details


def product_defaults() -> dict[str, Any]:
    """The stored value of each optional field of a new product that leaves it out."""
    defaults = {}
    for name, spec in FIELDS.items():
        if spec.required:
            continue
        model_default = Product._meta.get_field(name).get_default()
        defaults[name] = model_default
    return defaults


def _max_length_schema(spec: FieldSpec) -> dict:
    return {"maxLength": spec.max_length} if spec.max_length and not spec.trim else {}


def field_schema(name: str) -> dict:
    """The JSON Schema of one field, as the description of the batch's items states it."""
    spec = FIELDS[name]
    if spec.kind in ("text", "url"):
        schema = {"type": "string", **_max_length_schema(spec)}
        if spec.kind == "url":
            schema["format"] = "uri"
    elif spec.kind in ("text_list", "url_list"):
        schema = {
            "type": "array",
            "maxItems": MAX_LIST_ITEMS,
            "items": {"type": "string", "maxLength": spec.max_length},
        }
    elif spec.kind == "bool":
        schema = {"type": "boolean"}
    elif spec.kind in ("int", "gender"):
        schema = {"type": "integer"}
        if spec.kind == "gender":
            schema["enum"] = list(ProductGender.values)
        else:
            schema.update(minimum=spec.minimum, maximum=spec.maximum)
    elif spec.kind == "money":
        schema = {"type": "number", "minimum": 0, "multipleOf": 0.01}
    else:
        schema = {"type": "object", "maxProperties": MAX_LIST_ITEMS, "additionalProperties": {"type": "string"}}
    if spec.trim:
        schema["description"] = f"Up to {spec.max_length} characters; longer is stored trimmed (warning, reason 12)."
    return schema


def product_item_schema() -> dict:
    return {
        "type": "object",
        "required": list(REQUIRED),
        "properties": {name: field_schema(name) for name in FIELDS},
    }
