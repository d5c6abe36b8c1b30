from django.contrib import admin

from .models import Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """Events for staff to look into, never to change: the table is append-only history (written by
    events.services.record_events, pruned by the retention job), so the admin only reads it."""

    list_display = [
        "event_type",
        "contact",
        "value",
        "source",
        "occurred_at",
        "received_at",
        "dispatched_at",
        "company",
    ]
    list_filter = ["source", ("dispatched_at", admin.EmptyFieldListFilter), "occurred_at", "company"]
    list_select_related = ["contact", "company"]
    # Event types are free text from shops and tills: searched (exact, for the index), not offered as a filter list.
    search_fields = ["=event_type", "contact__email", "=idempotency_key"]
    search_help_text = "An exact event type or idempotency key, or part of the contact's email."
    date_hierarchy = "occurred_at"
    ordering = ["-occurred_at", "-id"]
    list_per_page = 50
    # Counting every event of every company on each page view is what a table of millions cannot afford.
    show_full_result_count = False
    fields = [
        "company",
        "contact",
        "event_type",
        "data",
        "value",
        "source",
        "occurred_at",
        "received_at",
        "idempotency_key",
        "dispatched_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
