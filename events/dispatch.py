"""The hand-off point of events: after events commit, registered handlers get their ids in batches.

    from events.dispatch import register_handler

    @register_handler
    def start_flows(event_ids: list[int]) -> None:
        ...  # load Event.objects.filter(pk__in=event_ids) and act

- record_events enqueues ONE task (events.tasks.dispatch_events) per batch of up to DISPATCH_BATCH
  new ids, after its transaction commits (never one task per event: a task costs milliseconds).
- The task claims the events (SELECT ... FOR UPDATE SKIP LOCKED on those still undispatched), calls
  every handler in registration order inside that transaction, then sets dispatched_at. A handler
  that raises rolls the claim back: the task retries with backoff, and the sweep tries again later.
  Handlers therefore see an event at least once; they enqueue their own work with on_commit.
- A crash between commit and enqueue (or a lost message) loses nothing: the beat job
  events.tasks.sweep_undispatched_events re-enqueues events still undispatched SWEEP_AFTER after
  they were received, in bounded batches.
Handlers are registered at import time (an app's AppConfig.ready()), in every process that runs
the worker.
"""

import logging
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

DISPATCH_TASK = "events.tasks.dispatch_events"
# Ids per dispatch task: one task per 1000-event batch request.
DISPATCH_BATCH = 1000
# An event still undispatched this long after it was received lost its message.
SWEEP_AFTER = timedelta(minutes=2)
# Events one sweep run re-enqueues at most (it runs every minute).
SWEEP_LIMIT = 10_000

Handler = Callable[[list[int]], None]
_handlers: list[Handler] = []


def register_handler(handler: Handler) -> Handler:
    """Call `handler(event_ids)` for every batch of stored events; usable as a decorator."""
    if handler not in _handlers:
        _handlers.append(handler)
    return handler


def unregister_handler(handler: Handler) -> None:
    if handler in _handlers:
        _handlers.remove(handler)


def handlers() -> list[Handler]:
    return list(_handlers)


def enqueue(event_ids: list[int]) -> None:
    """One dispatch task per DISPATCH_BATCH ids. A broker outage is logged, not raised: the events
    are committed and the sweep dispatches them when the broker is back."""
    task = current_app.tasks[DISPATCH_TASK]
    for start in range(0, len(event_ids), DISPATCH_BATCH):
        batch = event_ids[start : start + DISPATCH_BATCH]
        try:
            task.delay(batch)
        except Exception:
            logger.warning("Could not enqueue the dispatch of %d events; the sweep will", len(batch), exc_info=True)


def dispatch_events(event_ids: list[int]) -> list[int]:
    """Claim the undispatched events among `event_ids`, run every handler on them, mark them
    dispatched; returns the ids dispatched (those another worker holds or did are skipped)."""
    from .models import Event

    with transaction.atomic():
        claimed = list(
            Event.objects.filter(pk__in=event_ids, dispatched_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)
        )
        if not claimed:
            return []
        for handler in list(_handlers):
            handler(claimed)
        Event.objects.filter(pk__in=claimed).update(dispatched_at=timezone.now())
    return claimed


def undispatched_event_ids(*, limit: int = SWEEP_LIMIT) -> list[int]:
    """Events whose dispatch never ran, oldest first (the partial index event_undispatched)."""
    from .models import Event

    cutoff = timezone.now() - SWEEP_AFTER
    return list(
        Event.objects.filter(dispatched_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )
