"""Rendering personalization that is only text and plain variables, without Django's machinery.

Most campaigns personalize with `{{ contact.first_name|default:"there" }}` and nothing else, and
Django's rendering of such a variable (the lookup rules, localization, conditional escaping) was
most of a message's personalization cost. A sandbox template made only of text and variables
(`{{ a.b.c }}`, optionally through `default` and `default_if_none` with constant arguments) is
turned once into its text chunks and lookups. Per message each lookup is followed through plain
mappings and each value, when it is a plain `str`, is escaped as Django's autoescape escapes it;
anything else (a missing key that Django might find as an attribute or an index, a number or date
that Django localizes, None, a callable) makes that one rendering go through Django, so the output
is always Django's. tests/campaigns/test_render_plain_variables.py checks that against Django.
"""

from html import escape
from types import MappingProxyType

from django.template import Context, Template, defaultfilters
from django.template.base import TextNode, VariableNode
from django.utils.safestring import SafeString, mark_safe

_FILTERS = (defaultfilters.default, defaultfilters.default_if_none)
_MAPPINGS = (dict, MappingProxyType)
# A missing key renders as the engine's string_if_invalid, which the sandbox sets to "".
_MISSING = ""
# Names every Context holds besides the values.
_CONTEXT_BUILTINS = frozenset(Context().flatten())


def _is_integer(bit: str) -> bool:
    try:
        int(bit)
    except ValueError:
        return False
    return True


_NOT_CONSTANT = object()


def _constant(is_variable: bool, argument):
    """What FilterExpression.resolve passes for a filter's argument when it is a constant: a quoted
    string marked safe (the template author's text: `default:"<b>"` is not escaped), a number as
    it is; _NOT_CONSTANT for a variable or a translated string."""
    if not is_variable:
        return mark_safe(argument)  # noqa: S308 - as Django does
    if argument.lookups is None and not argument.translate:
        return argument.literal
    return _NOT_CONSTANT


def _pieces(template: Template) -> tuple | None:
    """The template as text chunks (str) and (lookups, filters) pairs, or None when it has anything
    else: tags, literal values, other filters, filter arguments that are variables."""
    pieces = []
    for node in template.nodelist:
        if type(node) is TextNode:
            pieces.append(node.s)
            continue
        if type(node) is not VariableNode or not node.filter_expression.is_var:
            return None
        expression = node.filter_expression
        if expression.var.lookups is None:
            return None
        filters = []
        for function, arguments in expression.filters:
            constants = tuple(_constant(is_variable, argument) for is_variable, argument in arguments)
            if function not in _FILTERS or _NOT_CONSTANT in constants:
                return None
            filters.append((function, constants))
        pieces.append((tuple(expression.var.lookups), tuple(filters)))
    return tuple(pieces)


class PersonalizedTemplate:
    """A compiled sandbox template, rendered without Django when it is only text and plain
    variables and the message's values allow it."""

    def __init__(self, template: Template):
        self.template = template
        self.pieces = _pieces(template)

    def render(self, values: dict, *, autoescape: bool) -> str:
        """Django's rendering of the template with `values` as the context."""
        if self.pieces is not None:
            rendered = self._render_plain(values, autoescape)
            if rendered is not None:
                return rendered
        return self.template.render(Context(values, autoescape=autoescape))

    def _render_plain(self, values: dict, autoescape: bool) -> str | None:
        """The rendering, or None when a value needs Django's rules."""
        out = []
        for piece in self.pieces:
            if type(piece) is str:
                out.append(piece)
                continue
            lookups, filters = piece
            value = values
            for depth, bit in enumerate(lookups):
                if type(value) not in _MAPPINGS:
                    return None  # attributes, list indexes, callables: Django's lookup rules
                if bit in value:
                    value = value[bit]
                elif hasattr(value, bit) or _is_integer(bit) or (depth == 0 and bit in _CONTEXT_BUILTINS):
                    return None  # Django would find it as an attribute, an index or a builtin
                else:
                    value = _MISSING
                    break
            for function, arguments in filters:
                value = function(value, *arguments)
            if type(value) is str:
                out.append(escape(value) if autoescape else value)
            elif type(value) is SafeString:
                out.append(value)
            else:
                return None  # numbers and dates are localized, None is "None": Django renders them
        return "".join(out)
