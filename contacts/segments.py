"""Dynamic segments: seed 000's rule language, compiled to one SQL query.

A definition is a group ``{"operator": "and"|"or", "rules": [rule | group, ...]}``; a rule is
``{"field": ..., "comparison": ..., "value": ...}``, and ``events.*`` rules may add
``"within_last_days": n`` and ``"where": {data_key: value}``. A definition must fit the complexity
budget of segment_budget.py (rules, groups, nesting, values), checked before any SQL runs. An empty
"and" group matches every contact, an empty "or" group none (the identities of the two operators).

Every rule becomes a condition on the contact row: a column lookup, a JSON expression on
``properties``, or an EXISTS / ``pk IN (… GROUP BY … HAVING …)`` subquery on the related
table, so a whole segment is one SELECT however many rules it has. A negation (``not_equals``,
``is_not_set``) is always the exact complement of its positive comparison: contacts with no
row or no value (no tag, no custom field value, no event) are in it.

Text comparisons ignore case (ASCII letters only on SQLite, like its LIKE); dates are UTC days.
"""

from __future__ import annotations

import operator as op
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import reduce

from django.core.exceptions import ValidationError
from django.db import IntegrityError, NotSupportedError, transaction
from django.db.models import (
    BooleanField,
    Count,
    DecimalField,
    Exists,
    F,
    Func,
    Max,
    OuterRef,
    Q,
    Sum,
    TextField,
    Value,
)
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    IExact,
    In,
    IsNull,
    IStartsWith,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from events.models import Event
from salloq.core.models import Company
from salloq.core.numbers import NumberError, parse_decimal

from . import tags
from .models import (
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    CustomFieldValue,
    FieldType,
    KeyInformation,
    ListMembership,
    MembershipStatus,
    Segment,
)
from .querysets import ContactQuerySet
from .segment_budget import MAX_DEPTH, MAX_PATH_KEYS, MAX_VALUES, over_budget
from .tags import TagsMatch

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

TEXT_ATTRIBUTES = ("email", "first_name", "last_name", "phone", "lang", "source", "external_id")
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

_SETNESS = ("is_set", "is_not_set")
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
    *_SETNESS,
)
COMPARISONS: dict[str, tuple[str, ...]] = {
    TEXT: ("equals", "not_equals", "contains", "starts_with", "in", *_SETNESS),
    STATUS: ("equals", "not_equals", "in"),
    NUMBER: ("equals", "not_equals", "greater_than", "less_than", "between", "in", *_SETNESS),
    DATE: ("equals", "not_equals", "before", "after", "between", "within_last", *_SETNESS),
    DATETIME: ("equals", "not_equals", "before", "after", "between", "within_last", *_SETNESS),
    BOOLEAN: ("equals", "not_equals", *_SETNESS),
    PROPERTY: _TEXT_OR_NUMBER,
    KEY_INFO: _TEXT_OR_NUMBER,
    TAGS: ("equals", "not_equals", "contains", "starts_with", "in", *_SETNESS),
    LISTS: ("equals", "not_equals", "in", *_SETNESS),
    EVENT_COUNT: ("equals", "not_equals", "greater_than", "less_than", "between"),
    EVENT_TOTAL: ("equals", "not_equals", "greater_than", "less_than", "between"),
    EVENT_LAST: ("equals", "not_equals", "before", "after", "between", "within_last", *_SETNESS),
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
}
CUSTOM_FIELD_KINDS = {
    FieldType.TEXT: TEXT,
    FieldType.CHOICE: TEXT,
    FieldType.NUMBER: NUMBER,
    FieldType.DATE: DATE,
    FieldType.BOOLEAN: BOOLEAN,
}
CUSTOM_FIELD_COLUMNS = {TEXT: "text_value", NUMBER: "number_value", DATE: "date_value", BOOLEAN: "bool_value"}


# --- JSON keys as SQL expressions -----------------------------------------------------------


class JSONAt(Func):
    """A JSONField (``properties``, ``data``) at a key path, read five ways, written per database:

    - ``kind``: "string", "number", "true", "false", "null", "object", "array"; NULL when absent;
    - ``raw``: the value as the database reads it out (text of a string; NULL when absent or null),
      cheap, so compared first; text comparisons then check ``is_string``;
    - ``is_string``: a condition, true when the value is a JSON string. On PostgreSQL it is spelled
      "not any other type", which the planner estimates as nearly always true (an "= 'string'"
      would count as a second 0.5%-selective test and tip it into a slow nested loop);
    - ``is_set``: a condition, never NULL: present, not JSON null and not an empty string;
    - ``number``: the value when it is a JSON number or a string holding a plain decimal, else NULL.

    Django's own key transforms disagree between databases on exactly these points (SQLite reads
    true as 1, PostgreSQL raises on a bad numeric cast), so the SQL is spelled out here. On
    PostgreSQL each read looks the path up once for the usual values (a definition may hold a
    hundred such rules, each evaluated on every contact): the lookup is the cost.
    """

    def __init__(self, column: str, keys: tuple[str, ...], read: str):
        output_field = {
            "number": DecimalField(max_digits=40, decimal_places=10),
            "is_string": BooleanField(),
            "is_set": BooleanField(),
        }.get(read, TextField())
        super().__init__(F(column), output_field=output_field)
        self.keys = keys
        self.read = read

    def as_sql(self, compiler, connection, **extra_context):
        raise NotSupportedError("Segments run on PostgreSQL and SQLite.")

    def as_postgresql(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        # The path is one bound parameter (never spliced into the SQL), read with #> / #>>: a chain
        # of -> copies every intermediate object out of the row, once per comparison, which made a
        # definition of many nested-key rules run for minutes (bench/README.md, segment_budget.py).
        node = f"({column} #> %s::text[])"
        node_params = [*params, list(self.keys)]
        if self.read == "kind":
            # A boolean's type is replaced by its value, read a second time; other types read once.
            return f"COALESCE(NULLIF(jsonb_typeof({node}), 'boolean'), {node} #>> '{{}}')", node_params * 2
        if self.read == "raw":
            return f"({column} #>> %s::text[])", node_params
        if self.read == "is_string":
            return f"(jsonb_typeof({node}) NOT IN ('number', 'boolean', 'object', 'array', 'null'))", node_params
        if self.read == "is_set":
            return f"COALESCE({node} NOT IN ('null'::jsonb, '\"\"'::jsonb), false)", node_params
        # A JSON number reads out as plain decimal text (jsonb never writes an exponent), so one test
        # of the text takes numbers and numeric strings alike; any other value gives NULL.
        return f"(substring({column} #>> %s::text[] FROM %s)::numeric)", [*node_params, NUMERIC_TEXT]

    def as_sqlite(self, compiler, connection, **extra_context):
        column, params = compiler.compile(self.source_expressions[0])
        if all(JSON_KEY.match(key) for key in self.keys):
            path = "$" + "".join(f'."{key}"' for key in self.keys)  # no quote or backslash to escape
            jtype, jvalue = f"json_type({column}, %s)", f"json_extract({column}, %s)"
            p = [*params, path]
        else:
            # Any other key (`where` takes any data key): SQLite's JSON paths cannot quote every
            # string, so find the top-level key by value instead.
            assert len(self.keys) == 1, "nested paths are validated against JSON_KEY"
            lookup = f"FROM json_each({column}) WHERE json_each.key = %s"
            jtype, jvalue = f"(SELECT json_each.type {lookup})", f"(SELECT json_each.atom {lookup})"
            p = [*params, self.keys[0]]
        if self.read == "kind":
            sql = (
                f"(CASE {jtype} WHEN 'text' THEN 'string' WHEN 'integer' THEN 'number' "
                f"WHEN 'real' THEN 'number' ELSE {jtype} END)"
            )
            return sql, p * 2
        if self.read == "raw":
            return jvalue, p
        if self.read == "is_string":
            return f"({jtype} = 'text')", p
        if self.read == "is_set":
            return f"({jtype} IS NOT NULL AND {jtype} != 'null' AND NOT ({jtype} = 'text' AND {jvalue} = ''))", p * 4
        # CAST gives the expression REAL affinity, so SQLite compares it with the (text) decimal
        # parameters as numbers, not as strings.
        sql = (
            f"CAST((CASE {jtype} WHEN 'integer' THEN {jvalue} WHEN 'real' THEN {jvalue} "
            f"WHEN 'text' THEN CASE WHEN {jvalue} REGEXP %s THEN CAST({jvalue} AS REAL) END END) AS REAL)"
        )
        return sql, [*p, *p, *p, *p, NUMERIC_TEXT, *p]


class InIgnoringCase(Func):
    """`lhs` is one of `values`, ignoring case as iexact does (UPPER on both sides).

    One IN list rather than an OR of comparisons: the value is read out of the row once and looked
    up in the list (which PostgreSQL folds into a hashed constant array), however long it is.
    """

    output_field = BooleanField()

    def __init__(self, lhs, values: list[str]):
        super().__init__(lhs)
        self.values = values

    def as_sql(self, compiler, connection, **extra_context):
        lhs, params = compiler.compile(self.source_expressions[0])
        items = ", ".join(["UPPER(%s)"] * len(self.values))
        return f"(UPPER({lhs}) IN ({items}))", [*params, *self.values]


# --- Values -------------------------------------------------------------------------------


class _Invalid(Exception):
    """A value that does not fit its comparison; the message names what was expected."""


@dataclass(frozen=True)
class Moment:
    """A rule's date value on a timestamp: a whole UTC day [start, end) or one instant [start, end]."""

    start: datetime
    end: datetime
    end_inclusive: bool


_MIN = datetime.min.replace(tzinfo=UTC)
_MAX = datetime.max.replace(tzinfo=UTC)


def _to_utc(value: datetime) -> datetime:
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:  # an offset that pushes year 1 or 9999 out of range
        return _MIN if value.year == 1 else _MAX


ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$", re.IGNORECASE)


def _parse_moment(raw) -> date | datetime:
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
        raise _Invalid(f"{shown} an ISO date (YYYY-MM-DD) or date and time (YYYY-MM-DDTHH:MM:SSZ)")
    return _to_utc(parsed)


def _moment(raw) -> Moment:
    value = _parse_moment(raw)
    if isinstance(value, datetime):
        return Moment(value, value, True)
    start = datetime.combine(value, time.min, tzinfo=UTC)
    if value == date.max:
        return Moment(start, _MAX, True)
    return Moment(start, start + timedelta(days=1), False)


def _day(raw) -> date:
    value = _parse_moment(raw)
    return value.date() if isinstance(value, datetime) else value


def _text(raw) -> str:
    if not isinstance(raw, str):
        raise _Invalid("must be text")
    if not raw:
        raise _Invalid("must not be empty; use is_set / is_not_set to test for a missing value")
    if len(raw) > MAX_TEXT:
        raise _Invalid(f"must be at most {MAX_TEXT} characters")
    if "\x00" in raw:
        raise _Invalid("must not contain NUL characters")
    return raw


def _number(raw) -> Decimal:
    if isinstance(raw, str):
        # Text is never a number in a rule ("5" compares as text), but text that would not even make
        # a usable number (the dashboard's 1e1000000 or NaN) says why.
        try:
            parse_decimal(raw, limit=NUMBER_LIMIT)
        except NumberError as exc:
            raise _Invalid(str(exc)) from None
        raise _Invalid("must be a number, not text")
    if isinstance(raw, bool) or not isinstance(raw, int | float | Decimal):
        raise _Invalid("must be a number")
    try:
        return parse_decimal(raw, limit=NUMBER_LIMIT)
    except NumberError as exc:
        raise _Invalid(str(exc)) from None


def _count(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= MAX_COUNT:
        raise _Invalid(f"must be a whole number from 0 to {MAX_COUNT}")
    return raw


def _boolean(raw) -> bool:
    if not isinstance(raw, bool):
        raise _Invalid("must be true or false")
    return raw


def _status(raw) -> str:
    if raw not in ContactStatus.values:
        raise _Invalid(f"must be one of: {', '.join(ContactStatus.values)}")
    return raw


def _list_id(raw) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw < 2**63:
        raise _Invalid("must be a list id (a positive whole number)")
    return raw


def _days(raw) -> int:
    days = raw.get("days") if isinstance(raw, dict) and set(raw) == {"days"} else raw
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise _Invalid(f'must be a number of days from 1 to {MAX_DAYS}, or {{"days": n}}')
    return days


# --- The compiler ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    kind: str
    name: str  # as written in the rule
    column: str = ""  # contact attribute
    keys: tuple[str, ...] = ()  # properties path
    custom_field: CustomField | None = None
    key_name: str = ""  # key information
    event_type: str = ""


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


EVERYONE = Q(pk__isnull=False)
NOBODY = Q(pk__in=[])


# EVERYONE and NOBODY (empty groups, another company's list) are folded away here rather than
# left for the database to test on every contact.


def _any(conditions: list[Q]) -> Q:
    if any(condition is EVERYONE for condition in conditions):
        return EVERYONE
    conditions = [condition for condition in conditions if condition is not NOBODY]
    return reduce(op.or_, conditions) if conditions else NOBODY


def _all(conditions: list[Q]) -> Q:
    if any(condition is NOBODY for condition in conditions):
        return NOBODY
    conditions = [condition for condition in conditions if condition is not EVERYONE]
    return reduce(op.and_, conditions) if conditions else EVERYONE


def _on(lhs, lookup, value) -> Q:
    """`lhs <lookup> value`, for a column name (of the model being filtered) or an expression."""
    if isinstance(lhs, str):
        return Q(**{f"{lhs}__{lookup.lookup_name}": value})
    return Q(lookup(lhs, value))


def _present(lhs) -> Q:
    return _on(lhs, IsNull, False)


def _text_condition(lhs, comparison: str, value, *, guard: Q | None = None) -> Q:
    """Positive text comparisons, ANDed with `guard` (tested second: it is only read for rows that match)."""
    if comparison == "equals":
        condition = _on(lhs, IExact, value)
    elif comparison == "contains":
        condition = _on(lhs, IContains, value)
    elif comparison == "starts_with":
        condition = _on(lhs, IStartsWith, value)
    elif comparison == "in":
        condition = Q(InIgnoringCase(F(lhs) if isinstance(lhs, str) else lhs, value))
    else:
        raise AssertionError(comparison)
    return condition & guard if guard is not None else condition


def _number_condition(lhs, comparison: str, value) -> Q:
    if comparison == "equals":
        condition = _on(lhs, Exact, value)
    elif comparison == "greater_than":
        condition = _on(lhs, GreaterThan, value)
    elif comparison == "less_than":
        condition = _on(lhs, LessThan, value)
    elif comparison == "between":
        condition = _on(lhs, GreaterThanOrEqual, value[0]) & _on(lhs, LessThanOrEqual, value[1])
    elif comparison == "in":
        condition = _on(lhs, In, value)
    else:
        raise AssertionError(comparison)
    return condition


def _moment_condition(lhs, comparison: str, value, now: datetime) -> Q:
    """Timestamp comparisons with Moment values (never NULL-sensitive: callers test presence)."""
    if comparison == "before":
        return _on(lhs, LessThan, value.start)
    if comparison == "after":
        return _on(lhs, GreaterThanOrEqual if not value.end_inclusive else GreaterThan, value.end)
    if comparison in ("between", "equals"):
        low, high = value if comparison == "between" else (value, value)
        upper = LessThanOrEqual if high.end_inclusive else LessThan
        return _on(lhs, GreaterThanOrEqual, low.start) & _on(lhs, upper, high.end)
    if comparison == "within_last":
        return _on(lhs, GreaterThanOrEqual, now - timedelta(days=value)) & _on(lhs, LessThanOrEqual, now)
    raise AssertionError(comparison)


def _day_condition(lhs, comparison: str, value, today: date) -> Q:
    if comparison == "before":
        return _on(lhs, LessThan, value)
    if comparison == "after":
        return _on(lhs, GreaterThan, value)
    if comparison == "equals":
        return _on(lhs, Exact, value)
    if comparison == "between":
        return _on(lhs, GreaterThanOrEqual, value[0]) & _on(lhs, LessThanOrEqual, value[1])
    if comparison == "within_last":
        return _on(lhs, GreaterThanOrEqual, today - timedelta(days=value)) & _on(lhs, LessThanOrEqual, today)
    raise AssertionError(comparison)


class _Compiler:
    """Walks a definition once: validates every node (collecting errors by path) and builds its Q."""

    def __init__(self, company: Company, now: datetime):
        self.company = company
        self.now = now
        self.errors: dict[str, list[str]] = {}
        self._custom_fields: dict[str, CustomField] | None = None
        self._list_ids: set[int] | None = None

    def error(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "definition", []).append(message)

    # Structure

    def definition(self, definition) -> Q | None:
        if not isinstance(definition, dict):
            self.error("", 'A segment definition is an object: {"operator": "and", "rules": [...]}.')
            return None
        for message in over_budget(definition):
            self.error("rules", message)
        if self.errors:
            return None
        return self.group(definition, "", 1)

    def group(self, node: dict, path: str, depth: int) -> Q | None:
        for key in node:
            if key not in ("operator", "rules"):
                self.error(_join(path, str(key)), "Unknown key: a group has only 'operator' and 'rules'.")
        operator = node.get("operator")
        if operator not in OPERATORS:
            self.error(_join(path, "operator"), f"Must be 'and' or 'or', not {_shown(operator)}.")
        rules = node.get("rules")
        if not isinstance(rules, list):
            self.error(_join(path, "rules"), "Must be a list of rules and groups.")
            return None
        conditions = []
        for index, child in enumerate(rules):
            child_path = f"{_join(path, 'rules')}[{index}]"
            if isinstance(child, dict) and "rules" in child:
                if depth >= MAX_DEPTH:
                    self.error(child_path, f"Groups nest at most {MAX_DEPTH} deep.")
                    continue
                conditions.append(self.group(child, child_path, depth + 1))
            else:
                conditions.append(self.rule(child, child_path))
        if self.errors:
            return None
        return _any(conditions) if operator == "or" else _all(conditions)

    def rule(self, node, path: str) -> Q | None:
        if not isinstance(node, dict):
            self.error(path, "A rule is an object with 'field', 'comparison' and 'value' (or a group with 'rules').")
            return None
        for key in node:
            if key not in RULE_KEYS:
                self.error(_join(path, str(key)), f"Unknown key: a rule has {', '.join(RULE_KEYS)}.")
        raw_field = node.get("field")
        if not isinstance(raw_field, str) or not raw_field:
            self.error(_join(path, "field"), "Required: the field to test, e.g. 'email' or 'properties.city'.")
            return None
        field = self.resolve(raw_field, _join(path, "field"))
        comparison = node.get("comparison")
        if field is None:
            return None
        allowed = COMPARISONS[field.kind]
        if comparison is None:
            self.error(_join(path, "comparison"), f"Required: one of {', '.join(allowed)}.")
            return None
        if comparison not in allowed:
            self.error(
                _join(path, "comparison"),
                f"{_shown(comparison)} does not apply to {raw_field} ({KIND_LABELS[field.kind]}); "
                f"use one of: {', '.join(allowed)}.",
            )
            return None
        is_event = field.kind in (EVENT_COUNT, EVENT_TOTAL, EVENT_LAST)
        for extra in ("within_last_days", "where"):
            if extra in node and not is_event:
                self.error(_join(path, extra), f"Only events.* rules take '{extra}'.")
        try:
            value = self.value(field, comparison, node)
        except _Invalid as exc:
            self.error(_join(path, "value"), f"For {comparison} on {raw_field} the value {exc}.")
            return None
        if is_event:
            events = self.event_filter(field, node, path)
            if events is None or self.errors:
                return None
            return self.event_condition(field, comparison, value, events)
        if self.errors:
            return None
        return self.condition(field, comparison, value)

    # Fields

    def resolve(self, name: str, path: str) -> _Field | None:
        if name in TEXT_ATTRIBUTES:
            return _Field(TEXT, name, column=name)
        if name == "status":
            return _Field(STATUS, name, column=name)
        if name == "created_at":
            return _Field(DATETIME, name, column=name)
        if name in (TAGS, LISTS):
            return _Field(name, name)
        prefix, _, rest = name.partition(".")
        if prefix == "properties" and rest:
            keys = tuple(rest.split("."))
            if len(keys) > MAX_PATH_KEYS or not all(JSON_KEY.match(key) for key in keys):
                self.error(path, "Property keys are letters, digits, '_' and '-', joined by '.' for nested keys.")
                return None
            return _Field(PROPERTY, name, keys=keys)
        if prefix == "fields" and rest:
            custom_field = self.custom_fields().get(rest)
            if custom_field is None:
                self.error(path, f"No custom field named '{rest}' (see GET /api/fields).")
                return None
            return _Field(CUSTOM_FIELD_KINDS[custom_field.field_type], name, custom_field=custom_field)
        if prefix == "key_information" and rest:
            if len(rest) > 255 or "\x00" in rest:
                self.error(path, "A key information name has at most 255 characters.")
                return None
            return _Field(KEY_INFO, name, key_name=rest)
        if prefix == "events" and rest:
            event_type, _, metric = rest.rpartition(".")
            if metric not in EVENT_METRICS or not EVENT_TYPE.match(event_type):
                self.error(path, "Event fields are events.<event_type>.count, .total or .last.")
                return None
            kind = {"count": EVENT_COUNT, "total": EVENT_TOTAL, "last": EVENT_LAST}[metric]
            return _Field(kind, name, event_type=event_type)
        attributes = ", ".join((*TEXT_ATTRIBUTES, "status", "created_at"))
        self.error(
            path,
            f"Unknown field '{name}'. Use a contact attribute ({attributes}),"
            " properties.<key>, fields.<name>, key_information.<name>, tags, lists or events.<type>.count|total|last.",
        )
        return None

    def custom_fields(self) -> dict[str, CustomField]:
        if self._custom_fields is None:
            self._custom_fields = {f.name: f for f in CustomField.objects.for_company(self.company)}
        return self._custom_fields

    def known_lists(self, ids: list[int]) -> list[int]:
        """The ids among `ids` that are this company's lists: another company's list matches nobody."""
        if self._list_ids is None:
            self._list_ids = set(ContactList.objects.for_company(self.company).values_list("pk", flat=True))
        return [list_id for list_id in ids if list_id in self._list_ids]

    # Values

    def value(self, field: _Field, comparison: str, node: dict):
        raw = node.get("value")
        if comparison in _SETNESS:
            if "value" in node:
                raise _Invalid("must be left out")
            return None
        if "value" not in node or raw is None:
            raise _Invalid("is required")
        kind = field.kind
        if comparison == "within_last":
            return _days(raw)
        if kind in (PROPERTY, KEY_INFO):
            return self.mixed_value(kind, comparison, raw)
        parse = {
            TEXT: _text,
            TAGS: _text,
            STATUS: _status,
            NUMBER: _number,
            EVENT_TOTAL: _number,
            EVENT_COUNT: _count,
            DATE: _day,
            DATETIME: _moment,
            EVENT_LAST: _moment,
            BOOLEAN: _boolean,
            LISTS: _list_id,
        }[kind]
        if comparison == "in":
            return _items(raw, parse)
        if comparison == "between":
            return _bounds(raw, parse)
        value = parse(raw)
        if field.column == "email" and isinstance(value, str):
            value = value.strip().lower()  # stored normalized: an exact, indexable match
        return value

    def mixed_value(self, kind: str, comparison: str, raw):
        """Properties and key information hold text or numbers (properties also booleans):
        the value's JSON type says which comparison is meant."""
        if comparison in ("contains", "starts_with"):
            return _text(raw)
        if comparison in ("greater_than", "less_than"):
            return _number(raw)
        if comparison == "between":
            return _bounds(raw, _number)
        if comparison == "in":
            if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
                return _items(raw, _text)
            return _items(raw, _number)
        if isinstance(raw, str):
            return _text(raw)
        if isinstance(raw, bool):
            if kind == KEY_INFO:
                raise _Invalid("must be text or a number")
            return raw
        return _number(raw)

    # Conditions

    def condition(self, field: _Field, comparison: str, value, negated: bool = False) -> Q:
        """The positive comparison's condition. With `negated`, it must be TRUE or FALSE, never NULL
        (SQL's NOT NULL is NULL, which would drop contacts without a value from "not equals")."""
        if comparison in ("not_equals", "is_not_set"):
            positive = "equals" if comparison == "not_equals" else "is_set"
            return ~self.condition(field, positive, value, negated=True)
        kind = field.kind
        if field.column:
            return self.attribute_condition(field, comparison, value)
        if kind == PROPERTY:
            return self.property_condition(field.keys, "properties", comparison, value, negated=negated)
        if field.custom_field is not None:
            return self.custom_field_condition(field, comparison, value)
        if kind == KEY_INFO:
            return self.key_information_condition(field, comparison, value)
        if kind == TAGS:
            return self.tag_condition(comparison, value)
        if kind == LISTS:
            return self.list_condition(comparison, value)
        raise AssertionError(kind)

    def attribute_condition(self, field: _Field, comparison: str, value) -> Q:
        column, kind = field.column, field.kind
        nullable = column in NULLABLE_ATTRIBUTES
        if comparison == "is_set":
            return Q(**{f"{column}__isnull": False}) & ~Q(**{column: ""}) if kind == TEXT else EVERYONE
        if kind == STATUS:
            return Q(status__in=value) if comparison == "in" else Q(status=value)
        if kind == DATETIME:
            return _moment_condition(column, comparison, value, self.now)
        if column == "email" and comparison == "equals":
            return Q(email=value)
        return _text_condition(column, comparison, value, guard=_present(column) if nullable else None)

    def property_condition(
        self, keys: tuple[str, ...], column: str, comparison: str, value, negated: bool = False
    ) -> Q:
        kind, raw = JSONAt(column, keys, "kind"), JSONAt(column, keys, "raw")
        if comparison == "is_set":
            return Q(JSONAt(column, keys, "is_set"))
        sample = value[0] if isinstance(value, list) else value
        if isinstance(sample, bool):
            condition = Q(Exact(kind, "true" if value else "false"))
            return _present(kind) & condition if negated else condition
        if isinstance(sample, str):
            condition = _text_condition(raw, comparison, value, guard=Q(JSONAt(column, keys, "is_string")))
            return _present(raw) & condition if negated else condition
        number = JSONAt(column, keys, "number")
        condition = _number_condition(number, comparison, value)
        return _present(number) & condition if negated else condition

    def custom_field_condition(self, field: _Field, comparison: str, value) -> Q:
        column = CUSTOM_FIELD_COLUMNS[field.kind]
        values = CustomFieldValue.objects.filter(contact=OuterRef("pk"), field=field.custom_field)
        if comparison == "is_set":
            match = Q(**{f"{column}__isnull": False})
            if field.kind == TEXT:
                match &= ~Q(text_value="")
        elif field.kind == TEXT:
            match = _text_condition(column, comparison, value)
        elif field.kind == NUMBER:
            match = _number_condition(column, comparison, value)
        elif field.kind == DATE:
            match = _day_condition(column, comparison, value, self.now.astimezone(UTC).date())
        else:
            match = Q(bool_value=value)
        return Q(Exists(values.filter(match)))

    def key_information_condition(self, field: _Field, comparison: str, value) -> Q:
        rows = KeyInformation.objects.filter(contact=OuterRef("pk"), name=field.key_name)
        if comparison == "is_set":
            match = Q(numeric_value__isnull=False) | (Q(text_value__isnull=False) & ~Q(text_value=""))
        else:
            sample = value[0] if isinstance(value, list) else value
            if isinstance(sample, str):
                match = _text_condition("text_value", comparison, value)
            else:
                match = _number_condition("numeric_value", comparison, value)
        return Q(Exists(rows.filter(match)))

    def tag_condition(self, comparison: str, value) -> Q:
        if comparison == "is_set":
            return Q(TagsMatch(tags.IS_SET))
        if comparison in ("equals", "contains"):
            return Q(TagsMatch(tags.EQUALS, [value]))
        if comparison == "starts_with":
            return Q(TagsMatch(tags.STARTS_WITH, [value]))
        return Q(TagsMatch(tags.EQUALS, value))

    def list_condition(self, comparison: str, value) -> Q:
        subscribed = ListMembership.objects.filter(contact=OuterRef("pk"), status=MembershipStatus.SUBSCRIBED)
        if comparison == "is_set":
            return Q(Exists(subscribed.filter(contact_list__company=self.company)))
        known = self.known_lists(value if comparison == "in" else [value])
        if not known:
            return NOBODY
        return Q(Exists(subscribed.filter(contact_list_id__in=known)))

    # Events

    def event_filter(self, field: _Field, node: dict, path: str) -> Q | None:
        """Which events a rule looks at: its type, optionally a recent window and data matches."""
        condition = Q(company_id=self.company.pk, event_type=field.event_type)
        if "within_last_days" in node:
            try:
                days = _days(node["within_last_days"])
            except _Invalid as exc:
                self.error(_join(path, "within_last_days"), f"The window {exc}.")
                return None
            condition &= Q(occurred_at__gte=self.now - timedelta(days=days), occurred_at__lte=self.now)
        if "where" not in node:
            return condition
        where = node["where"]
        if not isinstance(where, dict) or not 1 <= len(where) <= MAX_WHERE_KEYS:
            self.error(
                _join(path, "where"), f'Must be an object of 1 to {MAX_WHERE_KEYS} data keys: {{"product_id": "P1"}}.'
            )
            return None
        for key, raw in where.items():
            key_path = _join(_join(path, "where"), key)
            try:
                value = raw if isinstance(raw, bool) else _text(raw) if isinstance(raw, str) else _number(raw)
            except _Invalid as exc:
                self.error(key_path, f"The value {exc} (text, a number or true/false).")
                continue
            if "\x00" in key:
                self.error(key_path, "Data keys cannot contain NUL characters (no stored JSON can hold them).")
                continue
            # The same match as `equals` on a property, on the event's data.
            condition &= self.property_condition((key,), "data", "equals", value)
        return condition

    def event_condition(self, field: _Field, comparison: str, value, events: Q) -> Q:
        if comparison in ("not_equals", "is_not_set"):
            positive = "equals" if comparison == "not_equals" else "is_set"
            return ~self.event_condition(field, positive, value, events)
        matching = Event.objects.filter(events).order_by()
        if comparison == "is_set" or (field.kind == EVENT_LAST and comparison == "after"):
            # The last event is after X exactly when some event is.
            if comparison == "after":
                matching = matching.filter(_moment_condition("occurred_at", "after", value, self.now))
            return Q(Exists(matching.filter(contact=OuterRef("pk"))))
        if field.kind == EVENT_LAST:
            metric, zero_matches = Max("occurred_at"), False  # no event: no date, nothing matches
            having = _moment_condition("metric", comparison, value, self.now)
        else:
            zero = Decimal(0)
            if field.kind == EVENT_COUNT:
                metric = Count("pk")
                if _is_at_least_one(comparison, value):
                    return Q(Exists(matching.filter(contact=OuterRef("pk"))))
                if _is_zero(comparison, value):
                    return ~Q(Exists(matching.filter(contact=OuterRef("pk"))))
            else:
                metric = Coalesce(Sum("value"), Value(zero), output_field=DecimalField(max_digits=20, decimal_places=2))
            having = _number_condition("metric", comparison, value)
            zero_matches = _holds(comparison, value, zero)
        grouped = matching.filter(contact__isnull=False).values("contact_id").annotate(metric=metric)
        if not zero_matches:
            return Q(pk__in=grouped.filter(having).values("contact_id"))
        # Contacts without any such event have a zero count/total: they are in unless excluded.
        return ~Q(pk__in=grouped.exclude(having).values("contact_id"))


def _is_at_least_one(comparison: str, value) -> bool:
    return comparison == "greater_than" and value == 0


def _is_zero(comparison: str, value) -> bool:
    return (comparison == "equals" and value == 0) or (comparison == "less_than" and value == 1)


def _holds(comparison: str, value, number: Decimal) -> bool:
    if comparison == "equals":
        return number == value
    if comparison == "greater_than":
        return number > value
    if comparison == "less_than":
        return number < value
    if comparison == "between":
        return value[0] <= number <= value[1]
    raise AssertionError(comparison)


def _items(raw, parse) -> list:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_VALUES:
        raise _Invalid(f"must be a list of 1 to {MAX_VALUES} values")
    items = []
    for index, item in enumerate(raw):
        try:
            items.append(parse(item))
        except _Invalid as exc:
            raise _Invalid(f"item {index} {exc}") from None
    return items


def _bounds(raw, parse) -> tuple:
    """[low, high], both included; given the other way round, they are swapped."""
    if not isinstance(raw, list) or len(raw) != 2:
        raise _Invalid("must be a list of two bounds: [low, high]")
    low, high = parse(raw[0]), parse(raw[1])
    key = (lambda m: m.start) if isinstance(low, Moment) else (lambda v: v)
    return (low, high) if key(low) <= key(high) else (high, low)


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


# --- Public interface -------------------------------------------------------------------------


def validate_definition(company: Company, definition, *, now: datetime | None = None) -> None:
    """Raise ValidationError({"rules[1].rules[0].comparison": [...], ...}) naming every bad rule."""
    compile_definition(company, definition, now=now)


def compile_definition(company: Company, definition, *, now: datetime | None = None) -> Q:
    """The definition as one Q on Contact (for Contact.objects.for_company(company))."""
    compiler = _Compiler(company, now or timezone.now())
    condition = compiler.definition(definition)
    if compiler.errors:
        raise ValidationError(compiler.errors)
    assert condition is not None
    return condition


def segment_contacts(company: Company, definition, *, now: datetime | None = None) -> ContactQuerySet:
    """The company's contacts in the segment, as one lazy query. Erased contacts are never in one."""
    condition = compile_definition(company, definition, now=now)
    return Contact.objects.for_company(company).filter(erased_at__isnull=True).filter(condition)


def definition_path(path: str) -> str:
    """A rule path as a request field name: "rules[0].value" -> "definition.rules[0].value"."""
    return path if path == "definition" else f"definition.{path}"


# --- Writes ------------------------------------------------------------------------------------


class SegmentNameTaken(ValidationError):
    """The only thing wrong is that another segment of the company has the name (the API's 409)."""

    def __init__(self, name: str):
        super().__init__({"name": [f"A segment named '{name}' already exists."]})


def _clean_segment(company: Company, *, name: str, definition, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["A segment needs a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    try:
        validate_definition(company, definition)
    except ValidationError as exc:
        errors.update({definition_path(path): messages for path, messages in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    if Segment.objects.for_company(company).filter(name=name).exclude(pk=exclude_pk).exists():
        raise SegmentNameTaken(name)
    return name


def _save(segment: Segment) -> Segment:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:  # a concurrent save took the name between the check and the write
        raise SegmentNameTaken(segment.name) from None
    return segment


def segment_create(*, company: Company, name: str, definition, description: str = "") -> Segment:
    name = _clean_segment(company, name=name, definition=definition)
    return _save(Segment(company=company, name=name, description=description or "", definition=definition))


def segment_update(*, segment: Segment, **changes) -> Segment:
    """Change any of name, description, definition; the result is validated as a whole."""
    for attribute in ("name", "description", "definition"):
        if attribute in changes:
            setattr(segment, attribute, changes[attribute])
    segment.name = _clean_segment(
        segment.company, name=segment.name, definition=segment.definition, exclude_pk=segment.pk
    )
    segment.description = segment.description or ""
    return _save(segment)


def segment_delete(*, segment: Segment) -> None:
    segment.delete()
