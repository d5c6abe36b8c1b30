"""The one definition of an email address Salloq accepts, for every entry point and the API schema.

An address is an ASCII dot-atom local part, "@", and a host name of letter-digit-hyphen labels with a
letters-only top-level label (or an xn-- one), at most 254 characters as sent; surrounding spaces are allowed and
trimmed, and the address is stored in lower case. `EMAIL_PATTERN` is that definition as a regular
expression that means the same in Python and in JSON Schema (ECMA-262), so the API's schema states
exactly what the server accepts: case-sensitive ASCII classes (no IGNORECASE, under which Python
would let the Kelvin sign match "k", and no lower-casing before the match, which turns it into one),
and matched as a whole (`fullmatch`: Python's "$" would also match before a final newline).

Quoted local parts ("a b"@example.com), internationalized domains (müller.de) and address literals
(a@[127.0.0.1]), which Django's validate_email takes, are refused: the schema could not state them
and most mail servers would not deliver to them.
"""

import re

from django.core.exceptions import ValidationError

MAX_LENGTH = 254  # RFC 5321's limit on a path, and the columns' size
# What str.strip() removes, spelled out: "\\s" means other things in other regex dialects.
SPACE = "\\t-\\r\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_ATOM = "[-!#$%&'*+/=?^_`{|}~0-9A-Za-z]+"
_LABEL = "[0-9A-Za-z]([-0-9A-Za-z]{0,61}[0-9A-Za-z])?"
# A top-level label is letters, or an internationalized one in its ASCII form (xn--p1ai for .рф).
_TOP_LABEL = "([A-Za-z]{2,63}|[Xx][Nn]--[0-9A-Za-z]([-0-9A-Za-z]{0,57}[0-9A-Za-z])?)"
ADDRESS = f"{_ATOM}(\\.{_ATOM})*@({_LABEL}\\.)+{_TOP_LABEL}"
EMAIL_PATTERN = f"^[{SPACE}]*{ADDRESS}[{SPACE}]*$"
# "No address" where one may be left out: empty, or nothing but spaces.
BLANK_PATTERN = f"^[{SPACE}]*$"
EMAIL = re.compile(EMAIL_PATTERN)
BLANK = re.compile(BLANK_PATTERN)


def is_email(raw: str) -> bool:
    """Whether `raw` is an address as sent (before trimming): what EMAIL_PATTERN and maxLength say."""
    return len(raw) <= MAX_LENGTH and EMAIL.fullmatch(raw) is not None


def normalize_email(raw: str | None) -> str:
    """Trimmed and lower-cased; "" for no address (None, empty or only spaces).
    ValidationError on "email" for anything else that is not an address."""
    if raw is None or BLANK.fullmatch(raw):
        return ""
    if not is_email(raw):
        shown = raw if len(raw) <= 100 else f"{raw[:100]}…"
        raise ValidationError({"email": f"'{shown}' is not a valid email address."})
    return raw.strip().lower()
