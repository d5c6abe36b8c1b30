"""Text a database cannot store: NUL characters (PostgreSQL text and jsonb refuse them) and lone
surrogates ("\\ud800" has no UTF-8 encoding, so the driver and the JSON renderer fail on it).

Every check of input text asks `text_problem`, so the API's parser, the contact input rules and
the dashboard's own checks refuse the same characters with the same words. The messages are
fragments ("email": ["must not contain NUL characters"], "A name must not contain NUL
characters."), the way the API's parser has always answered them.
"""

import re

NUL_MESSAGE = "must not contain NUL characters"
SURROGATE_MESSAGE = "must not contain lone surrogates (invalid Unicode such as \\ud800)"

_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why the database cannot store `value` (NUL_MESSAGE or SURROGATE_MESSAGE), or None.

    A NUL is reported before a surrogate. Most text is ASCII, which `isascii()` (a flag CPython
    keeps on every string) clears without reading it.
    """
    if "\x00" in value:
        return NUL_MESSAGE
    if value.isascii() or _SURROGATE.search(value) is None:
        return None
    return SURROGATE_MESSAGE
