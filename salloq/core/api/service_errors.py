"""Services raise Django's ValidationError; API views answer it in the API's error shape.

A write refused only because another row already holds a unique name or identifier (a list or
custom field name, a contact's email) is a 409 Conflict: the request itself is well formed, and
the same request succeeds once the other row is renamed or gone. Services mark such an error with
code "unique" (Django's own code for unique constraints); anything else is a 400 naming the fields.
"""

from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from salloq.core.errors import ApiError

CONFLICT_CODE = "unique"


def is_conflict(details: dict) -> bool:
    """Whether every message of an API error's `details` carries the conflict code."""
    messages = [message for field_messages in details.values() for message in field_messages]
    return bool(messages) and all(getattr(message, "code", None) == CONFLICT_CODE for message in messages)


def as_api_error(exc: DjangoValidationError) -> Exception:
    details = serializers.as_serializer_error(exc)
    if is_conflict(details):
        plain = {name: [str(message) for message in messages] for name, messages in details.items()}
        return ApiError(409, "Conflict", next(iter(plain.values()))[0], details=plain)
    return serializers.ValidationError(details)


@contextmanager
def service_errors():
    """Turn a service's ValidationError into the API's 400 (or 409 for a conflict)."""
    try:
        yield
    except DjangoValidationError as exc:
        raise as_api_error(exc) from None
