"""Names that end up in email headers: list names (the subject), company names (the From name) and
any sender name to come.

A line break in a header value ends the header, and what follows is read as a header of its own
(`"News\\nBcc: attacker@evil.test"`). Django refuses to send such a message, which used to leave
every confirmation of the list unsent. So names are refused with a control character in them when
they are written, and names stored before that are cleaned when a message is built.
"""

import re

from django.core.exceptions import ValidationError

# C0 controls (NUL, tab, LF, CR, ...), DEL, C1 controls (NEL, ...) and the Unicode line and
# paragraph separators: mail software splits or ends header lines on several of them.
_CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def validate_header_safe(value: str) -> None:
    """Refuse a name that would break the email header it is written into."""
    found = _CONTROL_CHARACTERS.search(value)
    if found:
        raise ValidationError(
            "Names are shown in email headers, so they cannot contain line breaks, tabs or other "
            "control characters (found U+%(code)04X at position %(position)d).",
            code="control_character",
            params={"code": ord(found.group()[0]), "position": found.start() + 1},
        )


def header_safe(value: str) -> str:
    """The name with each run of control characters turned into one space, for names stored before
    they were validated: such a name is shown a little odd rather than break the message."""
    return _CONTROL_CHARACTERS.sub(" ", value).strip()


def require_header_safe(*, field: str, value: str) -> None:
    """validate_header_safe for services: the error names `field`, as forms and the API show it."""
    try:
        validate_header_safe(value)
    except ValidationError as error:
        raise ValidationError({field: error.error_list}) from None
