"""Dashboard forms for campaigns, templates and Settings > Sending. They collect raw input; the
services (campaigns.services, campaigns.delivery, salloq.core.company_settings) validate it, and
`add_service_errors` puts their messages next to the fields."""

from django import forms

from contacts.models import ContactList, Segment

from .models import CampaignStatus, CampaignType, EmailTemplate

# The services name some fields as the Salloq Marketing API does; the form names them as the model.
SERVICE_FIELD_NAMES = {
    "list_id": "lists",
    "list_ids": "lists",
    "segment_id": "segments",
    "segment_ids": "segments",
    "excluded_list_ids": "excluded_lists",
    "excluded_segment_ids": "excluded_segments",
    "template_id": "template",
    "html": "html",
}


class AudienceForm(forms.Form):
    """Lists and segments to include and exclude; also read alone by the live recipient count."""

    lists = forms.ModelMultipleChoiceField(
        queryset=ContactList.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label="Send to lists"
    )
    segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.none(), required=False, widget=forms.CheckboxSelectMultiple, label="Send to segments"
    )
    excluded_lists = forms.ModelMultipleChoiceField(
        queryset=ContactList.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Leave out members of lists",
    )
    excluded_segments = forms.ModelMultipleChoiceField(
        queryset=Segment.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Leave out segments",
    )

    AUDIENCE_FIELDS = ("lists", "segments", "excluded_lists", "excluded_segments")

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        lists = ContactList.objects.for_company(company).order_by("name")
        segments = Segment.objects.for_company(company).order_by("name")
        self.fields["lists"].queryset = self.fields["excluded_lists"].queryset = lists
        self.fields["segments"].queryset = self.fields["excluded_segments"].queryset = segments

    def audience_ids(self) -> dict[str, list[int]]:
        """The keyword arguments of campaigns.audience.audience_count (valid form only)."""
        data = self.cleaned_data
        return {
            "list_ids": [item.pk for item in data.get("lists") or []],
            "segment_ids": [item.pk for item in data.get("segments") or []],
            "excluded_list_ids": [item.pk for item in data.get("excluded_lists") or []],
            "excluded_segment_ids": [item.pk for item in data.get("excluded_segments") or []],
        }


class CampaignForm(AudienceForm):
    name = forms.CharField(max_length=200)
    subject = forms.CharField(
        max_length=255,
        required=False,
        help_text='Personalize with {{ contact.first_name|default:"there" }}.',
    )
    preview_text = forms.CharField(
        max_length=255,
        required=False,
        label="Preheader",
        help_text="The line mail clients show after the subject.",
    )
    template = forms.ModelChoiceField(
        queryset=EmailTemplate.objects.none(),
        required=False,
        empty_label="No template (the content alone)",
        help_text="A layout around the content: its {{ content }} is where the content goes.",
    )
    content = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false"}),
        help_text="HTML. Scripts and event handlers are removed when it is saved.",
    )
    from_name = forms.CharField(max_length=200, required=False, label="From name")
    from_email = forms.EmailField(required=False, label="From address")
    reply_to = forms.EmailField(required=False, label="Reply-to address")

    # The order the editor shows them in: message first, audience after, sender last.
    field_order = [
        "name",
        "subject",
        "preview_text",
        "template",
        "content",
        *AudienceForm.AUDIENCE_FIELDS,
        "from_name",
        "from_email",
        "reply_to",
    ]

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, company=company, **kwargs)
        self.fields["template"].queryset = EmailTemplate.objects.for_company(company)
        # The company's defaults, shown where the campaign leaves a sender field empty.
        for name, default in (
            ("from_name", company.sender_name),
            ("from_email", company.sender_email),
            ("reply_to", company.reply_to_email),
        ):
            self.fields[name].widget.attrs["placeholder"] = default or "Company default (Settings > Sending)"

    def message_fields(self):
        return [self[name] for name in ("name", "subject", "preview_text", "template", "content")]

    def audience_fields(self):
        return [self[name] for name in self.AUDIENCE_FIELDS]

    def sender_fields(self):
        return [self[name] for name in ("from_name", "from_email", "reply_to")]

    def service_data(self) -> dict:
        """The campaign as campaigns.services.campaign_create/update take it."""
        data = self.cleaned_data
        template = data.get("template")
        return {
            "name": data["name"],
            "subject": data["subject"],
            "preview_text": data["preview_text"],
            "content": data["content"],
            "template_id": template.pk if template else None,
            **self.audience_ids(),
            "from_name": data["from_name"],
            "from_email": data["from_email"],
            "reply_to": data["reply_to"],
        }


class CampaignFilterForm(forms.Form):
    status = forms.ChoiceField(choices=[("", "Any status"), *CampaignStatus.choices], required=False)
    type = forms.ChoiceField(choices=[("", "Any type"), *CampaignType.choices], required=False)


class ScheduleForm(forms.Form):
    """Send now (no time) or at a time; a time without a zone is in the server's TIME_ZONE."""

    scheduled_at = forms.DateTimeField(
        required=False,
        label="Send at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"],
    )
    # "schedule": the Schedule button, which needs a time; absent: Send now.
    mode = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("mode") == "schedule" and not cleaned.get("scheduled_at") and "scheduled_at" not in self.errors:
            self.add_error("scheduled_at", "Pick when to send it.")
        return cleaned


class TestSendForm(forms.Form):
    emails = forms.CharField(
        max_length=2000,
        label="Send a test to",
        help_text="Up to a few addresses, separated by commas.",
        widget=forms.TextInput(attrs={"placeholder": "you@example.com", "autocomplete": "email"}),
    )

    def email_list(self) -> list[str]:
        return [part.strip() for part in self.cleaned_data["emails"].replace(";", ",").split(",") if part.strip()]


class PreviewForm(forms.Form):
    contact = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1, label="Preview as")


class EmailTemplateForm(forms.Form):
    name = forms.CharField(max_length=200)
    html = forms.CharField(
        label="HTML",
        widget=forms.Textarea(attrs={"rows": 16, "spellcheck": "false"}),
        help_text="Put {{ content }} where each campaign's content goes.",
    )


class SendingSettingsForm(forms.Form):
    sender_name = forms.CharField(max_length=200, required=False, label="Sender name")
    sender_email = forms.EmailField(required=False, label="Sender address")
    reply_to_email = forms.EmailField(required=False, label="Reply-to address")
    postal_address = forms.CharField(
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Shown in every campaign's footer (anti-spam laws ask for a physical address).",
    )
    send_rate_per_second = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=100000,
        label="Send rate (messages per second)",
    )
