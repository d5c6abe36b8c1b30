"""Shapes of the campaigns API (the Salloq Marketing API's campaigns, and templates).

Input fields are strict about JSON types (salloq.core.api.fields); what the fields mean together
(ids of the company's lists, personalization, frozen content) is checked by campaigns.services.
"""

import re
from datetime import datetime

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from salloq.core.api.fields import (
    HEADER_NAME_CHAR,
    BlankableEmailField,
    IdField,
    NonBlankCharField,
    StrictCharField,
)

from .. import services
from ..models import Campaign, CampaignStatus, CampaignType, EmailTemplate

# "2024-06-15 09:00:00" as the Salloq Marketing API writes it, or ISO 8601 / RFC 3339 with a "T",
# seconds and fractions optional, and an offset or Z. Without an offset: the site's TIME_ZONE.
SCHEDULED_AT_PATTERN = (
    r"^(19|20|21)[0-9]{2}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?$"
)
SCHEDULED_AT_DESCRIPTION = (
    'The send time: "2024-06-15 09:00:00" (the Salloq Marketing API\'s form) or ISO 8601 with an offset '
    '("2024-06-15T09:00:00+02:00", "...Z"). A time without an offset is in the server\'s time zone '
    "(its TIME_ZONE setting, UTC unless set)."
)
# No control characters: the subject and the sender's name are mail headers.
# "+", not "*": "" is documented beside it (allow_blank), and must match only one of the two.
HEADER_TEXT = f"^{HEADER_NAME_CHAR}+$"


@extend_schema_field(
    {"type": "string", "pattern": SCHEDULED_AT_PATTERN, "nullable": True, "description": SCHEDULED_AT_DESCRIPTION}
)
class ScheduledAtField(serializers.Field):
    """A send time as text, read as the pattern says; naive times stay naive for the service, which
    puts them in the site's time zone."""

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> datetime:
        if not isinstance(data, str) or not re.fullmatch(SCHEDULED_AT_PATTERN[1:-1], data):
            raise serializers.ValidationError(
                'Use "YYYY-MM-DD HH:MM:SS" (the server\'s time zone) or ISO 8601 with an offset.'
            )
        try:
            return datetime.fromisoformat(data)
        except ValueError:
            raise serializers.ValidationError(f"'{data}' is not a real date and time.") from None

    def to_representation(self, value: datetime) -> str:
        return serializers.DateTimeField().to_representation(value)


@extend_schema_field({"type": "string", "pattern": HEADER_TEXT})
class HeaderTextField(StrictCharField):
    """Text for a mail header (a subject): may be blank, no line breaks."""


def _id_list(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=IdField(), required=False, max_length=services.MAX_AUDIENCE_IDS, help_text=help_text
    )


class CampaignInputSerializer(serializers.Serializer):
    """POST and PUT (name required) and PATCH (anything) of a campaign."""

    name = NonBlankCharField(max_length=services.NAME_MAX_LENGTH)
    type = serializers.ChoiceField(
        choices=CampaignType.choices, required=False, help_text="email (default) or sms (sending sms is refused)."
    )
    subject = HeaderTextField(
        max_length=services.SUBJECT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text='Personalization in Django template syntax: {{ contact.first_name|default:"there" }}.',
    )
    preview_text = StrictCharField(
        max_length=services.PREVIEW_TEXT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="The hidden preheader mail clients show after the subject.",
    )
    content = StrictCharField(
        max_length=services.CONTENT_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="HTML with personalization; scripts and event handlers are removed when it is saved.",
    )
    template_id = IdField(required=False, allow_null=True, help_text="A template of the company (its layout).")
    list_id = IdField(
        required=False, allow_null=True, help_text="A list to send to (the Salloq Marketing API's single list)."
    )
    list_ids = _id_list("Lists to send to (with list_id: both).")
    segment_ids = _id_list("Segments to send to.")
    excluded_list_ids = _id_list("Members of these lists are left out.")
    excluded_segment_ids = _id_list("Contacts in these segments are left out.")
    from_name = HeaderTextField(
        max_length=services.FROM_NAME_MAX_LENGTH, required=False, allow_blank=True, help_text="Empty: the company's."
    )
    from_email = BlankableEmailField(required=False, help_text="Empty: the company's sender address.")
    reply_to = BlankableEmailField(required=False, help_text="Empty: the company's reply-to address.")
    scheduled_at = ScheduledAtField(
        required=False,
        help_text=(
            "The planned send time. The campaign stays a draft until POST /api/campaigns/send/{campaign_id}, "
            "which sends at this time when it is still ahead (or at the time that call gives), else at once. "
            + SCHEDULED_AT_DESCRIPTION
        ),
    )


class CampaignSerializer(serializers.ModelSerializer):
    campaign_id = serializers.IntegerField(source="id", read_only=True)
    template_id = serializers.IntegerField(allow_null=True)
    list_id = serializers.SerializerMethodField(help_text="The first list of the audience (null: none).")
    list_ids = serializers.SerializerMethodField()
    segment_ids = serializers.SerializerMethodField()
    excluded_list_ids = serializers.SerializerMethodField()
    excluded_segment_ids = serializers.SerializerMethodField()
    # "" means the company's default: plain text, not an address format.
    from_email = serializers.CharField(help_text="Empty: the company's sender address.")
    reply_to = serializers.CharField(help_text="Empty: the company's reply-to address.")
    scheduled_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=CampaignStatus.choices)
    type = serializers.ChoiceField(choices=CampaignType.choices)
    sent = serializers.IntegerField(source="sent_count", help_text="Messages sent.")
    failed = serializers.IntegerField(source="failed_count", help_text="Recipients refused (failed or bounced).")
    opened = serializers.IntegerField(source="opened_count", help_text="Recipients who opened.")
    clicked = serializers.IntegerField(source="clicked_count", help_text="Recipients who clicked.")

    class Meta:
        model = Campaign
        fields = [
            "campaign_id",
            "name",
            "type",
            "status",
            "subject",
            "preview_text",
            "content",
            "template_id",
            "list_id",
            "list_ids",
            "segment_ids",
            "excluded_list_ids",
            "excluded_segment_ids",
            "from_name",
            "from_email",
            "reply_to",
            "scheduled_at",
            "recipient_count",
            "sent",
            "failed",
            "opened",
            "clicked",
            "last_error",
            "created_at",
            "updated_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    @staticmethod
    def _ids(rows) -> list[int]:
        return sorted(row.pk for row in rows.all())

    @extend_schema_field({"type": "integer", "nullable": True})
    def get_list_id(self, campaign: Campaign) -> int | None:
        ids = self._ids(campaign.lists)
        return ids[0] if ids else None

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_list_ids(self, campaign: Campaign) -> list[int]:
        return self._ids(campaign.lists)

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_segment_ids(self, campaign: Campaign) -> list[int]:
        return self._ids(campaign.segments)

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_excluded_list_ids(self, campaign: Campaign) -> list[int]:
        return self._ids(campaign.excluded_lists)

    @extend_schema_field({"type": "array", "items": {"type": "integer"}})
    def get_excluded_segment_ids(self, campaign: Campaign) -> list[int]:
        return self._ids(campaign.excluded_segments)


class CampaignDeletedSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    deleted = serializers.BooleanField()


class CampaignSendSerializer(serializers.Serializer):
    scheduled_at = ScheduledAtField(
        required=False,
        help_text=(
            "When to send. Omitted or null: the campaign's planned scheduled_at when it is still ahead, "
            "else at once. In the past: a 400. " + SCHEDULED_AT_DESCRIPTION
        ),
    )


class CampaignTestSerializer(serializers.Serializer):
    emails = serializers.ListField(
        child=NonBlankCharField(max_length=services.EMAIL_MAX_LENGTH),
        min_length=1,
        max_length=10,
        help_text="Where to send the test (a '[Test] ' subject, as the first contact of the audience would get it).",
    )


class CampaignTestResultSerializer(serializers.Serializer):
    campaign_id = serializers.IntegerField()
    sent = serializers.IntegerField(help_text="Test messages sent.")
    emails = serializers.ListField(child=serializers.CharField())


class LinkStatsSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    position = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()
    total_clicks = serializers.IntegerField()


class TimelineBucketSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    unit = serializers.ChoiceField(choices=["hour", "day"])
    opens = serializers.IntegerField()
    clicks = serializers.IntegerField()


class RatesSerializer(serializers.Serializer):
    open_rate = serializers.FloatField()
    click_rate = serializers.FloatField()
    click_to_open_rate = serializers.FloatField()
    unsubscribe_rate = serializers.FloatField()
    bounce_rate = serializers.FloatField()


class CampaignStatsSerializer(serializers.Serializer):
    """campaigns.selectors.stats.campaign_stats, documented (README "Campaign tracking and reports")."""

    campaign_id = serializers.IntegerField()
    recipients = serializers.IntegerField()
    sent = serializers.IntegerField()
    failed = serializers.IntegerField()
    bounced = serializers.IntegerField()
    skipped = serializers.IntegerField()
    pending = serializers.IntegerField()
    unique_opens = serializers.IntegerField()
    total_opens = serializers.IntegerField()
    unique_clicks = serializers.IntegerField()
    total_clicks = serializers.IntegerField()
    unsubscribes = serializers.IntegerField()
    machine_opens = serializers.IntegerField(help_text="Opens by link scanners and prefetchers, counted nowhere else.")
    machine_clicks = serializers.IntegerField(help_text="Clicks by link scanners, counted nowhere else.")
    rates = RatesSerializer(help_text="Fractions of the messages sent (0.25 is 25%).")
    links = LinkStatsSerializer(many=True)
    timeline = TimelineBucketSerializer(many=True)


# --- Templates -------------------------------------------------------------------------------------


class TemplateSerializer(serializers.ModelSerializer):
    template_id = serializers.IntegerField(source="id", read_only=True)
    name = NonBlankCharField(max_length=services.NAME_MAX_LENGTH)
    html = StrictCharField(
        max_length=services.TEMPLATE_HTML_MAX_LENGTH,
        help_text="The layout; {{ content }} is where a campaign's content goes. Personalization as in campaigns.",
    )

    class Meta:
        model = EmailTemplate
        fields = ["template_id", "name", "html", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]


class TemplateDeletedSerializer(serializers.Serializer):
    template_id = serializers.IntegerField()
    deleted = serializers.BooleanField()
