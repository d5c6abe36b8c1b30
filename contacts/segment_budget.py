"""The complexity budget of a segment definition, checked before any SQL runs.

A segment is counted in one query that tests every rule on every contact of the company, so its
cost grows with the number of rules (and with how many of them reach into other tables), not with
what they match. The budget bounds that cost: inside it, the slowest definition we could build
counts 100,000 contacts in well under 2 s on PostgreSQL (bench/segment_budget.py, bench/README.md).
Past that, the statement timeout of web requests (salloq/core/db.py) is what stops a count.

| limit | at most |
| --- | --- |
| rules, all levels together | MAX_RULES |
| groups, all levels together | MAX_GROUPS |
| nesting (the top-level group is 1) | MAX_DEPTH |
| items of one `in` list | MAX_VALUES |
| values in all: every rule's value, each item of `in` and `between` lists, each `where` key | MAX_TOTAL_VALUES |
| rules on events, custom fields, key information or lists (each one a subquery) | MAX_SUBQUERY_RULES |
| keys of a property path (`properties.a.b.c`) | MAX_PATH_KEYS |
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_RULES = 50
MAX_GROUPS = 20
MAX_DEPTH = 5
MAX_VALUES = 100
MAX_TOTAL_VALUES = 500
MAX_SUBQUERY_RULES = 10
MAX_PATH_KEYS = 5

# Field prefixes whose rules read another table (events, custom field values, key information,
# list memberships) through a subquery: the most expensive kind of rule.
SUBQUERY_PREFIXES = ("events.", "fields.", "key_information.")
SUBQUERY_FIELDS = ("lists",)


@dataclass
class Size:
    rules: int = 0
    groups: int = 0
    values: int = 0
    subquery_rules: int = 0


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
        field = child.get("field")
        if isinstance(field, str) and (field in SUBQUERY_FIELDS or field.startswith(SUBQUERY_PREFIXES)):
            size.subquery_rules += 1
        if "value" in child:
            value = child["value"]
            size.values += len(value) if isinstance(value, list) else 1
        where = child.get("where")
        if isinstance(where, dict):
            size.values += len(where)
    return size


def over_budget(definition) -> list[str]:
    """A message for each limit the definition exceeds (none: it is inside the budget)."""
    size = measure(definition)
    limits = (
        (size.rules, MAX_RULES, "rules"),
        (size.groups, MAX_GROUPS, "groups"),
        (size.values, MAX_TOTAL_VALUES, "values in all (each item of an 'in' or 'between' list counts)"),
        (size.subquery_rules, MAX_SUBQUERY_RULES, "rules on events, custom fields, key information and lists"),
    )
    return [
        f"Over the complexity budget: a segment has at most {limit} {what}; this one has {found}."
        for found, limit, what in limits
        if found > limit
    ]
