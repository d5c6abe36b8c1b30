"""The rule language of segments: its vocabulary (operators, field kinds, the comparisons each kind
takes) and the parsing of rule values, shared by the compiler, the API's JSON Schema and the
dashboard's builder.

Every parse_* function takes a value as a client sent it and returns it typed, or raises
InvalidValue with a message naming what was expected (the compiler prefixes the rule's path).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.text import text_problem

from ..contact_input import TEXT_ATTRIBUTES as TEXT_ATTRIBUTES  # the rule language's text fields
from ..models import ContactStatus, FieldType
from .budget import MAX_VALUES

MAX_TEXT = 255
MAX_DAYS = 36_500
NUMBER_LIMIT = Decimal(10) ** 15  # magnitudes stay below it: well inside the DecimalField columns compared against
MAX_COUNT = 10**9
MAX_WHERE_KEYS = 10

OPERATORS = ("and", "or")
RULE_KEYS = ("field", "comparison", "value", "within_last_days", "where")
EVENT_METRICS = ("count", "total", "last")
# A JSON string holding a plain decimal number; anything else never compares as a number
# (PostgreSQL would raise on the cast, SQLite would read "abc" as 0).
# Groups do not capture: PostgreSQL's substring(text FROM pattern) then returns the whole match.
NUMERIC_TEXT = r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)$"
JSON_KEY = re.compile(r"^[\w-]{1,100}$")
EVENT_TYPE = re.compile(r"^[\w.:-]{1,100}$")

NULLABLE_ATTRIBUTES = ("external_id",)

# Comparisons by kind of field. not_equals and is_not_set are the complements of equals and is_set.
TEXT = "text"
STATUS = "status"
NUMBER = "number"
DATE = "date"
DATETIME = "datetime"
BOOLEAN = "boolean"
PROPERTY = "property"
KEY_INFO = "key_information"
TAGS = "tags"
LISTS = "lists"
EVENT_COUNT = "event_count"
EVENT_TOTAL = "event_total"
EVENT_LAST = "event_last"
COLLECTION = "collection"

SETNESS = ("is_set", "is_not_set")

# Commerce facts (catalog.models.CommerceFacts, one row per contact), as `commerce.<name>` fields:
# name -> kind. A contact without a row has bought nothing: its numbers are 0 and the rest null.
COMMERCE_FIELDS = {
    "total_spent": NUMBER,
    "order_count": NUMBER,
    "first_order_at": DATETIME,
    "last_order_at": DATETIME,
    "average_order_value": NUMBER,
    "open_cart_value": NUMBER,
    "open_cart_count": NUMBER,
    "last_cart_at": DATETIME,
    "loyalty_balance": NUMBER,
    "lifetime_points": NUMBER,
    "active_subscriptions": NUMBER,
}
COMMERCE_NULLABLE = ("first_order_at", "last_order_at", "average_order_value", "last_cart_at")
# Properties and key information hold text or numbers: which one is decided by the rule's value.
_TEXT_OR_NUMBER = (
    "equals",
    "not_equals",
    "contains",
    "starts_with",
    "greater_than",
    "less_than",
    "between",
    "in",
    *SETNESS,
)
COMPARISONS: dict[str, tuple[str, ...]] = {
    TEXT: ("equals", "not_equals", "contains", "starts_with", "in", *SETNESS),
    STATUS: ("equals", "not_equals", "in"),
    NUMBER: ("equals", "not_equals", "greater_than", "less_than", "between", "in", *SETNESS),
    DATE: ("equals", "not_equals", "before", "after", "between", "within_last", *SETNESS),
    DATETIME: ("equals", "not_equals", "before", "after", "between", "within_last", *SETNESS),
    BOOLEAN: ("equals", "not_equals", *SETNESS),
    PROPERTY: _TEXT_OR_NUMBER,
    KEY_INFO: _TEXT_OR_NUMBER,
    TAGS: ("equals", "not_equals", "contains", "starts_with", "in", *SETNESS),
    LISTS: ("equals", "not_equals", "in", *SETNESS),
    EVENT_COUNT: ("equals", "not_equals", "greater_than", "less_than", "between"),
    EVENT_TOTAL: ("equals", "not_equals", "greater_than", "less_than", "between"),
    EVENT_LAST: ("equals", "not_equals", "before", "after", "between", "within_last", *SETNESS),
    # collections.<name>: contains (that product id), in (any of those), is_set (any product).
    COLLECTION: ("contains", "in", *SETNESS),
}
ALL_COMPARISONS = tuple(dict.fromkeys(c for comparisons in COMPARISONS.values() for c in comparisons))

KIND_LABELS = {
    TEXT: "a text field",
    STATUS: "the contact status",
    NUMBER: "a number field",
    DATE: "a date field",
    DATETIME: "a date field",
    BOOLEAN: "a yes/no field",
    PROPERTY: "a property",
    KEY_INFO: "key information",
    TAGS: "tags",
    LISTS: "list membership",
    EVENT_COUNT: "an event count",
    EVENT_TOTAL: "an event total",
    EVENT_LAST: "the date of the last event",
    COLLECTION: "a product collection",
}
CUSTOM_FIELD_KINDS = {
    FieldType.TEXT: TEXT,
    FieldType.CHOICE: TEXT,
    FieldType.NUMBER: NUMBER,
    FieldType.DATE: DATE,
    FieldType.BOOLEAN: BOOLEAN,
}
CUSTOM_FIELD_COLUMNS = {TEXT: "text_value", NUMBER: "number_value", DATE: "date_value", BOOLEAN: "bool_value"}


# --- Values -------------------------------------------------------------------------------


class InvalidValue(Exception):
    """A value that does not fit its comparison; the message names what was expected."""


@dataclass(frozen=True)
class Moment:
    """A rule's date value on a timestamp: a whole UTC day [start, end) or one instant [start, end]."""

    start: datetime
    end: datetime
    end_inclusive: bool


EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)


def to_utc(value: datetime) -> datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset that pushes year 1 or 9999 out of range
        return EARLIEST if value.year == 1 else LATEST


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE)


def parse_date_or_datetime(raw) -> date | datetime:
    """An ISO date ("2024-06-01") or RFC 3339 date-time ("2024-06-01T09:30:00Z"; without an offset: UTC)."""
    parsed: date | datetime | None = None
    try:
        if isinstance(raw, str) and ISO_DATE.match(raw):
            parsed = date.fromisoformat(raw)
        elif isinstance(raw, str) and ISO_DATETIME.match(raw):
            parsed = parse_datetime(raw.upper())
    except ValueError:  # well formed but not a real date, e.g. 2024-02-30
        parsed = None
    if isinstance(parsed, date) and not isinstance(parsed, datetime):
        return parsed
    if parsed is None:
        shown = f"'{raw}' is not" if isinstance(raw, str) and len(raw) <= 40 else "must be"
        raise InvalidValue(f"{shown} an ISO date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SSZ)")
    return to_utc(parsed)


def parse_moment(raw) -> Moment:
    value = parse_date_or_datetime(raw)
    if isinstance(value, datetime):
        return Moment(value, value, True)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    if value == date.max:
        return Moment(start, LATEST, True)
    return Moment(start, start + timedelta(days=1), False)


def parse_day(raw) -> date:
    value = parse_date_or_datetime(raw)
    return value.date() if isinstance(value, datetime) else value


def parse_text(raw) -> str:
    if not isinstance(raw, str):
        raise InvalidValue("must be text")
    if not raw:
        raise InvalidValue("must not be empty; use is_set / is_not_set to test for a missing value")
    if len(raw) > MAX_TEXT:
        raise InvalidValue(f"must be at most {MAX_TEXT} characters")
    problem = text_problem(raw)
    if problem:
        raise InvalidValue(problem)
    return raw


def parse_number(raw) -> Decimal:
    if isinstance(raw, str):
        # Text is never a number in a rule ("5" compares as text), but text that would not even make
        # a usable number (the dashboard's 1e1000000 or NaN) says why.
        try:
            parse_decimal(raw, limit=NUMBER_LIMIT)
        except NumberError as exc:
            raise InvalidValue(str(exc)) from None
        raise InvalidValue("must be a number, not text")
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise InvalidValue("must be a number")
    try:
        return parse_decimal(raw, limit=NUMBER_LIMIT)
    except NumberError as exc:
        raise InvalidValue(str(exc)) from None


def parse_count(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_COUNT:
        raise InvalidValue(f"must be a whole number from 0 to {MAX_COUNT}")
    return raw


def parse_boolean(raw) -> bool:
    if not isinstance(raw, bool):
        raise InvalidValue("must be true or false")
    return raw


def parse_status(raw) -> str:
    if raw not in ContactStatus.values:
        raise InvalidValue(f"must be one of: {', '.join(ContactStatus.values)}")
    return raw


def parse_list_id(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw < 2**63:
        raise InvalidValue("must be a list id (a positive whole number)")
    return raw


def parse_days(raw) -> int:
    days = raw.get("days") if isinstance(raw, dict) and set(raw) == {"days"} else raw
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise InvalidValue(f'must be a number of days from 1 to {MAX_DAYS}, or {{"days": n}}')
    return days


def parse_items(raw, parse) -> list:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_VALUES:
        raise InvalidValue(f"must be a list of 1 to {MAX_VALUES} values")
    items = []
    for index, item in enumerate(raw):
        try:
            items.append(parse(item))
        except InvalidValue as exc:
            raise InvalidValue(f"item {index} {exc}") from None
    return items


def parse_bounds(raw, parse) -> tuple:
    """[low, high], both included; given the other way round, they are swapped."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise InvalidValue("must be a list of two bounds: [low, high]")
    low, high = parse(raw[0]), parse(raw[1])
    key = (lambda m: m.start) if isinstance(low, Moment) else (lambda v: v)
    return (low, high) if key(low) <= key(high) else (high, low)


def shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
