"""Dashboard writes on a company's audience definitions beyond create: renaming, editing and deleting
custom fields, and duplicating a segment.

Segments name custom fields in their rules (`fields.<name>`), so a rename rewrites those rules in
the same transaction, and a delete says beforehand which segments will stop working."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from salloq.core.text import text_problem

from .models import CustomField, CustomFieldValue, FieldType, Segment
from .segments import services as segment_services

FIELD_PREFIX = "fields."
# "Copy of X", then "Copy of X (2)", ...: the first name no segment of the company has.
MAX_COPY_NUMBER = 1000


def _field_rules(node, name: str):
    """Every rule dict of a segment definition that reads the custom field `name`."""
    if isinstance(node, dict):
        if node.get("field") == FIELD_PREFIX + name:
            yield node
        for child in node.get("rules") or []:
            yield from _field_rules(child, name)
    elif isinstance(node, list):
        for child in node:
            yield from _field_rules(child, name)


def segments_using_field(custom_field: CustomField) -> list[Segment]:
    return [
        segment
        for segment in Segment.objects.for_company(custom_field.company_id).order_by("name")
        if any(True for _ in _field_rules(segment.definition, custom_field.name))
    ]


@transaction.atomic
def custom_field_update(*, custom_field: CustomField, name: str, choices: list[str] | None = None) -> CustomField:
    """Rename a field (and the segment rules that name it); a choice field may also change its
    choices, but not drop one that contacts hold. The type does not change: stored values are typed."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "A field needs a name."
    elif len(name) > 100:
        errors["name"] = "At most 100 characters."
    elif problem := text_problem(name):
        errors["name"] = f"A name {problem}."
    elif (
        CustomField.objects.for_company(custom_field.company_id).filter(name=name).exclude(pk=custom_field.pk).exists()
    ):
        errors["name"] = ValidationError(f"A field named '{name}' already exists.", code="unique")
    if custom_field.field_type == FieldType.CHOICE:
        choices = [choice.strip() for choice in choices or [] if choice.strip()]
        if not choices:
            errors["choices"] = "A choice field needs a list of allowed values."
        else:
            held = CustomFieldValue.objects.filter(field=custom_field).exclude(text_value__in=choices)
            dropped = sorted(set(held.values_list("text_value", flat=True)))
            if dropped:
                errors["choices"] = (
                    f"Contacts hold {', '.join(repr(c) for c in dropped)}: keep "
                    f"{'it' if len(dropped) == 1 else 'them'} among the choices, or change those contacts first."
                )
    if errors:
        raise ValidationError(errors)
    old_name = custom_field.name
    if name != old_name:
        for segment in segments_using_field(custom_field):
            for rule in _field_rules(segment.definition, old_name):
                rule["field"] = FIELD_PREFIX + name
            segment.save(update_fields=["definition", "updated_at"])
    custom_field.name = name
    if custom_field.field_type == FieldType.CHOICE:
        custom_field.choices = list(dict.fromkeys(choices))
    try:
        with transaction.atomic():
            custom_field.save(update_fields=["name", "choices"])
    except IntegrityError:  # a concurrent rename took the name between the check and the write
        raise ValidationError(
            {"name": ValidationError(f"A field named '{name}' already exists.", code="unique")}
        ) from None
    return custom_field


@dataclass(frozen=True)
class FieldDeletion:
    """What deleting a field takes with it, said before it is done."""

    value_count: int
    segments: list[Segment]


def custom_field_deletion(custom_field: CustomField) -> FieldDeletion:
    return FieldDeletion(
        value_count=CustomFieldValue.objects.filter(field=custom_field).count(),
        segments=segments_using_field(custom_field),
    )


def custom_field_delete(*, custom_field: CustomField) -> int:
    """Delete the field and every contact's value of it; returns how many values went. Segments
    that use it are kept and say what is wrong until they are edited."""
    with transaction.atomic():
        deleted, by_model = custom_field.delete()
    return by_model.get(CustomFieldValue._meta.label, 0)


def segment_duplicate(*, segment: Segment) -> Segment:
    """A copy named "Copy of <name>" (numbered when that name is taken), same rules and description."""
    names = set(Segment.objects.for_company(segment.company_id).values_list("name", flat=True))
    base = f"Copy of {segment.name}"[:200]
    name = base
    number = 2
    while name in names and number < MAX_COPY_NUMBER:
        suffix = f" ({number})"
        name = base[: 200 - len(suffix)] + suffix
        number += 1
    return segment_services.segment_create(
        company=segment.company, name=name, definition=segment.definition, description=segment.description
    )
