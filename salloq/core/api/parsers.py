"""The API's one JSON parser: a body that no view could store is a 400 before any view code runs.

Python's json accepts what the database and the arithmetic after it cannot: lone surrogates
("\\ud800" cannot be encoded to UTF-8, so PostgreSQL and the JSON renderer fail on them), NUL
characters (PostgreSQL text and jsonb refuse them), numbers such as 1e400, 1e-999999999, NaN or
a 5,000-digit integer, and nesting a thousand levels deep (RecursionError). Each problem is
reported in the error shape's `details`, keyed by its JSON path ("properties.a",
"contacts[3].email").

Bulk endpoints declare `item_list_field = "contacts"` on the view: a problem inside item i of that
list does not fail the request; the item is replaced with None and its problems are kept for
`item_input_errors(request)`, keyed by item index with paths relative to the item, so one bad
item never sinks the others.
"""

import json
import math
import re
from decimal import Decimal
from itertools import accumulate

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework.parsers import JSONParser

from salloq.core.errors import ApiError
from salloq.core.numbers import MAX_NUMBER_TEXT
from salloq.core.text import text_problem

# Deeper than any document the API describes (a segment definition's groups, nested properties)
# and far below the depth at which json or the serializers recurse into RecursionError.
MAX_NESTING = 32

# A JSON number must fit a double (what every JSON library reads it as): every finite double is
# accepted, but 1e400 would become infinity and 1e-999999999 a silent 0. Fields narrow this further
# (numbers.NUMBER_LIMIT for numeric columns). An integer of more digits than the largest double
# (309) is refused before int() reads it.
_INT_DIGITS_LIMIT = 309

NESTING_MESSAGE = f"is nested deeper than {MAX_NESTING} levels"
ITEM_ERRORS_ATTRIBUTE = "salloq_item_input_errors"


class _BadNumber:
    """What the number hooks return for a refused number; the walk reports it at its path."""

    __slots__ = ("message",)

    def __init__(self, message: str):
        self.message = message


# The hooks run for every number of every body, so they stay cheap: an int's digit count, a
# float's finiteness after float().
_OUT_OF_RANGE = "is out of range (larger than the largest double, about 1.8e308)"
_NON_ZERO_DIGIT = re.compile(r"[1-9]")


def _parse_int(text: str):
    if len(text) - text.startswith("-") > _INT_DIGITS_LIMIT:
        return _BadNumber(_OUT_OF_RANGE)
    return int(text)


def _parse_float(text: str):
    if len(text) > MAX_NUMBER_TEXT:
        return _BadNumber(f"must be a number of at most {MAX_NUMBER_TEXT} characters")
    value = float(text)
    if math.isinf(value):
        return _BadNumber(_OUT_OF_RANGE)
    if value == 0.0 and _NON_ZERO_DIGIT.search(text.lower().partition("e")[0]):
        return _BadNumber("is too small to be stored (it would become 0)")
    return value


def _parse_exact(text: str):
    """For views with `exact_numbers = True` (prices of 21 digits): the number as a Decimal read
    from its text, after the same checks as a float."""
    checked = _parse_float(text)
    return checked if isinstance(checked, _BadNumber) else Decimal(text)


def _parse_constant(text: str):
    return _BadNumber("must be a finite number (not NaN or Infinity)")


# Strings can only hold NUL or a lone surrogate through a \u escape (strict UTF-8 decoding and
# json's strict mode refuse them raw), so a body without such an escape needs no string walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
# The depth check reads the body's skeleton: bytes.translate (C speed) keeps only quotes,
# backslashes and brackets, which in UTF-8 never occur inside a multi-byte character; the strings
# are then cut out of that short skeleton, leaving the brackets that nest.
_NOT_SKELETON = bytes(byte for byte in range(256) if byte not in b'"\\[]{}')
_SKELETON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
# What each byte left outside strings adds to the depth: [ and { open, ] and } close.
_BRACKET_STEP = [0] * 256
_BRACKET_STEP[0x5B] = _BRACKET_STEP[0x7B] = 1
_BRACKET_STEP[0x5D] = _BRACKET_STEP[0x7D] = -1


def _nested_deeper_than(utf8: bytes, limit: int) -> bool:
    if utf8.count(b"[") + utf8.count(b"{") <= limit:
        return False
    skeleton = utf8.translate(None, _NOT_SKELETON)
    if b"\\" in skeleton:
        outside = _SKELETON_STRING.sub(b"", skeleton)
    else:
        # Without escapes, quotes alternate between opening and closing a string. Most strings hold no
        # bracket and read '""' here: dropping every '""' first (an empty string, or two strings with
        # no bracket between them joined into one) leaves the brackets outside strings as they were,
        # and a short rest to split.
        rest = skeleton.replace(b'""', b"")
        outside = b"".join(rest.split(b'"')[::2])
    # The deepest point: the largest running sum of +1 per opening and -1 per closing bracket,
    # summed in C (map, accumulate and max), not in a loop of Python.
    return max(accumulate(map(_BRACKET_STEP.__getitem__, outside)), default=0) > limit


def _printable(key: str) -> str:
    """A key as it can appear in a path: NUL and lone surrogates as \\uXXXX escapes."""
    return "".join(f"\\u{ord(char):04x}" if char == "\x00" or "\ud800" <= char <= "\udfff" else char for char in key)


def _join(path: str, key) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    key = _printable(key)
    return f"{path}.{key}" if path else key


def _problems(value, path: str = "", depth: int = 0) -> dict[str, list[str]]:
    """Every problem in a parsed document, by JSON path; iterative, so depth costs no recursion."""
    problems: dict[str, list[str]] = {}
    stack = [(value, path, depth)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, _BadNumber):
            problems.setdefault(path, []).append(value.message)
        elif isinstance(value, str):
            message = text_problem(value)
            if message:
                problems.setdefault(path, []).append(message)
        elif isinstance(value, dict | list):
            if depth >= MAX_NESTING:
                problems.setdefault(path, []).append(NESTING_MESSAGE)
                continue
            if isinstance(value, dict):
                for key, item in value.items():
                    child = _join(path, key)
                    message = text_problem(key)
                    if message:
                        problems.setdefault(child, []).append(f"key {message}")
                    stack.append((item, child, depth + 1))
            else:
                stack.extend((item, _join(path, index), depth + 1) for index, item in enumerate(value))
    return problems


def _fail(details: dict[str, list[str]]):
    names = ", ".join(sorted(details))
    raise ApiError(400, "Validation failed", f"Invalid input: check {names}.", dict(sorted(details.items())))


class SalloqJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        raw = stream.read(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) if stream is not None else b""
        if len(raw) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")  # a 413
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError):
            raise ApiError(400, "Malformed request", f"The request body is not valid {encoding} text.") from None
        bad_numbers = []
        exact = getattr(parser_context.get("view"), "exact_numbers", False)
        parse_fraction = _parse_exact if exact else _parse_float

        def remember(value):
            if isinstance(value, _BadNumber):
                bad_numbers.append(value)
            return value

        # The hooks run for every number of the body: the usual number (a short integer, a finite
        # fraction that is not a silent zero) is read in one call, anything else by the checks above.
        def parse_int(t):
            return int(t) if len(t) <= _INT_DIGITS_LIMIT else remember(_parse_int(t))

        def parse_float(t):
            if len(t) <= MAX_NUMBER_TEXT:
                value = float(t)
                if value and value - value == 0.0:  # neither zero nor infinite
                    return Decimal(t) if exact else value
            return remember(parse_fraction(t))

        try:
            data = json.loads(
                text,
                parse_int=parse_int,
                parse_float=parse_float,
                parse_constant=lambda t: remember(_parse_constant(t)),
            )
        except RecursionError:
            _fail({"non_field_errors": [f"The request body {NESTING_MESSAGE}."]})
        except ValueError as exc:
            raise ApiError(400, "Malformed request", f"JSON parse error - {exc}") from None

        view = parser_context.get("view")
        request = parser_context.get("request")
        item_field = getattr(view, "item_list_field", None)
        item_errors: dict[int, dict[str, list[str]]] = {}
        # The walk that names each problem's path runs only when the cheap checks found a suspect.
        utf8 = raw if encoding.lower().replace("-", "") == "utf8" else text.encode()
        suspect = bool(bad_numbers or _SUSPECT_ESCAPE.search(text) or _nested_deeper_than(utf8, MAX_NESTING))
        if suspect and item_field and isinstance(data, dict) and isinstance(data.get(item_field), list):
            items = data[item_field]
            for index, item in enumerate(items):
                # An item sits two levels down: the body object, then the list.
                problems = _problems(item, "", 2)
                if problems:
                    item_errors[index] = problems
                    items[index] = None
        problems = _problems(data) if suspect else None
        if problems:
            _fail(problems)
        if request is not None:
            setattr(request, ITEM_ERRORS_ATTRIBUTE, item_errors)
        return data


def item_input_errors(request) -> dict[int, dict[str, list[str]]]:
    """Problems the parser found inside the items of the view's `item_list_field`, by item index.

    Parses the body if that has not happened yet. Paths are relative to the item ("email",
    "properties.a"); an item with problems reads as None in request.data.
    """
    request.data  # noqa: B018 - parsing is what records the problems
    return getattr(request, ITEM_ERRORS_ATTRIBUTE, {})
