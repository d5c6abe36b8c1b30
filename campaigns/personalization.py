"""Personalization of campaigns: Django template syntax in a sandbox.

A campaign's subject, preheader and content (and a template's layout) may say
`{{ contact.first_name|default:"there" }}`. They are compiled by a dedicated template engine with
no loaders and a small library of its own: only the tags and filters listed below exist there, so
`{% load %}`, `{% include %}`, `{% extends %}`, `{% url %}`, `{% debug %}`, `|safe` and the rest are
syntax errors. The context holds only read-only mappings, tuples, strings, numbers and dates built
from the contact's rows, never model instances, so a variable cannot reach a method or another
object; `check_template` also refuses names that are not in TEMPLATE_VARIABLES, with their line,
when the campaign is saved. At send time an unknown or missing value renders as "" (so `default`
applies) and nothing raises.

Loops are bounded: each `{% for %}` takes at most MAX_LOOP_ITEMS items and one rendering at most
MAX_LOOP_ITERATIONS in total, so nested loops over a contact's data cannot make one message cost
seconds. Filters that pad or repeat text to a length the template chooses (ljust, center,
stringformat, wordwrap) are not offered, and floatformat's precision is capped, for the same reason.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from types import MappingProxyType

from django.core.exceptions import ValidationError
from django.template import Engine, Library, TemplateSyntaxError, defaultfilters, defaulttags
from django.template.base import FilterExpression, Node, Template, Variable, VariableNode
from django.template.defaulttags import FirstOfNode, ForNode, IfNode, NowNode, WithNode
from django.utils.text import slugify

from contacts.contact_input import ATTRIBUTE_LABELS

# --- What a template may use ------------------------------------------------------------------

ALLOWED_TAGS = ("if", "for", "with", "firstof", "now", "comment")
# The tags that only continue or close an allowed one.
_INNER_TAGS = frozenset({"elif", "else", "endif", "empty", "endfor", "endwith", "endcomment"})
ALLOWED_FILTERS = (
    "add",
    "capfirst",
    "cut",
    "date",
    "default",
    "default_if_none",
    "divisibleby",
    "first",
    "floatformat",
    "join",
    "last",
    "length",
    "linebreaksbr",
    "lower",
    "pluralize",
    "slice",
    "slugify",
    "striptags",
    "time",
    "timesince",
    "timeuntil",
    "title",
    "truncatechars",
    "truncatewords",
    "upper",
    "urlencode",
    "wordcount",
    "yesno",
)
MAX_LOOP_ITEMS = 100
MAX_LOOP_ITERATIONS = 1000
MAX_FLOATFORMAT_DIGITS = 10

# The contact's own columns, from the one list of contact attributes, plus what is derived.
CONTACT_ATTRIBUTES = {
    **{name: label for name, label in ATTRIBUTE_LABELS.items()},
    "full_name": "First and last name",
    "tags": "Tags (a list: {% for tag in contact.tags %})",
    "created_at": "When the contact was created",
}
# Namespaces of the contact whose keys are the company's own names.
CONTACT_NAMESPACES = {
    "fields": "Custom field values, by field name or its slug (contact.fields.loyalty_tier)",
    "properties": "The contact's properties (JSON), by key; nested keys with dots",
    "key_information": "Key information (zero-party data), by name or its slug",
}
COMMERCE_ATTRIBUTES = {
    "total_spent": "Total of completed orders",
    "order_count": "Number of completed orders",
    "first_order_at": "First order's date",
    "last_order_at": "Last order's date",
    "average_order_value": "Average order value (empty before the first order)",
    "open_cart_value": "Value of open carts",
    "open_cart_count": "Number of open carts",
    "last_cart_at": "Last cart's date",
    "loyalty_balance": "Loyalty points balance",
    "loyalty_lifetime_points": "Loyalty points earned in total",
    "loyalty_value": "Loyalty balance's money value",
    "active_subscriptions": "Number of active subscriptions",
}
COMPANY_ATTRIBUTES = {"name": "The company's name", "postal_address": "The company's postal address"}
LINK_VARIABLES = {
    "unsubscribe_url": "The recipient's one-click unsubscribe link",
    "preferences_url": "The recipient's subscription preferences page",
}
# The slot of a template's layout that the campaign's content fills.
CONTENT_SLOT = "content"

TEMPLATE_VARIABLES: dict[str, str] = {
    **{f"contact.{name}": label for name, label in CONTACT_ATTRIBUTES.items()},
    **{f"contact.{name}.<name>": label for name, label in CONTACT_NAMESPACES.items()},
    **{f"commerce.{name}": label for name, label in COMMERCE_ATTRIBUTES.items()},
    **{f"company.{name}": label for name, label in COMPANY_ATTRIBUTES.items()},
    **LINK_VARIABLES,
    CONTENT_SLOT: "In a template's layout: where the campaign's content goes",
}

_TOP_LEVEL = frozenset({"contact", "commerce", "company", *LINK_VARIABLES, CONTENT_SLOT})
_FORLOOP_ATTRIBUTES = frozenset({"counter", "counter0", "revcounter", "revcounter0", "first", "last", "parentloop"})

# --- The sandbox library and engine ----------------------------------------------------------

_LOOP_BUDGET_KEY = "campaigns.personalization.loop_budget"


class _BoundedSequence:
    """A `{% for %}` sequence cut to MAX_LOOP_ITEMS and to what is left of the rendering's budget."""

    def __init__(self, filter_expression: FilterExpression):
        self.filter_expression = filter_expression

    def resolve(self, context, ignore_failures=False):
        values = self.filter_expression.resolve(context, ignore_failures=ignore_failures)
        if values is None or isinstance(values, str | int | float | Decimal | bool):
            return []
        budget = context.render_context.get(_LOOP_BUDGET_KEY, MAX_LOOP_ITERATIONS)
        if not isinstance(values, Iterable):
            return []
        items = list(islice(values, min(MAX_LOOP_ITEMS, budget)))
        context.render_context[_LOOP_BUDGET_KEY] = budget - len(items)
        return items


def _bounded_for(parser, token) -> ForNode:
    node = defaulttags.do_for(parser, token)
    node.sequence = _BoundedSequence(node.sequence)
    return node


_FLOATFORMAT_ARGUMENT = re.compile(r"\s*(-?\d+)([gu]*)\s*")


def _floatformat(value, arg=-1):
    """floatformat with at most MAX_FLOATFORMAT_DIGITS decimals ("2", "-2", "2g", "2u"...);
    Django's builds the whole number at any precision asked for, even "1000000"."""
    found = _FLOATFORMAT_ARGUMENT.fullmatch(str(arg))
    if found is None:
        return defaultfilters.floatformat(value, -1)
    digits = max(-MAX_FLOATFORMAT_DIGITS, min(MAX_FLOATFORMAT_DIGITS, int(found.group(1))))
    return defaultfilters.floatformat(value, f"{digits}{found.group(2)}")


def _sandbox_library() -> Library:
    library = Library()
    for name in ALLOWED_TAGS:
        library.tags[name] = defaulttags.register.tags[name]
    library.tags["for"] = _bounded_for
    for name in ALLOWED_FILTERS:
        library.filters[name] = defaultfilters.register.filters[name]
    library.filters["floatformat"] = _floatformat
    return library


class _SandboxEngine(Engine):
    # Without Django's default builtins (defaulttags, defaultfilters, loader_tags): only the
    # sandbox library is there.
    default_builtins: list[str] = []


def _engine(*, debug: bool) -> Engine:
    engine = _SandboxEngine(loaders=[], debug=debug, string_if_invalid="", libraries={}, autoescape=True)
    engine.template_builtins = [_SANDBOX_LIBRARY]
    engine.template_libraries = {}
    return engine


_SANDBOX_LIBRARY = _sandbox_library()
# Debug mode records each node's position, which save-time errors report as a line.
_CHECK_ENGINE = _engine(debug=True)
_RENDER_ENGINE = _engine(debug=False)


def compile_template(source: str) -> Template:
    """The sandbox's compiled template (for the renderer; check_template first)."""
    return _RENDER_ENGINE.from_string(source)


# --- Save-time checks ------------------------------------------------------------------------


def _line_of(source: str, position: int) -> int:
    return source.count("\n", 0, position) + 1


_TAG = re.compile(r"\{%\s*(\w*)")
_INVALID_FILTER = re.compile(r"Invalid filter: '([^']*)'")


def _tag_problem(source: str) -> str | None:
    for match in _TAG.finditer(source):
        name = match.group(1)
        if name not in ALLOWED_TAGS and name not in _INNER_TAGS:
            return (
                f"The tag {{% {name} %}} is not allowed here (line {_line_of(source, match.start())}); "
                f"allowed: {', '.join(ALLOWED_TAGS)}."
            )
    return None


def _syntax_problem(error: TemplateSyntaxError, source: str) -> str:
    line = getattr(error, "template_debug", {}).get("line", 1)
    message = str(error).split("\n")[0]
    invalid_filter = _INVALID_FILTER.search(message)
    if invalid_filter:
        message = f"The filter |{invalid_filter.group(1)} is not allowed; allowed: {', '.join(ALLOWED_FILTERS)}."
    return f"{message.rstrip('.')} (line {line})."


@dataclass(frozen=True)
class _Use:
    """A variable the template names, where, and the names bound around it."""

    lookups: tuple[str, ...]
    line: int
    bound: frozenset[str]


def _filter_expression_uses(expression, line: int, bound: frozenset[str]):
    if isinstance(expression, _BoundedSequence):
        expression = expression.filter_expression
    if not isinstance(expression, FilterExpression):
        return
    if isinstance(expression.var, Variable) and expression.var.lookups is not None:
        yield _Use(tuple(expression.var.lookups), line, bound)
    for _, arguments in expression.filters:
        for is_variable, argument in arguments:
            if is_variable and argument.lookups is not None:
                yield _Use(tuple(argument.lookups), line, bound)


def _condition_uses(condition, line: int, bound: frozenset[str]):
    if condition is None:
        return
    value = getattr(condition, "value", None)
    if isinstance(value, FilterExpression):
        yield from _filter_expression_uses(value, line, bound)
    for part in ("first", "second"):
        operand = getattr(condition, part, None)
        if operand is not None:
            yield from _condition_uses(operand, line, bound)


def variable_uses(nodelist, bound: frozenset[str] = frozenset()):
    """Every variable a compiled template names, with its line and the loop/with names bound there."""
    for node in nodelist:
        token = getattr(node, "token", None)
        line = token.lineno if token is not None and token.lineno is not None else 1
        if isinstance(node, VariableNode):
            yield from _filter_expression_uses(node.filter_expression, line, bound)
        elif isinstance(node, IfNode):
            for condition, branch in node.conditions_nodelists:
                yield from _condition_uses(condition, line, bound)
                yield from variable_uses(branch, bound)
        elif isinstance(node, ForNode):
            yield from _filter_expression_uses(node.sequence, line, bound)
            inner = bound | {*node.loopvars, "forloop"}
            yield from variable_uses(node.nodelist_loop, inner)
            yield from variable_uses(node.nodelist_empty, bound)
        elif isinstance(node, WithNode):
            for expression in node.extra_context.values():
                yield from _filter_expression_uses(expression, line, bound)
            yield from variable_uses(node.nodelist, bound | set(node.extra_context))
        elif isinstance(node, FirstOfNode):
            for expression in node.vars:
                yield from _filter_expression_uses(expression, line, bound)
        elif isinstance(node, Node):
            for attribute in node.child_nodelists:
                yield from variable_uses(getattr(node, attribute, None) or [], bound)


def _assigned_names(nodelist) -> set[str]:
    """Names `{% now ... as name %}` and `{% firstof ... as name %}` set for the rest of the template."""
    names = set()
    for node in nodelist:
        if isinstance(node, NowNode | FirstOfNode) and node.asvar:
            names.add(node.asvar)
        for attribute in getattr(node, "child_nodelists", ()):
            names |= _assigned_names(getattr(node, attribute, None) or [])
        if isinstance(node, IfNode):
            for _, branch in node.conditions_nodelists:
                names |= _assigned_names(branch)
    return names


def _variable_problem(use: _Use, assigned: set[str]) -> str | None:
    root, rest = use.lookups[0], use.lookups[1:]
    name = ".".join(use.lookups)
    if root in use.bound or root in assigned:
        if root == "forloop" and rest and rest[0] not in _FORLOOP_ATTRIBUTES:
            return f"Unknown variable {name}"
        return None
    if root not in _TOP_LEVEL:
        return f"Unknown variable {name}"
    if root == "contact":
        if not rest or (rest[0] not in CONTACT_ATTRIBUTES and rest[0] not in CONTACT_NAMESPACES):
            return f"Unknown variable {name}; use one of the contact's fields, such as contact.first_name"
        if rest[0] in CONTACT_ATTRIBUTES and len(rest) > 1 and not (rest[0] == "tags" and rest[1].isdigit()):
            return f"Unknown variable {name}; contact.{rest[0]} has no parts (use a filter: |upper, |date)"
        return None
    known = {"commerce": COMMERCE_ATTRIBUTES, "company": COMPANY_ATTRIBUTES}.get(root)
    if known is not None:
        if len(rest) != 1 or rest[0] not in known:
            return f"Unknown variable {name}; {root} has: {', '.join(known)}"
        return None
    if rest:
        return f"Unknown variable {name}"
    return None


def check_template(source: str, *, field: str) -> None:
    """Refuse, naming `field` and the line, a template that would not render as its author means:
    a syntax error, a tag or filter the sandbox does not offer, or a variable that is not in
    TEMPLATE_VARIABLES (a typo such as contact.frist_name would otherwise render empty)."""
    problem = _tag_problem(source)
    if problem is None:
        try:
            template = _CHECK_ENGINE.from_string(source)
        except TemplateSyntaxError as error:
            problem = _syntax_problem(error, source)
        else:
            assigned = _assigned_names(template.nodelist)
            for use in variable_uses(template.nodelist):
                found = _variable_problem(use, assigned)
                if found:
                    problem = f"{found} (line {use.line})."
                    break
    if problem:
        raise ValidationError({field: [problem]})


def used_sources(template: Template) -> frozenset[str]:
    """Which data a compiled template reads ("contact.fields", "contact.properties",
    "contact.key_information", "contact.tags", "commerce"), so a batch loads only those."""
    used = set()
    for use in variable_uses(template.nodelist):
        root = use.lookups[0]
        if root in use.bound:
            # A loop or with name holds what its own expression (a use of its own) reads.
            continue
        if root == "commerce":
            used.add("commerce")
        elif root == "contact" and len(use.lookups) == 1:
            used |= {f"contact.{namespace}" for namespace in (*CONTACT_NAMESPACES, "tags")}
        elif root == "contact" and use.lookups[1] in {*CONTACT_NAMESPACES, "tags"}:
            used.add(f"contact.{use.lookups[1]}")
    return frozenset(used)


# --- Context values ---------------------------------------------------------------------------


def frozen(value):
    """JSON-like data as read-only mappings and tuples: what a template may loop over but not change."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): frozen(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(frozen(item) for item in value)
    return value


def named_values(pairs: Iterable[tuple[str, object]]) -> MappingProxyType:
    """Values by name and by the name's slug (so "Loyalty tier" is also contact.fields.loyalty_tier)."""
    values = {}
    for name, value in pairs:
        values[name] = value
        values.setdefault(slugify(name).replace("-", "_"), value)
    return MappingProxyType(values)


EMPTY = MappingProxyType({})
# Contact columns the context reads (tags and properties only when a template uses them).
CONTACT_COLUMNS = ("id", *ATTRIBUTE_LABELS, "created_at")


def contact_context(
    row: Mapping | None,
    *,
    fields: Mapping = EMPTY,
    key_information: Mapping = EMPTY,
) -> MappingProxyType:
    """The `contact` of a template from a contact row (Contact.values() of CONTACT_COLUMNS, with
    "tags" and "properties" when loaded); None gives every attribute empty."""
    if row is None:
        row = {}
    values = {name: row.get(name) or "" for name in ATTRIBUTE_LABELS}
    values["full_name"] = f"{values['first_name']} {values['last_name']}".strip()
    values["created_at"] = row.get("created_at")
    values["tags"] = tuple(row.get("tags") or ())
    values["properties"] = frozen(row.get("properties") or {})
    values["fields"] = fields
    values["key_information"] = key_information
    return MappingProxyType(values)


# CommerceFacts' columns, by template name; a contact without a row has bought nothing.
COMMERCE_COLUMNS = {name: name for name in COMMERCE_ATTRIBUTES} | {"loyalty_lifetime_points": "lifetime_points"}
_NO_COMMERCE = {
    "total_spent": Decimal("0.00"),
    "order_count": 0,
    "open_cart_value": Decimal("0.00"),
    "open_cart_count": 0,
    "loyalty_balance": 0,
    "loyalty_lifetime_points": 0,
    "active_subscriptions": 0,
}


def commerce_context(row: Mapping | None) -> MappingProxyType:
    if row is None:
        return MappingProxyType({name: _NO_COMMERCE.get(name) for name in COMMERCE_ATTRIBUTES})
    return MappingProxyType({name: row.get(column) for name, column in COMMERCE_COLUMNS.items()})


def company_context(company) -> MappingProxyType:
    return MappingProxyType({"name": company.name, "postal_address": company.postal_address})
