"""Strict API input fields and the JSON Schema patterns they document, for every domain's API.

Input fields are strict about JSON types (a number is not silently a name: 42 or true are a 400, not
"42" or "True") and about what the database can store (lengths, no NUL characters, finite numbers),
so bad input is a 400 naming the field, never a 500 or a silently mangled row. Each field's schema
(extend_schema_field) says what it accepts, so clients and fuzzers know.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from salloq.core import emails
from salloq.core.ip_addresses import parse_ip
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.validators import validate_header_safe

# PostgreSQL cannot store NUL in text or JSON; the schema says so, so clients and fuzzers know.
NO_NUL = "^[^\\u0000]*$"
# Text fields: "" is documented separately where it is allowed (drf-spectacular adds a oneOf).
TEXT = "^[^\\u0000]+$"
SPACE = emails.SPACE
NOT_BLANK = f"^[^\\u0000]*[^\\u0000{SPACE}][^\\u0000]*$"
# An address is what salloq.core.emails accepts, and its pattern says exactly that (surrounding
# spaces are trimmed). No "format": "email": format checkers disagree on what an address is.
EMAIL_PATTERN = emails.EMAIL_PATTERN
EMAIL_MAX_LENGTH = emails.MAX_LENGTH
EMAIL_SCHEMA = {"type": "string", "pattern": EMAIL_PATTERN, "minLength": 1, "maxLength": EMAIL_MAX_LENGTH}
# Where an address may be left out: "" (or only spaces) is no address.
BLANKABLE_EMAIL_SCHEMA = {
    "type": "string",
    "maxLength": EMAIL_MAX_LENGTH,
    "anyOf": [{"pattern": EMAIL_PATTERN}, {"pattern": emails.BLANK_PATTERN}],
}
# NOT_BLANK without control characters (see salloq.core.validators).
HEADER_NAME_CHAR = "[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]"
HEADER_NAME = (
    f"^{HEADER_NAME_CHAR}*"
    "[^\\u0000-\\u0020\\u007f-\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
    f"{HEADER_NAME_CHAR}*$"
)
# The largest id a BigAutoField holds.
MAX_ID = 2**63 - 1


@extend_schema_field({"type": "string", "pattern": TEXT})
class StrictCharField(serializers.CharField):
    """Text only: 42 or true are a 400, not the strings "42" or "True". The length limit counts what
    was sent, as the schema's maxLength does, not what is left once surrounding spaces are trimmed."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


@extend_schema_field({"type": "string", "pattern": NOT_BLANK})
class NonBlankCharField(StrictCharField):
    """Text with at least one visible character (surrounding spaces are trimmed)."""


@extend_schema_field({"type": "string", "pattern": HEADER_NAME})
class HeaderNameField(NonBlankCharField):
    """A name that ends up in email headers (a list's name is the subject of its confirmation
    emails): no line breaks or other control characters."""

    default_validators = [validate_header_safe]


@extend_schema_field(EMAIL_SCHEMA)
class NormalizedEmailField(StrictCharField):
    """An email address (salloq.core.emails: what its pattern matches, trimmed and lower-cased), as
    every other entry point stores it. Refused: anything the schema's pattern does not match."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", EMAIL_MAX_LENGTH)
        kwargs["trim_whitespace"] = False  # the whole value is judged, surrounding spaces and all
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            email = emails.normalize_email(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None
        if not email and not self.allow_blank:
            self.fail("blank")
        return email


@extend_schema_field(BLANKABLE_EMAIL_SCHEMA)
class BlankableEmailField(NormalizedEmailField):
    """An address, or "" (or only spaces) for none."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_blank", True)
        super().__init__(**kwargs)


# An address to look a row up by is an address like any other: one the pattern refuses is a 400.
LookupEmailField = NormalizedEmailField


@extend_schema_field({"anyOf": [{"type": "string", "format": "ipv4"}, {"type": "string", "format": "ipv6"}]})
class IPField(serializers.Field):
    """An IPv4 or IPv6 address exactly as the formats say (salloq.core.ip_addresses)."""

    def to_internal_value(self, data):
        try:
            if not isinstance(data, str):
                raise ValueError
            return parse_ip(data)
        except ValueError:
            raise serializers.ValidationError("Enter a valid IPv4 or IPv6 address.") from None

    def to_representation(self, value):
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: "5" and 5.5 are a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class IdField(StrictIntegerField):
    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


class StrictBooleanField(serializers.BooleanField):
    """true or false: "yes" and 1 are a 400."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictNumberField(serializers.FloatField):
    """A JSON number, kept exact as a Decimal (the JSON text 0.1 stays 0.1), bounded by parse_decimal."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        try:
            value = parse_decimal(data)  # a float's shortest repr is the number the JSON text said
        except NumberError as exc:
            raise serializers.ValidationError(f"The value {exc}.") from None
        self.run_validators(value)
        return value
