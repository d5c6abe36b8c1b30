"""Django admin for the connector: connections (the key is never shown, only its last four
characters) and sync runs, read-only (they record what happened)."""

from django.contrib import admin
from django.db import models

from .models import ShopConnection, ShopSyncRun


@admin.register(ShopConnection)
class ShopConnectionAdmin(admin.ModelAdmin):
    list_display = [
        "company",
        "base_url",
        "masked_api_key",
        "sync_interval_minutes",
        "last_sync_status",
        "last_sync_at",
    ]
    list_filter = ["last_sync_status"]
    search_fields = ["company__name", "base_url"]
    readonly_fields = ["masked_api_key", "orders_watermark", "last_sync_status", "last_sync_at", "last_sync_counts"]
    exclude = ["api_key_encrypted"]
    # A shop's API root without a scheme is https (Django 6's default; Django 5 still assumes http
    # and warns).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def has_add_permission(self, request) -> bool:
        return False  # the key is entered (and encrypted) on the dashboard's connector page

    @admin.display(description="API key")
    def masked_api_key(self, obj: ShopConnection) -> str:
        return obj.masked_api_key


@admin.register(ShopSyncRun)
class ShopSyncRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "company", "status", "phase", "done", "total", "requests_made", "created_at", "finished_at"]
    list_filter = ["status", "trigger"]
    search_fields = ["company__name"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
