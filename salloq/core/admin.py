from django.contrib import admin, messages

from . import services
from .models import ApiKey, Company, Heartbeat, Membership, TaskProbe


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "id", "created_at", "webhook_secret_rotated_at"]
    search_fields = ["name"]
    readonly_fields = [
        "webhook_secret",
        "webhook_secret_rotated_at",
        "webhook_previous_secret",
        "webhook_previous_secret_expires_at",
        "created_at",
    ]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "company", "role", "created_at"]
    list_filter = ["role", "company"]
    search_fields = ["user__username", "user__email", "company__name"]
    autocomplete_fields = ["user", "company"]


@admin.action(description="Revoke selected keys")
def revoke_keys(modeladmin, request, queryset):
    for api_key in queryset.filter(revoked_at__isnull=True):
        services.api_key_revoke(api_key=api_key)
    messages.success(request, "Revoked.")


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Inspect and revoke keys; they are created where the plain key can be shown once.

    That is the dashboard and `manage.py create_api_key`.
    """

    list_display = ["name", "prefix", "company", "scope_list", "hourly_limit", "status", "last_used_at", "created_at"]
    list_filter = ["company", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix", "company__name"]
    readonly_fields = ["prefix", "key_hash", "company", "last_used_at", "revoked_at", "created_by", "created_at"]
    fields = [
        "name",
        "company",
        "prefix",
        "key_hash",
        "scopes",
        "hourly_limit",
        "expires_at",
        "revoked_at",
        "last_used_at",
        "created_by",
        "created_at",
    ]
    actions = [revoke_keys]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="scopes")
    def scope_list(self, obj) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request, obj, form, change):
        # Saving drops the cached lookup (signals.py), so edits and deletions here apply at once.
        obj.scopes = services.validate_scopes(obj.scopes)
        super().save_model(request, obj, form, change)


@admin.register(TaskProbe)
class TaskProbeAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "completed_at", "worker"]


@admin.register(Heartbeat)
class HeartbeatAdmin(admin.ModelAdmin):
    list_display = ["name", "last_seen_at", "worker"]
