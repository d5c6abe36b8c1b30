"""Segment writes: create, update and delete a company's saved segments, each validated as a whole
(name and definition) before it is saved.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from salloq.core.models import Company

from ..models import Segment
from .definitions import definition_path, validate_definition


class SegmentNameTaken(ValidationError):
    """The only thing wrong is that another segment of the company has the name (the API's 409)."""

    def __init__(self, name: str):
        super().__init__({"name": [f"A segment named '{name}' already exists."]})


def _clean_segment(company: Company, *, name: str, definition, exclude_pk: int | None = None) -> str:
    name = (name or "").strip()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = ["A segment needs a name."]
    elif len(name) > 200:
        errors["name"] = ["At most 200 characters."]
    try:
        validate_definition(company, definition)
    except ValidationError as exc:
        errors.update({definition_path(path): messages for path, messages in exc.message_dict.items()})
    if errors:
        raise ValidationError(errors)
    if Segment.objects.for_company(company).filter(name=name).exclude(pk=exclude_pk).exists():
        raise SegmentNameTaken(name)
    return name


def _save(segment: Segment) -> Segment:
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError:  # a concurrent save took the name between the check and the write
        raise SegmentNameTaken(segment.name) from None
    return segment


def segment_create(*, company: Company, name: str, definition, description: str = "") -> Segment:
    name = _clean_segment(company, name=name, definition=definition)
    return _save(Segment(company=company, name=name, description=description or "", definition=definition))


def segment_update(*, segment: Segment, **changes) -> Segment:
    """Change any of name, description, definition; the result is validated as a whole."""
    for attribute in ("name", "description", "definition"):
        if attribute in changes:
            setattr(segment, attribute, changes[attribute])
    segment.name = _clean_segment(
        segment.company, name=segment.name, definition=segment.definition, exclude_pk=segment.pk
    )
    segment.description = segment.description or ""
    return _save(segment)


def segment_delete(*, segment: Segment) -> None:
    segment.delete()
