"""What contacts did: events tracked from shops and POS (seed 000 event types)."""

from django.db import models
from django.utils import timezone

from salloq.core.models import CompanyScopedModel


class Event(CompanyScopedModel):
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    event_type = models.CharField(max_length=100, help_text="e.g. order_placed, cart_abandoned, product_viewed")
    data = models.JSONField(default=dict, blank=True)
    # The event's money value (order total, cart total) when it has one: segments sum and compare it.
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["contact", "event_type", "occurred_at"], name="event_contact_type_time"),
            models.Index(fields=["company", "event_type", "occurred_at"], name="event_company_type_time"),
            # Segments ask "who did <event_type> in this window": on PostgreSQL this answers it from
            # the index alone (index-only scan, no heap fetch per event), which a hash join then uses.
            models.Index(
                fields=["company", "event_type", "occurred_at"], include=["contact"], name="event_company_type_contact"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.occurred_at:%Y-%m-%d %H:%M}"
