"""What the rest of the app asks of a segment definition: is it valid, its condition on Contact, the
contacts in it. A definition is compiled once per call (compiler.py), to one lazy query.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from salloq.core.models import Company

from ..models import Contact, ContactQuerySet
from .compiler import Compiler


def validate_definition(company: Company, definition, *, now: datetime | None = None) -> None:
    """Raise ValidationError({"rules[1].rules[0].comparison": [...], ...}) naming every bad rule."""
    compile_definition(company, definition, now=now)


def compile_definition(company: Company, definition, *, now: datetime | None = None) -> Q:
    """The definition as one Q on Contact (for Contact.objects.for_company(company))."""
    compiler = Compiler(company, now or timezone.now())
    condition = compiler.definition(definition)
    if compiler.errors:
        raise ValidationError(compiler.errors)
    assert condition is not None
    return condition


def segment_contacts(company: Company, definition, *, now: datetime | None = None) -> ContactQuerySet:
    """The company's contacts in the segment, as one lazy query. Erased contacts are never in one."""
    condition = compile_definition(company, definition, now=now)
    return Contact.objects.for_company(company).filter(erased_at__isnull=True).filter(condition)


def definition_path(path: str) -> str:
    """A rule path as a request field name: "rules[0].value" -> "definition.rules[0].value"."""
    return path if path == "definition" else f"definition.{path}"
