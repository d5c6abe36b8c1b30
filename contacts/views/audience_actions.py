"""Dashboard pages to rename, edit and delete a custom field, and to duplicate a segment
(contacts.audience_actions)."""

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from salloq.core.models import Role
from salloq.core.views import company_view

from .. import audience_actions
from ..forms import add_service_errors, split_choices
from ..models import CustomField, FieldType, Segment


class CustomFieldEditForm(forms.Form):
    name = forms.CharField(max_length=100)
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="The allowed values, one per line",
    )

    def __init__(self, *args, custom_field: CustomField, **kwargs):
        super().__init__(*args, **kwargs)
        if custom_field.field_type != FieldType.CHOICE:
            del self.fields["choices"]


def _get_field(request: HttpRequest, field_id: int) -> CustomField:
    return get_object_or_404(CustomField.objects.for_company(request.company), pk=field_id)


@company_view(min_role=Role.MARKETER)  # an edit form is of no use to a viewer
@require_http_methods(["GET", "POST"])
def field_edit(request: HttpRequest, field_id: int) -> HttpResponse:
    custom_field = _get_field(request, field_id)
    initial = {"name": custom_field.name, "choices": "\n".join(custom_field.choices)}
    form = CustomFieldEditForm(
        request.POST if request.method == "POST" else None, initial=initial, custom_field=custom_field
    )
    status = 200
    if request.method == "POST":
        if form.is_valid():
            old_name = custom_field.name
            try:
                audience_actions.custom_field_update(
                    custom_field=custom_field,
                    name=form.cleaned_data["name"],
                    choices=split_choices(form.cleaned_data.get("choices", "")),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
                # Taken by another field: the same answer as the API's conflict.
                is_conflict = any(e.code == "unique" for e in getattr(exc, "error_dict", {}).get("name", []))
                status = 409 if is_conflict else 400
                custom_field.refresh_from_db()
            else:
                if old_name != custom_field.name:
                    messages.success(request, f"Renamed the field {old_name} to {custom_field.name}.")
                else:
                    messages.success(request, f"Saved the field {custom_field.name}.")
                return redirect("contacts:fields")
        else:
            status = 400
    context = {
        "custom_field": custom_field,
        "form": form,
        "segments": audience_actions.segments_using_field(custom_field),
    }
    return render(request, "contacts/field_edit.html", context, status=status)


@company_view(min_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def field_delete(request: HttpRequest, field_id: int) -> HttpResponse:
    """GET: what the delete takes with it (values, segments that use the field); POST: delete."""
    custom_field = _get_field(request, field_id)
    if request.method == "POST":
        name = custom_field.name
        deleted = audience_actions.custom_field_delete(custom_field=custom_field)
        messages.success(request, f"Deleted the field {name} and {deleted} contact value{'s' if deleted != 1 else ''}.")
        return redirect("contacts:fields")
    deletion = audience_actions.custom_field_deletion(custom_field)
    return render(request, "contacts/field_delete.html", {"custom_field": custom_field, "deletion": deletion})


@company_view()
@require_POST
def segment_duplicate(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    try:
        copy = audience_actions.segment_duplicate(segment=segment)
    except ValidationError as exc:
        messages.error(request, f"The segment {segment.name} cannot be copied: {' '.join(exc.messages)}")
        return redirect("contacts:segments")
    messages.success(request, f"Created {copy.name}: edit it here.")
    return redirect("contacts:segment_edit", copy.pk)
