"""The input rules of an event, without any database access: what record_events stores.

Three shapes are accepted and become one `CleanEvent`:
- the Salloq Marketing API: {"event_type": "order_placed", "event_data": {...}}, a documented type whose required
  data is checked (EVENT_TYPES), or a custom lower-case type (CUSTOM_TYPE_PATTERN);
- an upper-case type (SALESmanago API v3's PURCHASE, CART, VISIT, LOCATION_ENTRY or any other) in the same
  shape, whose event_data may carry details, parameters, value and currency;
- SALESmanago API v3's own body: {"contact": {"email": ...}, "event": {"type": "PURCHASE", "details": ...,
  "parameters": {...}, "value": 99.99, "currency": "EUR"}} (apiKey/apiSecret/owner are ignored and
  never stored: the API key in the Authorization header is the authentication here).

Errors are keyed by the field's path in the item ("event_data.total", "event.value").
"""

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from contacts.contact_input import MAX_LENGTHS, normalize_email
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.text import text_problem

# A merchant's own event types: lower-case snake case, e.g. loyalty_tier_changed.
CUSTOM_TYPE_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
# SALESmanago API v3's external event types: upper-case, e.g. PURCHASE, CART, VISIT, LOCATION_ENTRY.
EXTERNAL_TYPE_PATTERN = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
CURRENCY_PATTERN = re.compile(r"[A-Z]{3}")
# An identifier (order_id, product_id, customer_id...) is a text or a whole number, stored as given.
MAX_IDENTIFIER_LENGTH = 200
MAX_INTEGER_ID = 2**63 - 1
MAX_TEXT_LENGTH = 2000
MAX_IDEMPOTENCY_KEY_LENGTH = 255
IDEMPOTENCY_KEY_PATTERN = re.compile(rf"[!-~]{{1,{MAX_IDEMPOTENCY_KEY_LENGTH}}}")
# The stored event_data (its JSON text): an order with a few hundred lines fits.
MAX_DATA_CHARACTERS = 64 * 1024
# Money goes to Event.value, numeric(14, 2).
MONEY_LIMIT = Decimal(10) ** 12
CENT = Decimal("0.01")
_MONEY_LIMIT_NUMBER = 10**12
# RFC 3339 with its offset (Z or +hh:mm), years 1900 to 2199: a timestamp any shop sends, and one
# every database stores whatever its offset.
OCCURRED_AT_PATTERN = re.compile(r"(19|20|21)\d\d-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)")

EMAIL, TEXT, IDENTIFIER, MONEY, ITEMS = "email", "text", "identifier", "money", "items"

# The Salloq Marketing API's event types and their required data.
EVENT_TYPES: dict[str, tuple[str, ...]] = {
    "customer_created": ("email", "first_name", "last_name"),
    "order_placed": ("order_id", "email", "total"),
    "order_completed": ("order_id", "email"),
    "cart_abandoned": ("email", "cart_total", "items"),
    "product_viewed": ("email", "product_id", "product_name"),
    "subscription_created": ("email", "subscription_id", "plan"),
    "subscription_cancelled": ("email", "subscription_id"),
}
# The kind of every field the service reads, checked wherever it appears (required or not).
FIELD_KINDS = {
    "email": EMAIL,
    "customer_id": IDENTIFIER,
    "first_name": TEXT,
    "last_name": TEXT,
    "order_id": IDENTIFIER,
    "product_id": IDENTIFIER,
    "subscription_id": IDENTIFIER,
    "event_id": IDENTIFIER,
    "product_name": TEXT,
    "plan": TEXT,
    "details": TEXT,
    "total": MONEY,
    "cart_total": MONEY,
    "value": MONEY,
    "items": ITEMS,
}
# Fields stored on the contact as well: their column's length is the limit.
FIELD_COLUMNS = {"customer_id": "external_id"}
# Where an event's money value comes from, first present wins.
VALUE_FIELDS = ("total", "cart_total", "value")
# Natural keys: a retry of the same order or subscription event counts once without a header.
NATURAL_KEYS = {
    "order_placed": "order_id",
    "order_completed": "order_id",
    "subscription_created": "subscription_id",
    "subscription_cancelled": "subscription_id",
}
# SALESmanago API v3's credentials in the body: accepted (its samples carry them) and dropped.
EXTERNAL_CREDENTIALS = ("apiKey", "apiSecret", "owner", "requestTime")

REQUIRED = "This field is required."
TYPE_MESSAGE = (
    "Use one of the documented event types, a custom type in lower-case snake case "
    "(^[a-z][a-z0-9_]{0,63}$, e.g. loyalty_tier_changed) or an upper-case external type "
    "(^[A-Z][A-Z0-9_]{0,63}$, e.g. PURCHASE)."
)
NOT_OBJECT = 'An event is an object: {"event_type": ..., "event_data": {...}}.'
NEEDS_CONTACT = "An event needs the contact's email or customer_id."


@dataclass
class CleanEvent:
    event_type: str
    data: dict
    email: str
    customer_id: str | None
    first_name: str | None
    last_name: str | None
    value: Decimal | None
    occurred_at: datetime
    idempotency_key: str | None
    external: bool = False
    names: dict[str, str] = field(default_factory=dict)
    # `data` as JSON text (written for the size check), for a writer that sends it as is.
    data_json: str | None = None


class EventInputError(Exception):
    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def _add(errors: dict, path: str, message: str) -> None:
    errors.setdefault(path, []).append(message)


def _text(errors: dict, path: str, raw, *, max_length: int, required: bool) -> str | None:
    if not isinstance(raw, str):
        _add(errors, path, "Must be a string.")
        return None
    problem = text_problem(raw)
    if problem:
        _add(errors, path, problem)
        return None
    if required and not raw.strip():
        _add(errors, path, "This field may not be blank.")
        return None
    if len(raw) > max_length:
        _add(errors, path, f"Ensure this field has no more than {max_length} characters.")
        return None
    return raw


def identifier_max_length(name: str) -> int:
    column = FIELD_COLUMNS.get(name)
    return MAX_LENGTHS[column] if column else MAX_IDENTIFIER_LENGTH


def _identifier(errors: dict, path: str, raw, *, max_length: int = MAX_IDENTIFIER_LENGTH) -> str | None:
    """Shops send order ids as text or as numbers; both are the same id (trimmed, never blank)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        if not -MAX_INTEGER_ID <= raw <= MAX_INTEGER_ID:
            _add(errors, path, f"A numeric id is between -{MAX_INTEGER_ID} and {MAX_INTEGER_ID}.")
            return None
        return str(raw)
    if not isinstance(raw, str):
        _add(errors, path, "Must be a string or a whole number.")
        return None
    text = _text(errors, path, raw, max_length=max_length, required=True)
    return None if text is None else text.strip()


def money(errors: dict, path: str, raw) -> Decimal | None:
    """A JSON number as an exact Decimal (read from its text, never through float arithmetic)."""
    # The usual price or quantity, as parse_decimal would read it, without its general checks: a
    # float below the limit has a short, finite repr that is below it too; zero of either sign is 0.
    kind = raw.__class__
    if (kind is float or kind is int) and -_MONEY_LIMIT_NUMBER < raw < _MONEY_LIMIT_NUMBER:
        return (Decimal(repr(raw)) if kind is float else Decimal(raw)) if raw else Decimal(0)
    if not isinstance(raw, float | int) or isinstance(raw, bool):
        _add(errors, path, "Must be a number.")
        return None
    try:
        return parse_decimal(raw, limit=MONEY_LIMIT)
    except NumberError as exc:
        _add(errors, path, f"Must be a number: {exc}.")
        return None


def stored_value(amount: Decimal | None) -> Decimal | None:
    """Event.value holds cents (numeric(14, 2)), rounded half to even; event_data keeps the number sent."""
    if amount is None:
        return None
    cents = amount.quantize(CENT, rounding=ROUND_HALF_EVEN)
    # 999999999999.9999 is below MONEY_LIMIT but rounds up to it, past numeric(14, 2): cut instead.
    return cents if abs(cents) < MONEY_LIMIT else amount.quantize(CENT, rounding=ROUND_DOWN)


def _items(errors: dict, path: str, raw) -> None:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        _add(errors, path, "Must be a list of objects.")
        return
    for index, item in enumerate(raw):
        for name in ("price", "quantity"):
            if name in item and item[name] is not None:
                money(errors, f"{path}[{index}].{name}", item[name])


def _field(errors: dict, path: str, name: str, raw, *, required: bool):
    kind = FIELD_KINDS[name]
    if kind == EMAIL:
        if not isinstance(raw, str):
            _add(errors, path, "Must be a string.")
            return None
        try:
            email = normalize_email(raw) if text_problem(raw) is None else None
        except ValidationError:
            email = None
        if not email:
            _add(errors, path, "Enter a valid email address.")
        return email
    if kind == TEXT:
        text = _text(errors, path, raw, max_length=MAX_LENGTHS.get(name, MAX_TEXT_LENGTH), required=required)
        return None if text is None else text.strip()
    if kind == IDENTIFIER:
        return _identifier(errors, path, raw, max_length=identifier_max_length(name))
    if kind == MONEY:
        return money(errors, path, raw)
    _items(errors, path, raw)
    return raw


def parse_moment(raw) -> datetime | None:
    """An RFC 3339 date-time between 1900 and 2199 in UTC, or None. In UTC because an offset the
    pattern allows and Python takes (-20:00) is out of PostgreSQL's range (+-15:59)."""
    if not (isinstance(raw, str) and OCCURRED_AT_PATTERN.fullmatch(raw)):
        return None
    try:
        parsed = parse_datetime(raw.upper())
    except ValueError:  # a month 13, a 31st of February, an offset of 24 hours or more
        return None
    return parsed.astimezone(UTC) if parsed is not None else None


NOW = object()  # occurred_at left out: the event happened as it arrived (null is not a date-time)


def _occurred_at(errors: dict, path: str, raw) -> datetime:
    if raw is NOW:
        return timezone.now()
    parsed = parse_moment(raw)
    if parsed is None:
        _add(errors, path, "Must be a date and time in RFC 3339 between 1900 and 2199, e.g. 2024-01-15T10:30:00Z.")
        return timezone.now()
    return parsed


def idempotency_key_problem(key: str) -> str | None:
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        return f"An idempotency key is 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} visible ASCII characters (no spaces)."
    return None


def clean_event(raw: Any, *, idempotency_key: str | None = None) -> CleanEvent:
    """One item as stored, or EventInputError naming every field at fault.

    `idempotency_key` comes from the caller (the Idempotency-Key header); without it an item's own
    "idempotency_key", then event_data's event_id, then the natural key of its type is used.
    """
    if isinstance(raw, dict) and "event" in raw and "event_type" not in raw:
        return _clean_external(raw, idempotency_key)
    errors: dict[str, list[str]] = {}
    if not isinstance(raw, dict):
        raise EventInputError({"non_field_errors": [NOT_OBJECT]})
    unknown = set(raw) - {"event_type", "event_data", "occurred_at", "idempotency_key"}
    for name in sorted(unknown):
        _add(errors, name, "Unknown field.")
    event_type = raw.get("event_type")
    if event_type is None:
        _add(errors, "event_type", REQUIRED)
    elif not isinstance(event_type, str) or not (
        event_type in EVENT_TYPES
        or CUSTOM_TYPE_PATTERN.fullmatch(event_type)
        or EXTERNAL_TYPE_PATTERN.fullmatch(event_type)
    ):
        _add(errors, "event_type", TYPE_MESSAGE)
        event_type = None
    data = raw.get("event_data")
    if data is None:
        _add(errors, "event_data", REQUIRED)
        data = {}
    elif not isinstance(data, dict):
        _add(errors, "event_data", "Must be an object.")
        data = {}
    required = EVENT_TYPES.get(event_type, ())
    values: dict[str, Any] = {}
    for name in required:
        if data.get(name) in (None, ""):
            _add(errors, f"event_data.{name}", REQUIRED)
    for name, raw_value in data.items():
        if name in FIELD_KINDS and (raw_value is not None or name in required):
            if raw_value is None:
                continue
            values[name] = _field(errors, f"event_data.{name}", name, raw_value, required=name in required)
    if event_type and EXTERNAL_TYPE_PATTERN.fullmatch(event_type):
        _external_extras(errors, "event_data", data)
    occurred_at = _occurred_at(errors, "occurred_at", raw.get("occurred_at", NOW))
    key = _key(errors, raw, idempotency_key, event_type, values)
    email = values.get("email") or ""
    if not email and not values.get("customer_id") and not any(p.startswith("event_data.") for p in errors):
        _add(errors, "event_data.email", NEEDS_CONTACT)
    data_json = _size(errors, "event_data", data)
    if errors:
        raise EventInputError(errors)
    return CleanEvent(
        event_type=event_type,
        data=data,
        data_json=data_json,
        email=email,
        customer_id=values.get("customer_id"),
        first_name=values.get("first_name"),
        last_name=values.get("last_name"),
        value=stored_value(next((values[name] for name in VALUE_FIELDS if values.get(name) is not None), None)),
        occurred_at=occurred_at,
        idempotency_key=key,
        external=bool(EXTERNAL_TYPE_PATTERN.fullmatch(event_type)),
    )


def _external_extras(errors: dict, path: str, event: dict) -> None:
    if event.get("parameters") is not None and not isinstance(event["parameters"], dict):
        _add(errors, f"{path}.parameters", "Must be an object.")
    currency = event.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY_PATTERN.fullmatch(currency)):
        _add(errors, f"{path}.currency", "Must be a three-letter ISO 4217 code in capitals, e.g. EUR.")


def _size(errors: dict, path: str, data: dict) -> str | None:
    """Refuses data longer than MAX_DATA_CHARACTERS of JSON; returns the JSON text it measured."""
    if errors:
        return None
    text = json.dumps(data, ensure_ascii=False)
    if len(text) > MAX_DATA_CHARACTERS:
        _add(errors, path, f"Must be at most {MAX_DATA_CHARACTERS} characters of JSON.")
    return text


def _key(errors: dict, raw: dict, given: str | None, event_type: str | None, values: dict) -> str | None:
    """The event's idempotency key, prefixed by where it came from so the kinds never collide."""
    own = raw.get("idempotency_key")
    if "idempotency_key" in raw:  # judged even when the Idempotency-Key header wins over it
        problem = idempotency_key_problem(own) if isinstance(own, str) else "Must be a string."
        if problem:
            _add(errors, "idempotency_key", problem)
            return None
        given = own if given is None else given
    if given is not None:
        return f"key:{given}"
    if values.get("event_id"):
        return f"event_id:{values['event_id']}"
    natural = NATURAL_KEYS.get(event_type or "")
    if natural and values.get(natural):
        return f"{event_type}:{natural}:{values[natural]}"
    return None


def _clean_external(raw: dict, idempotency_key: str | None) -> CleanEvent:
    """SALESmanago API v3's body: {"contact": {"email"}, "event": {"type", "details", "parameters", "value",
    "currency"}}."""
    errors: dict[str, list[str]] = {}
    unknown = set(raw) - {"contact", "event", "occurred_at", "idempotency_key", *EXTERNAL_CREDENTIALS}
    for name in sorted(unknown):
        _add(errors, name, "Unknown field.")
    contact = raw.get("contact")
    event = raw.get("event")
    if not isinstance(contact, dict):
        _add(errors, "contact", "Must be an object with the contact's email.")
        contact = {}
    if not isinstance(event, dict):
        _add(errors, "event", 'Must be an object: {"type": "PURCHASE", ...}.')
        event = {}
    event_type = event.get("type")
    if not isinstance(event_type, str) or not EXTERNAL_TYPE_PATTERN.fullmatch(event_type):
        _add(errors, "event.type", "Must be an upper-case event type (^[A-Z][A-Z0-9_]{0,63}$), e.g. PURCHASE.")
        event_type = None
    email = ""
    if contact.get("email") is None:
        _add(errors, "contact.email", REQUIRED)
    else:
        email = _field(errors, "contact.email", "email", contact["email"], required=True) or ""
    customer_id = None
    if contact.get("externalId") is not None:
        limit = identifier_max_length("customer_id")
        customer_id = _identifier(errors, "contact.externalId", contact["externalId"], max_length=limit)
    if event.get("details") is not None:
        _text(errors, "event.details", event["details"], max_length=MAX_TEXT_LENGTH, required=False)
    value = money(errors, "event.value", event["value"]) if event.get("value") is not None else None
    _external_extras(errors, "event", event)
    occurred_at = _occurred_at(errors, "occurred_at", raw.get("occurred_at", NOW))
    data = {name: item for name, item in event.items() if name != "type"}
    data["email"] = email
    if customer_id is not None:
        data["customer_id"] = customer_id
    values = {"event_id": None}
    if event.get("eventId") is not None:
        values["event_id"] = _identifier(errors, "event.eventId", event["eventId"])
    key = _key(errors, raw, idempotency_key, event_type, values)
    _size(errors, "event", data)
    if errors:
        raise EventInputError(errors)
    return CleanEvent(
        event_type=event_type,
        data=data,
        email=email,
        customer_id=customer_id,
        first_name=None,
        last_name=None,
        value=stored_value(value),
        occurred_at=occurred_at,
        idempotency_key=key,
        external=True,
    )
