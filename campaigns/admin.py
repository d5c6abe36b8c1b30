"""Django admin for campaigns: inspection and support across companies.

What a campaign sends is checked by campaigns.services (personalization, sanitizing, the audience's
company) and its status moves only through campaigns.delivery, so here campaigns and templates are
read, with only their names editable; they are created, changed, sent and deleted in the dashboard
or the API. Recipient rows, links, activity, the send-rate buckets and the outbox are read-only
records. A campaign's recipients can be 100,000 rows: the campaign links to their filtered list
rather than showing them inline, and those lists never count the whole table.
"""

from django.contrib import admin
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.html import format_html

from .models import (
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    EmailTemplate,
    OutboxMessage,
    SendRateBucket,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the sending machinery: looked at, never changed by hand."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class NameOnlyAdmin(admin.ModelAdmin):
    """Only the name changes here; the rest goes through the services' checks elsewhere."""

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [
            field.name for field in self.model._meta.get_fields() if field.concrete and field.name != "name"
        ] + list(self.extra_readonly)

    extra_readonly: tuple[str, ...] = ()


class CampaignLinkInline(admin.TabularInline):
    model = CampaignLink
    fields = ("position", "url")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(NameOnlyAdmin):
    list_display = ("name", "company", "type", "status", "recipient_count", "scheduled_at", "created_at")
    list_filter = ("status", "type")
    list_select_related = ("company",)
    search_fields = ("name", "subject", "company__name")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = (CampaignLinkInline,)
    extra_readonly = ("recipients_link", "audience")
    fieldsets = (
        (None, {"fields": ("name", "company", "type", "status", "recipients_link", "last_error")}),
        ("Message", {"fields": ("subject", "preview_text", "template", "content", "frozen_source")}),
        ("Audience", {"fields": ("audience",)}),
        ("Sender", {"fields": ("from_name", "from_email", "reply_to")}),
        ("Times", {"fields": ("scheduled_at", "created_at", "updated_at", "started_at", "finished_at")}),
    )

    @admin.display(description="Recipients")
    def recipients_link(self, campaign: Campaign) -> str:
        url = reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign__id__exact={campaign.pk}"
        return format_html('<a href="{}">{} recipient rows</a>', url, campaign.recipient_count)

    @admin.display(description="Audience")
    def audience(self, campaign: Campaign) -> str:
        def names(rows: QuerySet) -> str:
            return ", ".join(str(row) for row in rows) or "—"

        return format_html(
            "Lists: {}<br>Segments: {}<br>Leaving out lists: {}<br>Leaving out segments: {}",
            names(campaign.lists.all()),
            names(campaign.segments.all()),
            names(campaign.excluded_lists.all()),
            names(campaign.excluded_segments.all()),
        )


@admin.register(EmailTemplate)
class EmailTemplateAdmin(NameOnlyAdmin):
    list_display = ("name", "company", "updated_at")
    list_select_related = ("company",)
    search_fields = ("name", "company__name")


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(ReadOnlyAdmin):
    list_display = ("email", "campaign", "status", "attempts", "sent_at", "open_count", "click_count")
    list_filter = ("status",)
    list_select_related = ("campaign",)
    search_fields = ("email", "message_id")
    raw_id_fields = ("campaign", "contact")
    show_full_result_count = False


@admin.register(CampaignLink)
class CampaignLinkAdmin(ReadOnlyAdmin):
    list_display = ("url", "position", "campaign")
    list_select_related = ("campaign",)
    search_fields = ("url", "campaign__name")
    raw_id_fields = ("campaign",)


@admin.register(CampaignActivity)
class CampaignActivityAdmin(ReadOnlyAdmin):
    list_display = ("kind", "campaign", "recipient", "occurred_at", "is_machine")
    list_filter = ("kind", "is_machine")
    list_select_related = ("campaign", "recipient")
    search_fields = ("recipient__email", "user_agent")
    raw_id_fields = ("campaign", "recipient", "link")
    show_full_result_count = False


@admin.register(SendRateBucket)
class SendRateBucketAdmin(ReadOnlyAdmin):
    list_display = ("company", "tokens", "refilled_at")
    list_select_related = ("company",)
    search_fields = ("company__name",)


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("subject", "recipients", "company", "received_at")
    list_select_related = ("company",)
    search_fields = ("subject", "recipients", "message_id")
    exclude = ("raw",)
