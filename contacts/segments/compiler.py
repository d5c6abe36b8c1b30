"""The segment compiler: the Salloq Marketing API's rule language, compiled to one SQL query.

A definition is a group ``{"operator": "and"|"or", "rules": [rule | group, ...]}``; a rule is
``{"field": ..., "comparison": ..., "value": ...}``, and ``events.*`` rules may add
``"within_last_days": n`` and ``"where": {data_key: value}``. A definition must fit the complexity
budget of budget.py (rules, groups, nesting, values), checked before any SQL runs. An empty
"and" group matches every contact, an empty "or" group none (the identities of the two operators).

Every rule becomes a condition on the contact row: a column lookup, a JSON expression on
``properties``, or an EXISTS / ``pk IN (… GROUP BY … HAVING …)`` subquery on the related
table (``commerce.*`` rules: ``pk IN`` the matching commerce facts rows), so a whole segment is
one SELECT however many rules it has. A negation (``not_equals``,
``is_not_set``) is always the exact complement of its positive comparison: contacts with no
row or no value (no tag, no custom field value, no event) are in it.

Text comparisons ignore case (ASCII letters only on SQLite, like its LIKE); dates are UTC days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, Max, OuterRef, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.db.models.lookups import Exact

from catalog.models import CollectionItem, CommerceFacts
from events.models import Event
from salloq.core.models import Company
from salloq.core.text import text_problem

from .. import tags
from ..models import (
    ContactList,
    CustomField,
    CustomFieldValue,
    KeyInformation,
    ListMembership,
    MembershipStatus,
)
from ..tags import TagsMatch
from .budget import MAX_DEPTH, MAX_PATH_KEYS, over_budget
from .rules import (
    BOOLEAN,
    COLLECTION,
    COMMERCE_FIELDS,
    COMMERCE_NULLABLE,
    COMPARISONS,
    CUSTOM_FIELD_COLUMNS,
    CUSTOM_FIELD_KINDS,
    DATE,
    DATETIME,
    EVENT_COUNT,
    EVENT_LAST,
    EVENT_METRICS,
    EVENT_TOTAL,
    EVENT_TYPE,
    JSON_KEY,
    KEY_INFO,
    KIND_LABELS,
    LISTS,
    MAX_WHERE_KEYS,
    NULLABLE_ATTRIBUTES,
    NUMBER,
    OPERATORS,
    PROPERTY,
    RULE_KEYS,
    SETNESS,
    STATUS,
    TAGS,
    TEXT,
    TEXT_ATTRIBUTES,
    InvalidValue,
    parse_boolean,
    parse_bounds,
    parse_count,
    parse_day,
    parse_days,
    parse_items,
    parse_list_id,
    parse_moment,
    parse_number,
    parse_status,
    parse_text,
    shown,
)
from .sql import (
    EVERYONE,
    NOBODY,
    JSONAt,
    all_of,
    any_of,
    day_condition,
    is_present,
    moment_condition,
    number_condition,
    text_condition,
)

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
    facts_column: str = ""  # commerce facts
    collection: str = ""  # a product collection's name


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class Compiler:
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
            self.error(_join(path, "operator"), f"Must be 'and' or 'or', not {shown(operator)}.")
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
        return any_of(conditions) if operator == "or" else all_of(conditions)

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
                f"{shown(comparison)} does not apply to {raw_field} ({KIND_LABELS[field.kind]}); "
                f"use one of: {', '.join(allowed)}.",
            )
            return None
        is_event = field.kind in (EVENT_COUNT, EVENT_TOTAL, EVENT_LAST)
        for extra in ("within_last_days", "where"):
            if extra in node and not is_event:
                self.error(_join(path, extra), f"Only events.* rules take '{extra}'.")
        try:
            value = self.value(field, comparison, node)
        except InvalidValue as exc:
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
            if len(rest) > 255:
                self.error(path, "A key information name has at most 255 characters.")
                return None
            if problem := text_problem(rest):
                self.error(path, f"A key information name {problem}.")
                return None
            return _Field(KEY_INFO, name, key_name=rest)
        if prefix == "events" and rest:
            event_type, _, metric = rest.rpartition(".")
            if metric not in EVENT_METRICS or not EVENT_TYPE.match(event_type):
                self.error(path, "Event fields are events.<event_type>.count, .total or .last.")
                return None
            kind = {"count": EVENT_COUNT, "total": EVENT_TOTAL, "last": EVENT_LAST}[metric]
            return _Field(kind, name, event_type=event_type)
        if prefix == "commerce" and rest:
            if rest not in COMMERCE_FIELDS:
                self.error(path, f"Commerce fields are commerce.{', commerce.'.join(COMMERCE_FIELDS)}.")
                return None
            return _Field(COMMERCE_FIELDS[rest], name, facts_column=rest)
        if prefix == "collections" and rest:
            if len(rest) > 255:
                self.error(path, "A collection name has at most 255 characters.")
                return None
            if problem := text_problem(rest):
                self.error(path, f"A collection name {problem}.")
                return None
            return _Field(COLLECTION, name, collection=rest)
        attributes = ", ".join((*TEXT_ATTRIBUTES, "status", "created_at"))
        self.error(
            path,
            f"Unknown field '{name}'. Use a contact attribute ({attributes}),"
            " properties.<key>, fields.<name>, key_information.<name>, tags, lists, events.<type>.count|total|last"
            ", commerce.<fact> (e.g. commerce.total_spent) or collections.<collection name>.",
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
        if comparison in SETNESS:
            if "value" in node:
                raise InvalidValue("must be left out")
            return None
        if "value" not in node or raw is None:
            raise InvalidValue("is required")
        kind = field.kind
        if comparison == "within_last":
            return parse_days(raw)
        if kind in (PROPERTY, KEY_INFO):
            return self.mixed_value(kind, comparison, raw)
        parse = {
            TEXT: parse_text,
            TAGS: parse_text,
            COLLECTION: parse_text,
            STATUS: parse_status,
            NUMBER: parse_number,
            EVENT_TOTAL: parse_number,
            EVENT_COUNT: parse_count,
            DATE: parse_day,
            DATETIME: parse_moment,
            EVENT_LAST: parse_moment,
            BOOLEAN: parse_boolean,
            LISTS: parse_list_id,
        }[kind]
        if comparison == "in":
            return parse_items(raw, parse)
        if comparison == "between":
            return parse_bounds(raw, parse)
        value = parse(raw)
        if field.column == "email" and isinstance(value, str):
            value = value.strip().lower()  # stored normalized: an exact, indexable match
        return value

    def mixed_value(self, kind: str, comparison: str, raw):
        """Properties and key information hold text or numbers (properties also booleans):
        the value's JSON type says which comparison is meant."""
        if comparison in ("contains", "starts_with"):
            return parse_text(raw)
        if comparison in ("greater_than", "less_than"):
            return parse_number(raw)
        if comparison == "between":
            return parse_bounds(raw, parse_number)
        if comparison == "in":
            if isinstance(raw, list) and raw and all(isinstance(item, str) for item in raw):
                return parse_items(raw, parse_text)
            return parse_items(raw, parse_number)
        if isinstance(raw, str):
            return parse_text(raw)
        if isinstance(raw, bool):
            if kind == KEY_INFO:
                raise InvalidValue("must be text or a number")
            return raw
        return parse_number(raw)

    # Conditions

    def condition(self, field: _Field, comparison: str, value, negated: bool = False) -> Q:
        """The positive comparison's condition. With `negated`, it must be TRUE or FALSE, never NULL
        (SQL's NOT NULL is NULL, which would drop contacts without a value from "not equals")."""
        if comparison in ("not_equals", "is_not_set"):
            positive = "equals" if comparison == "not_equals" else "is_set"
            return ~self.condition(field, positive, value, negated=True)
        kind = field.kind
        if field.facts_column:
            return self.commerce_condition(field, comparison, value)
        if field.collection:
            return self.collection_condition(field, comparison, value)
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
            return moment_condition(column, comparison, value, self.now)
        if column == "email" and comparison == "equals":
            return Q(email=value)
        return text_condition(column, comparison, value, guard=is_present(column) if nullable else None)

    def property_condition(
        self, keys: tuple[str, ...], column: str, comparison: str, value, negated: bool = False
    ) -> Q:
        kind, raw = JSONAt(column, keys, "kind"), JSONAt(column, keys, "raw")
        if comparison == "is_set":
            return Q(JSONAt(column, keys, "is_set"))
        sample = value[0] if isinstance(value, list) else value
        if isinstance(sample, bool):
            condition = Q(Exact(kind, "true" if value else "false"))
            return is_present(kind) & condition if negated else condition
        if isinstance(sample, str):
            condition = text_condition(raw, comparison, value, guard=Q(JSONAt(column, keys, "is_string")))
            return is_present(raw) & condition if negated else condition
        number = JSONAt(column, keys, "number")
        condition = number_condition(number, comparison, value)
        return is_present(number) & condition if negated else condition

    def custom_field_condition(self, field: _Field, comparison: str, value) -> Q:
        column = CUSTOM_FIELD_COLUMNS[field.kind]
        values = CustomFieldValue.objects.filter(contact=OuterRef("pk"), field=field.custom_field)
        if comparison == "is_set":
            match = Q(**{f"{column}__isnull": False})
            if field.kind == TEXT:
                match &= ~Q(text_value="")
        elif field.kind == TEXT:
            match = text_condition(column, comparison, value)
        elif field.kind == NUMBER:
            match = number_condition(column, comparison, value)
        elif field.kind == DATE:
            match = day_condition(column, comparison, value, self.now.astimezone(UTC).date())
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
                match = text_condition("text_value", comparison, value)
            else:
                match = number_condition("numeric_value", comparison, value)
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

    def commerce_condition(self, field: _Field, comparison: str, value) -> Q:
        """The contact's commerce facts row matches; a contact without one (nothing bought) counts
        as 0 for the numbers and null for the dates and the average."""
        column = field.facts_column
        nullable = column in COMMERCE_NULLABLE
        if comparison == "is_set":
            if not nullable:
                return EVERYONE  # a number that is 0 without a row is always set
            match = Q(**{f"{column}__isnull": False})
        elif field.kind == DATETIME:
            match = moment_condition(column, comparison, value, self.now)
        else:
            match = number_condition(column, comparison, value)
        facts = CommerceFacts.objects.filter(company_id=self.company.pk).order_by()
        if nullable or comparison == "is_set" or not _holds(comparison, value, Decimal(0)):
            return Q(pk__in=facts.filter(match).values("contact_id"))
        # 0 matches: contacts without a row are in, unless their row says otherwise (no column here
        # is null, so the exclusion is exact).
        return ~Q(pk__in=facts.exclude(match).values("contact_id"))

    def collection_condition(self, field: _Field, comparison: str, value) -> Q:
        """The contact has, in the company's collections of that name (one per catalog), the
        product id given (contains), one of them (in), or any product (is_set)."""
        items = CollectionItem.objects.filter(
            contact=OuterRef("pk"), collection__company_id=self.company.pk, collection__name=field.collection
        )
        if comparison == "contains":
            items = items.filter(product__product_id=value)
        elif comparison == "in":
            items = items.filter(product__product_id__in=value)
        return Q(Exists(items))

    # Events

    def event_filter(self, field: _Field, node: dict, path: str) -> Q | None:
        """Which events a rule looks at: its type, optionally a recent window and data matches."""
        condition = Q(company_id=self.company.pk, event_type=field.event_type)
        if "within_last_days" in node:
            try:
                days = parse_days(node["within_last_days"])
            except InvalidValue as exc:
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
                value = raw if isinstance(raw, bool) else parse_text(raw) if isinstance(raw, str) else parse_number(raw)
            except InvalidValue as exc:
                self.error(key_path, f"The value {exc} (text, a number or true/false).")
                continue
            if problem := text_problem(key):
                self.error(key_path, f"A data key {problem}: no stored JSON can hold it.")
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
                matching = matching.filter(moment_condition("occurred_at", "after", value, self.now))
            return Q(Exists(matching.filter(contact=OuterRef("pk"))))
        if field.kind == EVENT_LAST:
            metric, zero_matches = Max("occurred_at"), False  # no event: no date, nothing matches
            having = moment_condition("metric", comparison, value, self.now)
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
            having = number_condition("metric", comparison, value)
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
    if comparison == "in":
        return number in value
    raise AssertionError(comparison)
