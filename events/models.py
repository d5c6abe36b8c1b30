"""What contacts did: events tracked from shops and tills (the Salloq Marketing API event types, custom types and
SALESmanago API v3's external events), stored append-only.

Writes go through events.services.record_events; nothing updates an event after it is stored
except the dispatch marker (events.dispatch) and the retention job, which deletes old rows.
"""

from django.db import models
from django.utils import timezone

from salloq.core.models import Company, CompanyScopedModel


class EventSource(models.TextChoices):
    API = "api", "API"
    WEBHOOK = "webhook", "Webhook"
    IMPORT = "import", "Import"
    # SALESmanago API v3 external events: {"contact": ..., "event": {"type": "PURCHASE", ...}}.
    EXTERNAL = "external", "External event (SALESmanago v3)"


class Event(CompanyScopedModel):
    # No index of their own on company and contact: every index below leads with one of them, and each
    # index more is paid by every insert (bench/README.md, events_ingest.py).
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    contact = models.ForeignKey(
        "contacts.Contact",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="events",
        db_index=False,
    )
    event_type = models.CharField(max_length=100, help_text="e.g. order_placed, cart_abandoned, product_viewed")
    data = models.JSONField(default=dict, blank=True)
    # The event's money value (order total, cart total) when it has one: segments sum and compare it.
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    occurred_at = models.DateTimeField(default=timezone.now)
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    source = models.CharField(max_length=10, choices=EventSource.choices, default=EventSource.API)
    # What makes a retry count once (events.services: the Idempotency-Key header, or the natural key
    # such as "order_placed:order_id:ORD-1"); unique per company, null when the event has none.
    idempotency_key = models.CharField(max_length=300, null=True, blank=True)
    # Set when the registered handlers have run for the event (events.dispatch); null rows are what
    # the beat sweep hands to the dispatch task again.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="event_company_idempotency_key",
            ),
        ]
        indexes = [
            models.Index(fields=["contact", "event_type", "occurred_at"], name="event_contact_type_time"),
            # Segments ask "who did <event_type> in this window": on PostgreSQL this answers it from
            # the index alone (index-only scan, no heap fetch per event), which a hash join then uses.
            models.Index(
                fields=["company", "event_type", "occurred_at"], include=["contact"], name="event_company_type_contact"
            ),
            # A contact's timeline (GET /api/contacts/{id}/events, the contact page), newest first.
            models.Index(fields=["contact", "-occurred_at", "-id"], name="event_contact_timeline"),
            # The company's latest events (GET /api/events, the Events page).
            models.Index(fields=["company", "-occurred_at", "-id"], name="event_company_time"),
            # The retention job deletes the oldest events of every company.
            models.Index(fields=["occurred_at"], name="event_occurred_at"),
            # The dispatch sweep finds events whose dispatch never ran: only those rows are indexed.
            models.Index(
                fields=["received_at"], condition=models.Q(dispatched_at__isnull=True), name="event_undispatched"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} @ {self.occurred_at:%Y-%m-%d %H:%M}"
