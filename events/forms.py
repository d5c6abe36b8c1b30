"""The Events page's filter bar: raw GET input made into selectors.EventFilters."""

from django import forms
from django.core.exceptions import ValidationError

from contacts.contact_input import normalize_email

from .event_input import EVENT_TYPES
from .selectors import EventFilters

# The Salloq Marketing API's types, offered as suggestions; any other type (custom, SALESmanago API v3's) can be typed.
SUGGESTED_TYPES = tuple(EVENT_TYPES)


class EventFilterForm(forms.Form):
    event_type = forms.CharField(max_length=100, required=False)
    contact = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    email = forms.CharField(max_length=254, required=False)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)
    # The cursor: the last event of the previous page (see selectors.events_page).
    older_than = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)

    def clean_event_type(self) -> str:
        return self.cleaned_data["event_type"].strip()

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["email"]) from None

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> EventFilters:
        """The valid filters; a field with an error is left out (the page names it)."""
        data = self.cleaned_data if self.is_bound else {}
        return EventFilters(
            event_type=data.get("event_type") or "",
            contact_id=data.get("contact"),
            email=data.get("email") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
