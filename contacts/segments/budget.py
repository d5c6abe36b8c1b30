"""The complexity budget of a segment definition, checked before any SQL runs.

A segment is counted in one query that tests every rule on every contact of the company, so its
cost grows with its rules and what each has to read, not with what they match. The weights follow
what one rule cost on 100,000 contacts (bench/segment_budget.py, bench/README.md): a rule on one of
the contact's own columns tens of milliseconds at most (the rule count bounds those), a rule that
looks into JSON (properties, tags) or another small table (custom field values, key information,
list memberships) up to about 100 ms, an events rule that aggregates the company's events about
600 ms. The budget bounds their sum (MAX_COST) and the size of the definition, so that the slowest
definition inside it counts 100,000 contacts in under 2 s. Past it, the statement timeout of web
requests (salloq/core/db.py) is what stops a count.

| limit | at most |
| --- | --- |
| cost in points (COLUMN_RULE_COST, RULE_COST, EVENTS_RULE_COST per rule, by what it reads) | MAX_COST |
| rules, all levels together | MAX_RULES |
| groups, all levels together | MAX_GROUPS |
| nesting (the top-level group is 1) | MAX_DEPTH |
| items of one `in` list | MAX_VALUES |
| values in all: every rule's value, each item of `in` and `between` lists, each `where` key | MAX_TOTAL_VALUES |
| keys of a property path (`properties.a.b.c`) | MAX_PATH_KEYS |
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contact_input import CONTACT_ATTRIBUTES

MAX_RULES = 50
MAX_GROUPS = 20
MAX_DEPTH = 5
MAX_VALUES = 100
MAX_TOTAL_VALUES = 500
MAX_PATH_KEYS = 5
MAX_COST = 250

COLUMN_RULE_COST = 1  # email, names, phone, lang, source, external_id, status, created_at
RULE_COST = 15  # properties, tags, custom fields, key information, lists
EVENTS_RULE_COST = 75
COLUMN_FIELDS = (*CONTACT_ATTRIBUTES, "created_at")


@dataclass
class Size:
    rules: int = 0
    groups: int = 0
    values: int = 0
    cost: int = 0


def measure(group, depth: int = 1, size: Size | None = None) -> Size:
    """How big a definition is, counted from its shape alone, without descending past MAX_DEPTH
    (deeper groups are reported by the compiler). Malformed parts count as what they look like."""
    size = size if size is not None else Size()
    children = group.get("rules") if isinstance(group, dict) else None
    if not isinstance(children, list):
        return size
    for child in children:
        if isinstance(child, dict) and "rules" in child:
            size.groups += 1
            if depth < MAX_DEPTH:
                measure(child, depth + 1, size)
            continue
        size.rules += 1
        if not isinstance(child, dict):
            continue
        size.cost += rule_cost(child.get("field"))
        if "value" in child:
            value = child["value"]
            size.values += len(value) if isinstance(value, list) else 1
        where = child.get("where")
        if isinstance(where, dict):
            size.values += len(where)
    return size


def rule_cost(field) -> int:
    if field in COLUMN_FIELDS:
        return COLUMN_RULE_COST
    if isinstance(field, str) and field.startswith("events."):
        return EVENTS_RULE_COST
    return RULE_COST


def over_budget(definition) -> list[str]:
    """A message for each limit the definition exceeds (none: it is inside the budget)."""
    size = measure(definition)
    limits = (
        (
            size.cost,
            MAX_COST,
            f"points of cost ({COLUMN_RULE_COST} per rule on a contact column such as email or status, "
            f"{RULE_COST} per property, tag, custom field, key information or list rule, "
            f"{EVENTS_RULE_COST} per events rule)",
        ),
        (size.rules, MAX_RULES, "rules"),
        (size.groups, MAX_GROUPS, "groups"),
        (size.values, MAX_TOTAL_VALUES, "values in all (each item of an 'in' or 'between' list counts)"),
    )
    return [
        f"Over the complexity budget: a segment has at most {limit} {what}; this one has {found}."
        for found, limit, what in limits
        if found > limit
    ]
