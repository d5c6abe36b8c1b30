"""Dynamic segments: the Salloq Marketing API's rule language, compiled to one SQL query.

- rules.py: the vocabulary (operators, field kinds and their comparisons) and rule value parsing;
- budget.py: the complexity budget a definition must fit before any SQL runs;
- sql.py: JSON keys as SQL expressions and the conditions a rule becomes;
- compiler.py: walks a definition, validating every node and building its Q;
- definitions.py: the public interface below (validate, compile, the contacts in a segment);
- schema.py: the rule language as JSON Schema for the API;
- services.py: segment writes (create, update, delete).

``from contacts import segments; segments.segment_contacts(company, definition)`` is the way in for
readers; the rule vocabulary is re-exported too, for the dashboard's builder.
"""

from .definitions import compile_definition, definition_path, segment_contacts, validate_definition
from .rules import (
    ALL_COMPARISONS,
    BOOLEAN,
    COMPARISONS,
    CUSTOM_FIELD_KINDS,
    DATE,
    DATETIME,
    EVENT_COUNT,
    EVENT_LAST,
    EVENT_TOTAL,
    KEY_INFO,
    KIND_LABELS,
    LISTS,
    NUMBER,
    OPERATORS,
    PROPERTY,
    STATUS,
    TAGS,
    TEXT,
    TEXT_ATTRIBUTES,
)

__all__ = [
    "ALL_COMPARISONS",
    "BOOLEAN",
    "COMPARISONS",
    "CUSTOM_FIELD_KINDS",
    "DATE",
    "DATETIME",
    "EVENT_COUNT",
    "EVENT_LAST",
    "EVENT_TOTAL",
    "KEY_INFO",
    "KIND_LABELS",
    "LISTS",
    "NUMBER",
    "OPERATORS",
    "PROPERTY",
    "STATUS",
    "TAGS",
    "TEXT",
    "TEXT_ATTRIBUTES",
    "compile_definition",
    "definition_path",
    "segment_contacts",
    "validate_definition",
]
