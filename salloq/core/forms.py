from django import forms
from django.utils import timezone

from .models import Scope, default_hourly_limit


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. 'Shopify store' or 'POS Paris'.")
    scopes = forms.MultipleChoiceField(choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=["*"])
    hourly_limit = forms.IntegerField(
        min_value=1, max_value=1_000_000, initial=default_hourly_limit, label="Requests per hour"
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at (optional)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
    )

    def clean_expires_at(self):
        expires_at = self.cleaned_data["expires_at"]
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return expires_at
