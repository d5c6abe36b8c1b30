"""SQL building blocks of the segment compiler: JSON keys as expressions (JSONAt), a case-blind IN
(InIgnoringCase), and the conditions a rule becomes (text, number, timestamp and day comparisons).
"""

from __future__ import annotations

import operator as op
from datetime import date, datetime, timedelta
from functools import reduce

from django.db import NotSupportedError
from django.db.models import BooleanField, DecimalField, F, Func, Q, TextField
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

from .rules import JSON_KEY, NUMERIC_TEXT

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
        # definition of many nested-key rules run for minutes (bench/README.md, budget.py).
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


# --- Conditions ----------------------------------------------------------------------------


EVERYONE = Q(pk__isnull=False)
NOBODY = Q(pk__in=[])


# EVERYONE and NOBODY (empty groups, another company's list) are folded away here rather than
# left for the database to test on every contact.


def any_of(conditions: list[Q]) -> Q:
    if any(condition is EVERYONE for condition in conditions):
        return EVERYONE
    conditions = [condition for condition in conditions if condition is not NOBODY]
    return reduce(op.or_, conditions) if conditions else NOBODY


def all_of(conditions: list[Q]) -> Q:
    if any(condition is NOBODY for condition in conditions):
        return NOBODY
    conditions = [condition for condition in conditions if condition is not EVERYONE]
    return reduce(op.and_, conditions) if conditions else EVERYONE


def lookup_on(lhs, lookup, value) -> Q:
    """`lhs <lookup> value`, for a column name (of the model being filtered) or an expression."""
    if isinstance(lhs, str):
        return Q(**{f"{lhs}__{lookup.lookup_name}": value})
    return Q(lookup(lhs, value))


def is_present(lhs) -> Q:
    return lookup_on(lhs, IsNull, False)


def text_condition(lhs, comparison: str, value, *, guard: Q | None = None) -> Q:
    """Positive text comparisons, ANDed with `guard` (tested second: it is only read for rows that match)."""
    if comparison == "equals":
        condition = lookup_on(lhs, IExact, value)
    elif comparison == "contains":
        condition = lookup_on(lhs, IContains, value)
    elif comparison == "starts_with":
        condition = lookup_on(lhs, IStartsWith, value)
    elif comparison == "in":
        condition = Q(InIgnoringCase(F(lhs) if isinstance(lhs, str) else lhs, value))
    else:
        raise AssertionError(comparison)
    return condition & guard if guard is not None else condition


def number_condition(lhs, comparison: str, value) -> Q:
    if comparison == "equals":
        condition = lookup_on(lhs, Exact, value)
    elif comparison == "greater_than":
        condition = lookup_on(lhs, GreaterThan, value)
    elif comparison == "less_than":
        condition = lookup_on(lhs, LessThan, value)
    elif comparison == "between":
        condition = lookup_on(lhs, GreaterThanOrEqual, value[0]) & lookup_on(lhs, LessThanOrEqual, value[1])
    elif comparison == "in":
        condition = lookup_on(lhs, In, value)
    else:
        raise AssertionError(comparison)
    return condition


def moment_condition(lhs, comparison: str, value, now: datetime) -> Q:
    """Timestamp comparisons with Moment values (never NULL-sensitive: callers test presence)."""
    if comparison == "before":
        return lookup_on(lhs, LessThan, value.start)
    if comparison == "after":
        return lookup_on(lhs, GreaterThanOrEqual if not value.end_inclusive else GreaterThan, value.end)
    if comparison in ("between", "equals"):
        low, high = value if comparison == "between" else (value, value)
        upper = LessThanOrEqual if high.end_inclusive else LessThan
        return lookup_on(lhs, GreaterThanOrEqual, low.start) & lookup_on(lhs, upper, high.end)
    if comparison == "within_last":
        return lookup_on(lhs, GreaterThanOrEqual, now - timedelta(days=value)) & lookup_on(lhs, LessThanOrEqual, now)
    raise AssertionError(comparison)


def day_condition(lhs, comparison: str, value, today: date) -> Q:
    if comparison == "before":
        return lookup_on(lhs, LessThan, value)
    if comparison == "after":
        return lookup_on(lhs, GreaterThan, value)
    if comparison == "equals":
        return lookup_on(lhs, Exact, value)
    if comparison == "between":
        return lookup_on(lhs, GreaterThanOrEqual, value[0]) & lookup_on(lhs, LessThanOrEqual, value[1])
    if comparison == "within_last":
        return lookup_on(lhs, GreaterThanOrEqual, today - timedelta(days=value)) & lookup_on(
            lhs, LessThanOrEqual, today
        )
    raise AssertionError(comparison)
