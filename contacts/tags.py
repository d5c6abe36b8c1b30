"""Conditions on a contact's tags (Contact.tags, a JSON list of strings), for segments and filters.

Segments match tags as Django's iexact and istartswith match text, per database (PostgreSQL:
UPPER on both sides; SQLite: LIKE, case-insensitive for ASCII letters), so a tag rule means
what the same rule on a text attribute means. The exact filter (`?tag=`) uses containment on
PostgreSQL, which the GIN index contact_tags serves.
"""

import json

from django.db.models import BooleanField, Expression, F, Q

IS_SET = "is_set"
EQUALS = "equals"  # case-insensitive
STARTS_WITH = "starts_with"  # case-insensitive
EXACTLY = "exactly"  # case-sensitive: the `tag` filter


class TagsMatch(Expression):
    """True when the contact has at least one tag that matches (for IS_SET: any tag at all).
    EQUALS takes several values: a tag equal to any of them matches."""

    output_field = BooleanField()
    conditional = True

    def __init__(self, mode: str, values: list[str] = ()):
        super().__init__()
        self.tags = F("tags")
        self.mode = mode
        self.values = list(values)

    def get_source_expressions(self):
        return [self.tags]

    def set_source_expressions(self, exprs):
        (self.tags,) = exprs

    def as_sql(self, compiler, connection):
        column, params = compiler.compile(self.tags)
        postgresql = connection.vendor == "postgresql"
        if self.mode == IS_SET:
            function = "jsonb_array_length" if postgresql else "json_array_length"
            return f"{function}({column}) > 0", params
        if self.mode == EXACTLY and postgresql:
            return f"{column} @> %s::jsonb", [*params, json.dumps(self.values[:1])]
        if postgresql:
            elements, name = f"jsonb_array_elements_text({column}) AS tag(name)", "tag.name"
        else:
            elements, name = f"json_each({column})", "json_each.value"
        conditions, values = [], []
        for value in self.values:
            if self.mode == EXACTLY:
                conditions.append(f"{name} = %s")
                values.append(value)
            elif postgresql:  # as Django's iexact / istartswith on PostgreSQL
                like = self.mode == STARTS_WITH
                conditions.append(f"UPPER({name}) LIKE UPPER(%s)" if like else f"UPPER({name}) = UPPER(%s)")
                values.append(_like_prefix(connection, value) if like else value)
            else:  # as Django's iexact / istartswith on SQLite
                conditions.append(f"{name} LIKE %s ESCAPE '\\'")
                escaped = _like_prefix(connection, value)
                values.append(escaped if self.mode == STARTS_WITH else escaped[:-1])
        if not conditions:
            return "1 = 0", params
        # Only our own SQL fragments are joined in; every value travels as a parameter.
        sql = f"EXISTS (SELECT 1 FROM {elements} WHERE {' OR '.join(conditions)})"  # noqa: S608
        return sql, [*params, *values]


def _like_prefix(connection, value: str) -> str:
    return connection.ops.prep_for_like_query(value) + "%"


def has_tag(name: str) -> Q:
    """The contact has exactly this tag (case-sensitive)."""
    return Q(TagsMatch(EXACTLY, [name]))


def merge_tags(current: list[str], new: list[str]) -> list[str]:
    """`current` with the tags of `new` it lacks appended, in order."""
    return [*current, *(tag for tag in dict.fromkeys(new) if tag not in current)]
