"""The rule language as JSON Schema (DEFINITION_SCHEMA), for the API's OpenAPI document.

Built from the compiler's own tables. Every definition the schema describes is accepted; custom
fields (`fields.<name>`) are accepted too but cannot be described (they depend on the company), so
the description names them.
"""

from ..models import ContactStatus
from . import budget
from .rules import (
    COMMERCE_FIELDS,
    COMMERCE_NULLABLE,
    DATETIME,
    MAX_COUNT,
    MAX_DAYS,
    MAX_TEXT,
    NUMBER_LIMIT,
    OPERATORS,
    TEXT_ATTRIBUTES,
)

_TEXT = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT, "pattern": "^[^\\u0000]+$"}
_LIMIT = int(NUMBER_LIMIT)
_NUMBER = {"type": "number", "minimum": -_LIMIT, "exclusiveMinimum": True, "maximum": _LIMIT, "exclusiveMaximum": True}
_COUNT = {"type": "integer", "minimum": 0, "maximum": MAX_COUNT}
_LIST_ID = {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}
_DATE = {
    "anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
    "description": "An ISO date (a whole UTC day) or date-time.",
}
_DAYS_NUMBER = {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
_DAYS = {
    "anyOf": [
        _DAYS_NUMBER,
        {"type": "object", "required": ["days"], "additionalProperties": False, "properties": {"days": _DAYS_NUMBER}},
    ]
}
_STATUS = {"type": "string", "enum": ContactStatus.values}
_PROPERTY = {
    "type": "string",
    "pattern": f"^properties(\\.[A-Za-z0-9_-]{{1,100}}){{1,{budget.MAX_PATH_KEYS}}}$",
}
_KEY_INFO = {"type": "string", "pattern": "^key_information\\.[^\\u0000]{1,255}$"}
_COLLECTION = {"type": "string", "pattern": "^collections\\.[^\\u0000]{1,255}$"}


def _event_field(metric: str) -> dict:
    return {"type": "string", "pattern": f"^events\\.[A-Za-z0-9_.:-]{{1,100}}\\.{metric}$"}


def _fields(*alternatives) -> dict:
    return alternatives[0] if len(alternatives) == 1 else {"anyOf": list(alternatives)}


def _enum(*names) -> dict:
    return {"type": "string", "enum": list(names)}


def _list(item: dict, min_items: int = 1, max_items: int = budget.MAX_VALUES) -> dict:
    return {"type": "array", "items": item, "minItems": min_items, "maxItems": max_items}


# `where` ({data_key: value}) is accepted on events.* rules too, but only described in words: OpenAPI
# 3.0 cannot constrain object keys, and a key with a NUL character (which no stored JSON can hold) is a
# 400, so a schema listing `where` would promise more than the API accepts.
_EVENT_EXTRAS = {"within_last_days": {**_DAYS_NUMBER, "description": "Only events of the last n days."}}


def _rule(field: dict, comparisons: list[str], value: dict | None, extras: dict | None = None) -> dict:
    properties = {"field": field, "comparison": {"type": "string", "enum": comparisons}}
    required = ["field", "comparison"]
    if value is not None:
        properties["value"] = value
        required.append("value")
    properties.update(extras or {})
    return {"type": "object", "required": required, "additionalProperties": False, "properties": properties}


def _commerce(*names) -> dict:
    return _enum(*(f"commerce.{name}" for name in names))


_COMMERCE_DATES = [name for name, kind in COMMERCE_FIELDS.items() if kind == DATETIME]
_COMMERCE_NUMBERS = _commerce(*(name for name, kind in COMMERCE_FIELDS.items() if kind != DATETIME))


def _rule_schemas() -> list[dict]:
    text_fields = _enum(*TEXT_ATTRIBUTES, "tags")
    mixed = _fields(_PROPERTY, _KEY_INFO)
    last = _event_field("last")
    moment_fields = _fields(_enum("created_at", *(f"commerce.{name}" for name in _COMMERCE_DATES)), last)
    return [
        _rule(_fields(text_fields, mixed), ["equals", "not_equals", "contains", "starts_with"], _TEXT),
        _rule(_fields(text_fields, mixed), ["in"], _list(_TEXT)),
        _rule(
            _fields(
                _enum(*TEXT_ATTRIBUTES, "tags", "lists", "created_at", *_commerce(*COMMERCE_NULLABLE)["enum"]),
                mixed,
                last,
            ),
            ["is_set", "is_not_set"],
            None,
        ),
        _rule(_enum("status"), ["equals", "not_equals"], _STATUS),
        _rule(_enum("status"), ["in"], _list(_STATUS)),
        _rule(moment_fields, ["equals", "not_equals", "before", "after"], _DATE),
        _rule(moment_fields, ["between"], _list(_DATE, 2, 2)),
        _rule(moment_fields, ["within_last"], _DAYS),
        _rule(mixed, ["equals", "not_equals", "greater_than", "less_than"], _NUMBER),
        _rule(mixed, ["between"], _list(_NUMBER, 2, 2)),
        _rule(mixed, ["in"], _list(_NUMBER)),
        _rule(_PROPERTY, ["equals", "not_equals"], {"type": "boolean"}),
        _rule(_COMMERCE_NUMBERS, ["equals", "not_equals", "greater_than", "less_than"], _NUMBER),
        _rule(_COMMERCE_NUMBERS, ["between"], _list(_NUMBER, 2, 2)),
        _rule(_COMMERCE_NUMBERS, ["in"], _list(_NUMBER)),
        _rule(_COMMERCE_NUMBERS, ["is_set", "is_not_set"], None),
        _rule(_COLLECTION, ["contains"], _TEXT),
        _rule(_COLLECTION, ["in"], _list(_TEXT)),
        _rule(_COLLECTION, ["is_set", "is_not_set"], None),
        _rule(_enum("lists"), ["equals", "not_equals"], _LIST_ID),
        _rule(_enum("lists"), ["in"], _list(_LIST_ID)),
        _rule(_event_field("count"), ["equals", "not_equals", "greater_than", "less_than"], _COUNT, _EVENT_EXTRAS),
        _rule(_event_field("count"), ["between"], _list(_COUNT, 2, 2), _EVENT_EXTRAS),
        _rule(_event_field("total"), ["equals", "not_equals", "greater_than", "less_than"], _NUMBER, _EVENT_EXTRAS),
        _rule(_event_field("total"), ["between"], _list(_NUMBER, 2, 2), _EVENT_EXTRAS),
        _rule(last, ["equals", "not_equals", "before", "after"], _DATE, _EVENT_EXTRAS),
        _rule(last, ["between"], _list(_DATE, 2, 2), _EVENT_EXTRAS),
        _rule(last, ["within_last"], _DAYS, _EVENT_EXTRAS),
        _rule(last, ["is_set", "is_not_set"], None, _EVENT_EXTRAS),
    ]


def _group_schema(depth: int) -> dict:
    items = _rule_schemas()
    if depth < budget.MAX_DEPTH:
        items.append(_group_schema(depth + 1))
    return {
        "type": "object",
        "required": ["operator", "rules"],
        "additionalProperties": False,
        "properties": {
            "operator": {"type": "string", "enum": list(OPERATORS)},
            "rules": {"type": "array", "maxItems": budget.MAX_RULES, "items": {"anyOf": items}},
        },
    }


DEFINITION_SCHEMA = {
    **_group_schema(1),
    "description": (
        "The Salloq Marketing API's rule language: a group {operator: and|or, rules: [rule | group]}. "
        f"Complexity budget (a 400 naming the limit, before anything is counted): groups nest at most "
        f"{budget.MAX_DEPTH} deep; at most {budget.MAX_RULES} rules and "
        f"{budget.MAX_GROUPS} groups in all; at most {budget.MAX_TOTAL_VALUES} values in all "
        f"(each item of an 'in' or 'between' list and each 'where' key counts; an 'in' list holds at most "
        f"{budget.MAX_VALUES}); a cost of at most {budget.MAX_COST} points, "
        f"{budget.COLUMN_RULE_COST} per rule on a contact column (email, names, phone, lang, source, "
        f"external_id, status, created_at), {budget.RULE_COST} per property, tag, custom field, key "
        f"information or list rule and {budget.EVENTS_RULE_COST} per events rule; property paths of "
        f"at most {budget.MAX_PATH_KEYS} keys. A rule is "
        "{field, comparison, value}. Fields: contact attributes, status, created_at, properties.<key>, "
        "fields.<custom field name>, key_information.<name>, tags, lists (a list id), "
        "events.<event_type>.count|total|last, which also take within_last_days: n (only events of the "
        "last n days) and where: {data_key: value, ...} (1 to 10 keys without NUL characters; text, number "
        "or true/false values, matched against the event's data like equals), and the contact's commerce "
        f"facts commerce.<fact> ({', '.join(COMMERCE_FIELDS)}; a contact who bought nothing has 0 for the "
        "numbers and no date or average), and collections.<collection name> (contains: a product id in the "
        "contact's collection of that name, in: any of those, is_set: any product). "
        "An empty 'and' group matches everyone, an empty 'or' group nobody."
    ),
    "example": {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {"field": "events.order_placed.count", "comparison": "greater_than", "value": 0, "within_last_days": 30},
        ],
    },
}
