"""The input rules of stores and orders, without database access: what the services store.

One table of fields (ORDER_FIELDS, LINE_FIELDS, STORE_FIELDS) says what each key is; the cleaning
below and the API's JSON schema (catalog/api/order_serializers.py) both derive from it. Errors are
keyed by the field's path in the item ("total", "lines[2].unit_price").

Money is exact: a Decimal (a JSON number as the API's parser reads it, from its text), a whole
number, or text such as "12.50" (the Splio Data API 1.9 sends some amounts as text). At most 19
digits before the point and 2 after, never negative. A float (what a plain json.loads gives a
caller in Python) is taken only when its shortest form has at most 15 significant digits, where it
is exactly the number its JSON text said; past that it is refused rather than rounded.

Dates are RFC 3339 with their offset, or the Splio Data API 1.9's "YYYY-MM-DD HH:MM:SS", read as
UTC. Years 1900 to 2199, stored in UTC.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

import pycountry
from django.db import connection

from contacts.contact_input import MAX_ID, MAX_LENGTHS
from events.event_input import parse_moment
from salloq.core.text import text_problem

from .models import MONEY, Order, OrderLine, OrderStatus, Store, StoreChannel

MAX_BATCH = 100
MAX_LINES = 500
MAX_CUSTOM_FIELDS = 50
CUSTOM_FIELD_VALUE_LENGTH = 1000
IDENTIFIER_LENGTH = 255
MONEY_INTEGER_DIGITS = MONEY["max_digits"] - MONEY["decimal_places"]
MONEY_PLACES = MONEY["decimal_places"]
MONEY_LIMIT = Decimal(10) ** MONEY_INTEGER_DIGITS
SQLITE_MONEY_LIMIT = Decimal(10) ** (15 - MONEY_PLACES)
CENT = Decimal("0.01")
_QUANTITY = OrderLine._meta.get_field("quantity")
QUANTITY_PLACES = _QUANTITY.decimal_places
QUANTITY_LIMIT = Decimal(10) ** (_QUANTITY.max_digits - _QUANTITY.decimal_places)
# A float is exactly the text it came from up to 15 significant digits.
FLOAT_DIGITS = 15
# Amounts and quantities as text: exactly these forms (no sign, no spaces, no exponent).
MONEY_TEXT = re.compile(rf"\d{{1,{MONEY_INTEGER_DIGITS}}}(\.\d{{1,{MONEY_PLACES}}})?")
QUANTITY_TEXT = re.compile(
    rf"\d{{1,{_QUANTITY.max_digits - _QUANTITY.decimal_places}}}(\.\d{{1,{_QUANTITY.decimal_places}}})?"
)
SPLIO_MOMENT = re.compile(r"(19|20|21)\d\d-\d\d-\d\d \d\d:\d\d:\d\d")
RFC_3339 = r"(19|20|21)\d\d-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)"
CURRENCIES = sorted(currency.alpha_3 for currency in pycountry.currencies)
COUNTRIES = sorted(country.alpha_2 for country in pycountry.countries)

# Kinds of field.
IDENTIFIER, TEXT, MONEY_KIND, BOOLEAN, COMPLETED, MOMENT, CURRENCY, COUNTRY, STATUS, CHANNEL = (
    "identifier",
    "text",
    "money",
    "boolean",
    "completed",
    "moment",
    "currency",
    "country",
    "status",
    "channel",
)
CONTACT_ID, EMAIL, CUSTOM, QUANTITY, LINES, STORE_REF = (
    "contact_id",
    "email",
    "custom",
    "quantity",
    "lines",
    "store_ref",
)


def _length(model, name: str) -> int:
    return model._meta.get_field(name).max_length


@dataclass(frozen=True)
class Spec:
    kind: str
    max_length: int | None = None
    nullable: bool = False
    description: str = ""
    blank: bool = True  # text: may be empty (or only spaces)


MONEY_DESCRIPTION = (
    f"Exact: a JSON number or text such as '12.50'; 0 or more, at most {MONEY_INTEGER_DIGITS} digits before "
    f"the point and {MONEY_PLACES} after."
)
MOMENT_DESCRIPTION = (
    "RFC 3339 with its offset (2024-01-15T10:30:00Z), or 'YYYY-MM-DD HH:MM:SS' (the Splio Data API 1.9) read as "
    "UTC; years 1900 to 2199."
)
CONTACT_FIELDS = {
    "contact_id": Spec(CONTACT_ID, description="The contact's id; wins over email and customer_id."),
    "email": Spec(EMAIL, description="The contact's email: found, else created."),
    "customer_id": Spec(
        IDENTIFIER,
        MAX_LENGTHS["external_id"],
        description="The shop's customer id (the contact's external_id): used when no email is given or found.",
    ),
    "first_name": Spec(TEXT, MAX_LENGTHS["first_name"], description="For a contact created or lacking one."),
    "last_name": Spec(TEXT, MAX_LENGTHS["last_name"], description="For a contact created or lacking one."),
    "phone": Spec(
        TEXT,
        MAX_LENGTHS["phone"],
        description="For a contact created or lacking one; kept as given when it is no valid number (555-0123).",
    ),
}
ORDER_TEXT = ("shipping_address", "shipping_city", "shipping_state", "shipping_zip")
ORDER_FIELDS: dict[str, Spec] = {
    "external_id": Spec(IDENTIFIER, _length(Order, "external_id"), description="The shop's order id (Splio's extid)."),
    **CONTACT_FIELDS,
    "store_id": Spec(
        STORE_REF, _length(Store, "external_id"), nullable=True, description="A store's external_id; null: none."
    ),
    "status": Spec(STATUS, description="Default: completed, or pending for an open cart."),
    "completed": Spec(
        COMPLETED,
        description="false (or 0, Splio's order_completed): an open cart. Default on create: true.",
    ),
    "currency": Spec(CURRENCY, description="ISO 4217, e.g. EUR."),
    "subtotal": Spec(MONEY_KIND, description=f"{MONEY_DESCRIPTION} Default on create: the sum of the line totals."),
    "tax": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "shipping": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "discount": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "total": Spec(
        MONEY_KIND,
        description=f"{MONEY_DESCRIPTION} Default on create: subtotal + tax + shipping - discount.",
    ),
    "placed_at": Spec(MOMENT, description=f"When the order was placed. {MOMENT_DESCRIPTION} Default: now."),
    "completed_at": Spec(
        MOMENT,
        description=(
            f"When it was completed. {MOMENT_DESCRIPTION} Default: placed_at for an order created completed, "
            "now when an open cart is completed."
        ),
    ),
    **{name: Spec(TEXT, _length(Order, name)) for name in ORDER_TEXT},
    "shipping_country": Spec(COUNTRY, description="ISO 3166-1 alpha-2, e.g. US."),
    **{name: Spec(TEXT, _length(Order, name)) for name in ("tracking_number", "promo_code", "salesperson")},
    "is_subscription": Spec(BOOLEAN),
    "custom_fields": Spec(CUSTOM),
    "lines": Spec(LINES, description=f"Up to {MAX_LINES} lines. When given, they replace all the order's lines."),
}
LINE_FIELDS: dict[str, Spec] = {
    "product_id": Spec(IDENTIFIER, _length(OrderLine, "product_external_id"), description="The shop's product id."),
    "product_name": Spec(TEXT, _length(OrderLine, "product_name")),
    "quantity": Spec(
        QUANTITY,
        description=f"0 or more, up to {QUANTITY_PLACES} decimals, below {QUANTITY_LIMIT}. Default 1.",
    ),
    "unit_price": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "discount": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "tax": Spec(MONEY_KIND, description=MONEY_DESCRIPTION),
    "line_total": Spec(
        MONEY_KIND, description=f"{MONEY_DESCRIPTION} Default: quantity x unit_price - discount, to the cent."
    ),
    "currency": Spec(CURRENCY, description="ISO 4217. Default: the order's."),
    "custom_fields": Spec(CUSTOM),
}
STORE_FIELDS: dict[str, Spec] = {
    "external_id": Spec(IDENTIFIER, _length(Store, "external_id"), description="The merchant's store id (extid)."),
    "name": Spec(TEXT, _length(Store, "name"), blank=False),
    "channel": Spec(CHANNEL, description="online or offline."),
    "store_type": Spec(TEXT, _length(Store, "store_type"), description="e.g. Flagship."),
    "manager": Spec(TEXT, _length(Store, "manager")),
    "custom_fields": Spec(CUSTOM),
}
# Order columns that are written as given (the other keys are references or lines).
ORDER_COLUMNS = tuple(
    name for name, spec in ORDER_FIELDS.items() if name not in CONTACT_FIELDS and spec.kind not in (LINES, STORE_REF)
)
MONEY_FIELDS = tuple(name for name, spec in ORDER_FIELDS.items() if spec.kind == MONEY_KIND)
REQUIRED = "This field is required."
NOT_NULL = "This field may not be null."
UNKNOWN = "Unknown field."


class InputError(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


@dataclass
class CleanOrder:
    external_id: str | None
    values: dict = field(default_factory=dict)  # Order columns given
    contact: dict | None = None  # a contact reference, when one was given
    store_given: bool = False
    store_id: str | None = None
    lines: list[dict] | None = None  # None: not given, the lines stay


def _add(errors: dict, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def exact_decimal(raw, text_form: re.Pattern = MONEY_TEXT) -> Decimal | None:
    """`raw` as an exact Decimal, or None when it is no number (or a float that lost digits); text
    must have `text_form`."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, Decimal):
        return raw if raw.is_finite() else None
    if isinstance(raw, int):
        return Decimal(raw) if raw.bit_length() <= 128 else None
    if isinstance(raw, float):
        text = repr(raw)
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
        if not value.is_finite() or len(value.as_tuple().digits) > FLOAT_DIGITS:
            return None
        return value
    if isinstance(raw, str):
        return Decimal(raw) if text_form.fullmatch(raw) else None
    return None


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def money(errors: dict, path: str, raw) -> Decimal | None:
    value = exact_decimal(raw)
    if value is None:
        _add(errors, path, "Must be an exact amount: a JSON number or text such as '12.50'.")
        return None
    if value < 0:
        _add(errors, path, "Must be 0 or more.")
    elif _places(value) > MONEY_PLACES:
        _add(errors, path, f"Must have at most {MONEY_PLACES} decimal places.")
    else:
        problem = money_problem(value)
        if problem is None:
            return value.quantize(CENT)
        _add(errors, path, problem)
    return None


def money_problem(value: Decimal) -> str | None:
    """Why an amount (of at most 2 decimal places) cannot be stored, or None."""
    if value >= MONEY_LIMIT:
        return f"Must have at most {MONEY_INTEGER_DIGITS} digits before the decimal point."
    # SQLite (the embedded default) keeps numbers as doubles: exact to 15 significant digits only.
    if connection.vendor == "sqlite" and value >= SQLITE_MONEY_LIMIT:
        return f"Must be below {SQLITE_MONEY_LIMIT} on SQLite, which keeps 15 significant digits (PostgreSQL: 10^19)."
    return None


def _quantity(errors: dict, path: str, raw) -> Decimal | None:
    value = exact_decimal(raw, QUANTITY_TEXT)
    if value is None:
        _add(errors, path, "Must be a number.")
    elif value < 0:
        _add(errors, path, "Must be 0 or more.")
    elif value >= QUANTITY_LIMIT:
        _add(errors, path, f"Must be below {QUANTITY_LIMIT}.")
    elif _places(value) > QUANTITY_PLACES:
        _add(errors, path, f"Must have at most {QUANTITY_PLACES} decimal places.")
    else:
        return value.quantize(Decimal(1).scaleb(-QUANTITY_PLACES))
    return None


def _text(errors: dict, path: str, raw, max_length: int, *, blank: bool = True) -> str | None:
    if not isinstance(raw, str):
        _add(errors, path, "Must be a string.")
        return None
    problem = text_problem(raw)
    if problem:
        _add(errors, path, problem)
        return None
    if len(raw) > max_length:
        _add(errors, path, f"Ensure this field has no more than {max_length} characters.")
        return None
    text = raw.strip()
    if not blank and not text:
        _add(errors, path, "This field may not be blank.")
        return None
    return text


def identifier(errors: dict, path: str, raw, max_length: int = IDENTIFIER_LENGTH) -> str | None:
    """An id as the shop sends it: a non-blank text (trimmed) or a whole number, stored as text."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not -MAX_ID <= raw <= MAX_ID:
            _add(errors, path, f"Must be a text or a whole number between -{MAX_ID} and {MAX_ID}.")
            return None
        return str(raw)
    if not isinstance(raw, str):
        _add(errors, path, "Must be a text or a whole number.")
        return None
    return _text(errors, path, raw, max_length, blank=False)


def parse_date_time(raw) -> datetime | None:
    """RFC 3339 (with its offset) or Splio's 'YYYY-MM-DD HH:MM:SS' as UTC; years 1900-2199; in UTC."""
    if isinstance(raw, str) and SPLIO_MOMENT.fullmatch(raw):
        try:
            return datetime.strptime(raw, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            return None
    return parse_moment(raw)


def _custom(errors: dict, path: str, raw) -> dict | None:
    """Custom fields by name: texts, whole numbers, true/false or null; a fractional number is kept as
    its exact text (custom fields are shown, not summed)."""
    if not isinstance(raw, dict):
        _add(errors, path, "Must be an object of field names to values.")
        return None
    if len(raw) > MAX_CUSTOM_FIELDS:
        _add(errors, path, f"At most {MAX_CUSTOM_FIELDS} fields.")
        return None
    clean = {}
    for key, value in raw.items():
        if value is None or isinstance(value, bool | int):
            clean[key] = value
        elif isinstance(value, Decimal | float):
            number = exact_decimal(value)
            if number is None:
                _add(errors, f"{path}.{key}", "Must be a finite number.")
            else:
                clean[key] = str(number)
        elif isinstance(value, str):
            text = _text(errors, f"{path}.{key}", value, CUSTOM_FIELD_VALUE_LENGTH)
            clean[key] = text
        else:
            _add(errors, f"{path}.{key}", "A custom field's value is a text, a number, true/false or null.")
    return clean


def _value(errors: dict, path: str, spec: Spec, raw):
    kind = spec.kind
    if raw is None:
        if spec.nullable:
            return None
        _add(errors, path, NOT_NULL)
        return None
    if kind in (IDENTIFIER, STORE_REF):
        return identifier(errors, path, raw, spec.max_length or IDENTIFIER_LENGTH)
    if kind == TEXT:
        return _text(errors, path, raw, spec.max_length, blank=spec.blank)
    if kind == MONEY_KIND:
        return money(errors, path, raw)
    if kind == QUANTITY:
        return _quantity(errors, path, raw)
    if kind == BOOLEAN:
        if not isinstance(raw, bool):
            _add(errors, path, "Must be true or false.")
        return raw
    if kind == COMPLETED:
        if raw in (0, 1) and not isinstance(raw, float | Decimal):
            return bool(raw)
        _add(errors, path, "Must be true or false (or 1 or 0, Splio's order_completed).")
        return None
    if kind == MOMENT:
        parsed = parse_date_time(raw)
        if parsed is None:
            _add(errors, path, "Must be a date-time: " + MOMENT_DESCRIPTION)
        return parsed
    if kind == CURRENCY:
        if raw not in CURRENCIES:
            _add(errors, path, "Must be an ISO 4217 currency code in capitals, e.g. EUR.")
        return raw
    if kind == COUNTRY:
        if raw != "" and raw not in COUNTRIES:
            _add(errors, path, "Must be an ISO 3166-1 alpha-2 country code in capitals, e.g. US (or empty).")
        return raw
    if kind == STATUS:
        if raw not in OrderStatus.values:
            _add(errors, path, f"Must be one of {', '.join(OrderStatus.values)}.")
        return raw
    if kind == CHANNEL:
        if raw not in StoreChannel.values:
            _add(errors, path, f"Must be one of {', '.join(StoreChannel.values)}.")
        return raw
    if kind == CONTACT_ID:
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= MAX_ID:
            _add(errors, path, "Must be a contact's id (a whole number of 1 or more).")
        return raw
    if kind == EMAIL:
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_LENGTHS["email"] or text_problem(raw):
            _add(errors, path, "Enter a valid email address.")
        return raw  # normalized and validated by catalog.customers
    if kind == CUSTOM:
        return _custom(errors, path, raw)
    raise AssertionError(kind)


def _known(errors: dict, raw: dict, fields: dict[str, Spec], prefix: str = "") -> None:
    for key in raw:
        if key not in fields:
            _add(errors, f"{prefix}{key}", UNKNOWN)


def clean_order(raw, *, external_id: str | None = None) -> CleanOrder:
    """An order or open cart as given (only the keys present). `external_id` is the one in the URL:
    the body may leave it out or repeat it. InputError names every field at fault."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise InputError({"non_field_errors": ["An order is a JSON object."]})
    _known(errors, raw, ORDER_FIELDS)
    order = CleanOrder(external_id=external_id)
    if "external_id" in raw:
        given = _value(errors, "external_id", ORDER_FIELDS["external_id"], raw["external_id"])
        if external_id is not None and given is not None and given != external_id:
            _add(errors, "external_id", "Must be the one in the URL (the external id cannot be changed).")
        order.external_id = given
    elif external_id is None:
        _add(errors, "external_id", REQUIRED)
    contact = {}
    for name in CONTACT_FIELDS:
        if name in raw:
            contact[name] = _value(errors, name, ORDER_FIELDS[name], raw[name])
    if any(contact.get(name) is not None for name in ("contact_id", "email", "customer_id")):
        order.contact = contact
    elif contact and not errors:
        _add(errors, "contact_id", "Names and a phone come with the contact's contact_id, email or customer_id.")
    if "store_id" in raw:
        order.store_given = True
        order.store_id = _value(errors, "store_id", ORDER_FIELDS["store_id"], raw["store_id"])
    for name in ORDER_COLUMNS:
        if name in raw and name != "external_id":
            order.values[name] = _value(errors, name, ORDER_FIELDS[name], raw[name])
    if "lines" in raw:
        order.lines = _lines(errors, raw["lines"])
    if order.values.get("completed") is False and order.values.get("completed_at") is not None:
        _add(errors, "completed_at", "An open cart (completed false) has no completed_at.")
    if errors:
        raise InputError(errors)
    return order


def _lines(errors: dict, raw) -> list[dict] | None:
    if not isinstance(raw, list):
        _add(errors, "lines", "Must be a list of lines.")
        return None
    if len(raw) > MAX_LINES:
        _add(errors, "lines", f"At most {MAX_LINES} lines per order ({len(raw)} sent).")
        return None
    lines = []
    for index, item in enumerate(raw):
        path = f"lines[{index}]"
        if not isinstance(item, dict):
            _add(errors, path, "A line is an object.")
            continue
        _known(errors, item, LINE_FIELDS, f"{path}.")
        if "product_id" not in item:
            _add(errors, f"{path}.product_id", REQUIRED)
        line = {
            name: _value(errors, f"{path}.{name}", LINE_FIELDS[name], value)
            for name, value in item.items()
            if name in LINE_FIELDS
        }
        line.setdefault("quantity", Decimal(1))
        for name in ("unit_price", "discount", "tax"):
            line.setdefault(name, Decimal("0.00"))
        if (
            "line_total" not in line
            and isinstance(line["quantity"], Decimal)
            and isinstance(line["unit_price"], Decimal)
        ):
            try:
                total = (line["quantity"] * line["unit_price"] - (line["discount"] or 0)).quantize(CENT)
            except InvalidOperation:  # a product past the decimal context's 28 digits
                total = None
            if total is None or total < 0 or money_problem(total):
                _add(errors, f"{path}.line_total", "quantity x unit_price - discount is out of range: send line_total.")
            line["line_total"] = total
        lines.append(line)
    return lines


def clean_store(raw, *, external_id: str | None = None, partial: bool) -> dict:
    """A store's fields as given. Creating needs external_id and name (`partial` False); an update
    (`partial`) takes any of them. InputError names every field at fault."""
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise InputError({"non_field_errors": ["A store is a JSON object."]})
    _known(errors, raw, STORE_FIELDS)
    values = {name: _value(errors, name, STORE_FIELDS[name], raw[name]) for name in raw if name in STORE_FIELDS}
    if external_id is not None:
        if values.get("external_id") not in (None, external_id):
            _add(errors, "external_id", "Must be the one in the URL (the external id cannot be changed).")
        values["external_id"] = external_id
    elif "external_id" not in raw:
        _add(errors, "external_id", REQUIRED)
    if not partial and "name" not in raw:
        _add(errors, "name", REQUIRED)
    if errors:
        raise InputError(errors)
    return values
