"""Dashboard forms. They collect raw input; the services validate it (normalization, custom field
types, uniqueness), and `add_service_errors` puts the services' messages next to the fields."""

from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError

from .contact_input import CONTACT_ATTRIBUTES
from .models import CustomField, FieldType, MembershipStatus


def split_tags(raw: str) -> list[str]:
    return [tag.strip() for tag in (raw or "").split(",") if tag.strip()]


def split_choices(raw: str) -> list[str]:
    """One allowed value per line (commas may be part of a value, e.g. "Paris, France")."""
    return [line.strip() for line in (raw or "").splitlines() if line.strip()]


def add_service_errors(form: forms.Form, exc: ValidationError, field_names: dict[str, str] | None = None) -> None:
    """Attach a service's ValidationError to the form field it names; `field_names` maps the service's
    keys (e.g. "fields.Shoe size") to form field names. Anything unmatched goes on top of the form."""
    field_names = field_names or {}
    messages = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for key, errors in messages.items():
        name = field_names.get(key, key)
        form.add_error(name if name in form.fields else None, errors)


class ContactCreateForm(forms.Form):
    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput(attrs={"autocomplete": "off"}))
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    phone = forms.CharField(max_length=40, required=False, help_text="International form, e.g. +33612345678")
    tags = forms.CharField(max_length=1000, required=False, help_text="Comma-separated")

    def upsert_data(self) -> dict:
        data = {name: value for name, value in self.cleaned_data.items() if name != "tags" and value}
        data["tags"] = split_tags(self.cleaned_data["tags"])
        return data


def _custom_field_form_field(custom_field: CustomField) -> forms.Field:
    """A form field per custom field type; the values stay strings so the service's type checks speak."""
    common = {"label": custom_field.name, "required": False}
    if custom_field.field_type == FieldType.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if custom_field.field_type == FieldType.DATE:
        return forms.CharField(widget=forms.DateInput(attrs={"type": "date"}), help_text="YYYY-MM-DD", **common)
    if custom_field.field_type == FieldType.BOOLEAN:
        return forms.ChoiceField(choices=[("", "—"), ("true", "Yes"), ("false", "No")], **common)
    if custom_field.field_type == FieldType.CHOICE:
        return forms.ChoiceField(choices=[("", "—"), *[(c, c) for c in custom_field.choices]], **common)
    return forms.CharField(**common)


def _initial_field_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):  # 42.000000 reads back as 42 ("f": never 4.2E+1)
        return format(value.normalize(), "f")
    return str(value)


class ContactEditForm(forms.Form):
    """Attributes, tags and custom field values of one contact. Status is not edited here: it changes
    through the consent actions (unsubscribe, blacklist) so each change leaves a consent record."""

    email = forms.CharField(max_length=254, required=False, widget=forms.EmailInput())
    external_id = forms.CharField(max_length=255, required=False, label="External ID")
    phone = forms.CharField(max_length=40, required=False, help_text="International form, e.g. +33612345678")
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    lang = forms.CharField(max_length=10, required=False, label="Language", help_text="e.g. en, fr-CA")
    tags = forms.CharField(max_length=2000, required=False, help_text="Comma-separated")

    ATTRIBUTES = tuple(name for name in CONTACT_ATTRIBUTES if name not in ("source", "status"))

    def __init__(self, *args, contact, custom_fields: list[CustomField], **kwargs):
        values = {value.field_id: value.value for value in contact.field_values.all()}
        initial = {name: getattr(contact, name) or "" for name in self.ATTRIBUTES}
        initial["tags"] = ", ".join(contact.tags)
        for custom_field in custom_fields:
            initial[self.field_key(custom_field)] = _initial_field_value(values.get(custom_field.pk))
        super().__init__(*args, initial=initial, **kwargs)
        self.custom_fields = custom_fields
        for custom_field in custom_fields:
            self.fields[self.field_key(custom_field)] = _custom_field_form_field(custom_field)

    @staticmethod
    def field_key(custom_field: CustomField) -> str:
        return f"field_{custom_field.pk}"

    def attribute_fields(self):
        return [self[name] for name in (*self.ATTRIBUTES, "tags")]

    def custom_field_fields(self):
        return [self[self.field_key(f)] for f in self.custom_fields]

    def update_data(self) -> dict:
        data = {name: self.cleaned_data[name] for name in self.ATTRIBUTES}
        data["tags"] = split_tags(self.cleaned_data["tags"])
        # Only the values the user changed: untouched empty fields must not turn into stored empty rows.
        changed = set(self.changed_data)
        data["fields"] = [
            {"id": f.pk, "value": self.cleaned_data[self.field_key(f)]}
            for f in self.custom_fields
            if self.field_key(f) in changed
        ]
        return data

    def service_field_names(self) -> dict[str, str]:
        """The service names a bad custom value "fields.<name>"; show it under that field's input."""
        return {f"fields.{f.name}": self.field_key(f) for f in self.custom_fields}


class SubscribeForm(forms.Form):
    list_id = forms.IntegerField(min_value=1)


class EraseForm(forms.Form):
    confirm = forms.BooleanField(
        label="I understand: name, email, phone, tags, custom fields and list memberships are deleted for good.",
        error_messages={"required": "Tick the box to confirm the erasure."},
    )


class ContactListForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    double_opt_in = forms.BooleanField(
        required=False, label="Double opt-in", help_text="New subscribers confirm from an email before they are mailed"
    )
    reminder_after_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        label="Reminder after (days)",
        help_text="Optional: remind pending subscribers to confirm",
    )


class AddMemberForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"placeholder": "name@example.com"}))


class MemberFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *MembershipStatus.choices], required=False)


class CustomFieldForm(forms.Form):
    name = forms.CharField(max_length=100)
    field_type = forms.ChoiceField(choices=FieldType.choices, label="Type", initial=FieldType.TEXT)
    choices = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        label="Choices",
        help_text="For a choice field: the allowed values, one per line",
    )


class SuppressionForm(forms.Form):
    email = forms.CharField(max_length=254, widget=forms.EmailInput(attrs={"placeholder": "name@example.com"}))
    reason = forms.CharField(max_length=200, required=False)


class PreferencesForm(forms.Form):
    """The preference center's ticked lists: only ids of the contact's own lists (a tampered value,
    a NUL or a 5,000-digit number is a form error, never an exception)."""

    lists = forms.TypedMultipleChoiceField(coerce=int, required=False)

    def __init__(self, *args, memberships, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["lists"].choices = [(str(m.contact_list_id), m.contact_list.name) for m in memberships]
