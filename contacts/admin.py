"""Django admin for contacts and audiences: inspection and support work across companies.

Rows that record what happened (consent records, import counters) are read-only here; the
contact and blacklist forms normalize addresses like the services do, so the admin cannot
store a row the API would not."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from . import contact_input, services
from .models import (
    ConsentRecord,
    Contact,
    ContactImport,
    ContactList,
    CustomField,
    CustomFieldValue,
    KeyInformation,
    ListMembership,
    Segment,
    Suppression,
)


def _normalized(normalize, value: str) -> str:
    try:
        return normalize(value)
    except ValidationError as exc:
        raise forms.ValidationError(exc.messages) from None


class ContactAdminForm(forms.ModelForm):
    class Meta:
        model = Contact
        fields = [
            "company",
            *contact_input.CONTACT_ATTRIBUTES,
            "properties",
            "tags",
        ]

    def clean_tags(self) -> list[str]:
        return _normalized(contact_input.normalize_tags, self.cleaned_data["tags"])

    def clean_email(self) -> str:
        return _normalized(contact_input.normalize_email, self.cleaned_data["email"])

    def clean_phone(self) -> str:
        return _normalized(contact_input.normalize_phone, self.cleaned_data["phone"])

    def clean_external_id(self) -> str | None:
        return (self.cleaned_data["external_id"] or "").strip() or None


class CustomFieldValueInline(admin.TabularInline):
    model = CustomFieldValue
    extra = 0
    raw_id_fields = ["field"]


class KeyInformationInline(admin.TabularInline):
    model = KeyInformation
    extra = 0
    readonly_fields = ["updated_at"]


class ListMembershipInline(admin.TabularInline):
    model = ListMembership
    extra = 0
    raw_id_fields = ["contact_list"]
    fields = ["contact_list", "status", "subscribed_at", "unsubscribed_at", "confirmed_at", "confirmed_ip"]
    readonly_fields = ["confirmed_at", "confirmed_ip"]


class ReadOnlyMixin:
    """What happened is evidence: it can be looked at (and deleted with its owner), not written."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ConsentRecordInline(ReadOnlyMixin, admin.TabularInline):
    model = ConsentRecord
    extra = 0
    fields = ["created_at", "action", "contact_list", "source", "ip_address", "user_agent", "note"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]
    can_delete = False


@admin.action(description="Erase personal data (GDPR) of the selected contacts")
def erase_contacts(modeladmin, request, queryset):
    erased = 0
    for contact in queryset.filter(erased_at__isnull=True):
        services.contact_erase(contact=contact)
        erased += 1
    messages.success(request, f"Erased {erased} contact(s); their anonymized activity is kept.")


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = ContactAdminForm
    list_display = ["email", "full_name", "status", "company", "created_at"]
    list_filter = ["status", "company"]
    list_select_related = ["company"]
    search_fields = ["email", "first_name", "last_name", "external_id"]
    readonly_fields = ["erased_at", "created_at", "updated_at"]
    inlines = [
        CustomFieldValueInline,
        KeyInformationInline,
        ListMembershipInline,
        ConsentRecordInline,
    ]
    actions = [erase_contacts]

    @admin.display(description="name", ordering="last_name")
    def full_name(self, obj: Contact) -> str:
        return obj.full_name


@admin.register(ContactList)
class ContactListAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "double_opt_in", "reminder_after_days", "created_at"]
    list_filter = ["double_opt_in", "company"]
    list_select_related = ["company"]
    search_fields = ["name"]


@admin.register(ListMembership)
class ListMembershipAdmin(admin.ModelAdmin):
    list_display = ["contact", "contact_list", "status", "subscribed_at", "unsubscribed_at", "confirmed_at"]
    list_filter = ["status", "contact_list__company"]
    list_select_related = ["contact", "contact_list"]
    search_fields = ["contact__email", "contact_list__name"]
    raw_id_fields = ["contact", "contact_list"]
    readonly_fields = ["created_at", "confirmation_sent_at", "reminder_sent_at", "confirmed_at", "confirmed_ip"]


@admin.register(CustomField)
class CustomFieldAdmin(admin.ModelAdmin):
    list_display = ["name", "field_type", "company", "created_at"]
    list_filter = ["field_type", "company"]
    list_select_related = ["company"]
    search_fields = ["name"]


class SuppressionAdminForm(forms.ModelForm):
    class Meta:
        model = Suppression
        fields = ["company", "email", "reason"]

    def clean_email(self) -> str:
        email = _normalized(contact_input.normalize_email, self.cleaned_data["email"])
        if not email:
            raise forms.ValidationError("An email address is required.")
        return email


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    form = SuppressionAdminForm
    list_display = ["email", "company", "reason", "created_at"]
    list_filter = ["company"]
    list_select_related = ["company"]
    search_fields = ["email", "reason"]


@admin.register(ConsentRecord)
class ConsentRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["created_at", "contact", "action", "contact_list", "source", "ip_address", "company"]
    list_filter = ["action", "company"]
    list_select_related = ["contact", "contact_list", "company"]
    search_fields = ["contact__email", "source", "ip_address"]
    date_hierarchy = "created_at"


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "updated_at", "created_at"]
    list_filter = ["company"]
    list_select_related = ["company"]
    search_fields = ["name"]


@admin.register(ContactImport)
class ContactImportAdmin(admin.ModelAdmin):
    """Imports are started from the dashboard or the command, and their counters belong to the task."""

    list_display = [
        "id",
        "original_name",
        "company",
        "status",
        "processed_rows",
        "total_rows",
        "error_count",
        "created_at",
    ]
    list_filter = ["status", "company"]
    list_select_related = ["company"]
    search_fields = ["original_name"]
    readonly_fields = [
        "company",
        "file",
        "original_name",
        "mapping",
        "contact_list",
        "tags",
        "status",
        "total_rows",
        "processed_rows",
        "created_count",
        "updated_count",
        "error_count",
        "errors",
        "failure",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]

    def has_add_permission(self, request) -> bool:
        return False
