"""The connector page's form. It collects raw input; services.connection_save validates it."""

from django import forms

from .models import ShopResource


class ShopConnectionForm(forms.Form):
    base_url = forms.CharField(
        label="Shop API address",
        max_length=500,
        help_text="The Salloq Ecommerce API's base URL, e.g. https://shop.example.com/api",
        widget=forms.URLInput(attrs={"placeholder": "https://shop.example.com/api"}),
    )
    # Write-only: never rendered back (render_value=False); empty keeps the stored key.
    api_key = forms.CharField(
        label="API key",
        max_length=500,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    resources = forms.MultipleChoiceField(
        label="What to sync", choices=ShopResource.choices, widget=forms.CheckboxSelectMultiple
    )
    sync_interval_minutes = forms.IntegerField(
        label="Sync every (minutes)",
        min_value=0,
        max_value=7 * 24 * 60,
        help_text="15 minutes to 7 days; 0 syncs only when you ask",
    )

    def __init__(self, *args, connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        if connection is not None:
            self.fields["api_key"].help_text = f"Stored: {connection.masked_api_key}. Leave empty to keep it."
        else:
            self.fields["api_key"].help_text = "From the shop's administration, with the read scopes of what you sync."
