"""The commerce dashboard's filter bars: raw GET input made into the selectors' filters. A field
with an error is named on the page and left out of the filters."""

from django import forms
from django.core.exceptions import ValidationError

from contacts.contact_input import normalize_email

from .models import OrderStatus
from .selectors.dashboard import OrderFilters, OrderKind, ProductFilters

MAX_ID = 2**63 - 1
MAX_SEARCH_LENGTH = 200


class ProductFilterForm(forms.Form):
    search = forms.CharField(max_length=MAX_SEARCH_LENGTH, required=False)
    catalog = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    category = forms.CharField(max_length=255, required=False)
    available = forms.ChoiceField(choices=[("", "Any"), ("yes", "Available"), ("no", "Unavailable")], required=False)

    def filters(self) -> ProductFilters:
        data = self.cleaned_data if self.is_bound else {}
        available = data.get("available")
        return ProductFilters(
            search=(data.get("search") or "").strip(),
            catalog_id=data.get("catalog"),
            category=(data.get("category") or "").strip(),
            available=None if not available else available == "yes",
        )


class CollectionItemFilterForm(forms.Form):
    email = forms.CharField(max_length=254, required=False)

    def clean_email(self) -> str:
        return _clean_email(self.cleaned_data["email"])


class OrderFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *OrderStatus.choices], required=False)
    show = forms.ChoiceField(choices=OrderKind.CHOICES, required=False)
    store = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    since = forms.DateField(required=False)
    until = forms.DateField(required=False)
    email = forms.CharField(max_length=254, required=False)
    contact = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)
    # The cursor: the last order of the previous page (see selectors.dashboard.orders_page).
    older_than = forms.IntegerField(required=False, min_value=1, max_value=MAX_ID)

    def clean_email(self) -> str:
        return _clean_email(self.cleaned_data["email"])

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date is before the start date.")
        return cleaned

    def filters(self) -> OrderFilters:
        data = self.cleaned_data if self.is_bound else {}
        return OrderFilters(
            status=data.get("status") or "",
            kind=data.get("show") or OrderKind.ALL,
            store_id=data.get("store"),
            since=data.get("since"),
            until=data.get("until"),
            email=data.get("email") or "",
            contact_id=data.get("contact"),
        )


def _clean_email(value: str) -> str:
    try:
        return normalize_email(value)
    except ValidationError as exc:
        raise ValidationError(exc.message_dict["email"]) from None
