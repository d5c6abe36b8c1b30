"""How long events are kept: EVENT_RETENTION_DAYS (0 keeps them forever), enforced by a beat job
that deletes the oldest in bounded batches, so no statement holds locks or bloats WAL for long."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Event

DELETE_BATCH = 5000
DELETE_LIMIT_PER_RUN = 100_000


def delete_expired_events(*, batch_size: int = DELETE_BATCH, limit: int = DELETE_LIMIT_PER_RUN) -> int:
    """Delete events that occurred more than EVENT_RETENTION_DAYS ago; returns how many."""
    days = settings.EVENT_RETENTION_DAYS
    if not days:
        return 0
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while deleted < limit:
        # Uses the index event_occurred_at; each batch is its own short transaction.
        ids = list(
            Event.objects.filter(occurred_at__lt=cutoff)
            .order_by("occurred_at")
            .values_list("pk", flat=True)[: min(batch_size, limit - deleted)]
        )
        if not ids:
            break
        with transaction.atomic():
            count, _ = Event.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if count == 0:
            break
    return deleted
