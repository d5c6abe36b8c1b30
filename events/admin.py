from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["event_type", "contact", "value", "occurred_at", "company"]
    list_filter = ["source", "company"]
    list_select_related = ["contact", "company"]
    # Event types are free text from shops and tills: searched, not offered as a filter list.
    search_fields = ["event_type", "contact__email"]
    raw_id_fields = ["contact"]
    readonly_fields = ["received_at", "dispatched_at", "idempotency_key", "source"]
    date_hierarchy = "occurred_at"
