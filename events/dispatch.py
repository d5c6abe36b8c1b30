"""The hand-off point of events: after events commit, registered handlers get their ids in batches.

    from events.dispatch import register_handler

    @register_handler
    def start_flows(event_ids: list[int]) -> None:
        ...  # load Event.objects.filter(pk__in=event_ids) and act

- record_events enqueues ONE task (events.tasks.dispatch_events) per batch of up to DISPATCH_BATCH
  new ids, after its transaction commits (never one task per event: a task costs milliseconds).
  Under load the batches are the process's: a process sends at most one message every
  COALESCE_SECONDS; the ids stored meanwhile (one per POST /api/events) wait in memory and go in
  one message when the interval is over (a timer thread), so the first event after a quiet spell
  is sent at once and the others wait at most that long.
- The task claims the events (SELECT ... FOR UPDATE SKIP LOCKED on those still undispatched), calls
  every handler in registration order inside that transaction, then sets dispatched_at. A handler
  that raises rolls the claim back: the task retries with backoff, and the sweep tries again later.
  Handlers therefore see an event at least once; they enqueue their own work with on_commit.
- A crash between commit and enqueue (ids still waiting in memory included) or a lost message
  loses nothing: the beat job events.tasks.sweep_undispatched_events re-enqueues events still
  undispatched SWEEP_AFTER after they were received, in bounded batches.
Handlers are registered at import time (an app's AppConfig.ready()), in every process that runs
the worker.
"""

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import timedelta

from celery import current_app
from django.db import connections, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

DISPATCH_TASK = "events.tasks.dispatch_events"
# Ids per dispatch task: one task per 1000-event batch request.
DISPATCH_BATCH = 1000
# An event still undispatched this long after it was received lost its message.
SWEEP_AFTER = timedelta(minutes=2)
# Events one sweep run re-enqueues at most (it runs every minute).
SWEEP_LIMIT = 10_000
# A process sends at most one dispatch message this often (full batches excepted). Publishing one
# costs about a millisecond of CPU, as much as the rest of POST /api/events: one per request halved
# the rate the API sustains (bench/README.md, events_ingest.py).
COALESCE_SECONDS = 0.5

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


class _Coalescer:
    """The ids this process stored since its last message, and when that message went."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: list[int] = []
        self.last_sent = float("-inf")
        self.timer: threading.Timer | None = None


_coalescer = _Coalescer()


def _forget_after_fork() -> None:
    # A forked child (a gunicorn or Celery worker) starts with nothing pending and a lock nobody
    # holds: the parent sends its own ids.
    global _coalescer
    _coalescer = _Coalescer()


os.register_at_fork(after_in_child=_forget_after_fork)


def enqueue(event_ids: list[int]) -> None:
    """Hand `event_ids` to the dispatch task: at once when this process sent nothing in the last
    COALESCE_SECONDS (or the ids fill a batch), else with the other ids stored meanwhile when that
    interval is over. One dispatch task per DISPATCH_BATCH ids. A broker outage is logged, not
    raised: the events are committed and the sweep dispatches them when the broker is back."""
    if not event_ids:
        return
    state = _coalescer
    with state.lock:
        now = time.monotonic()
        wait = state.last_sent + COALESCE_SECONDS - now
        if wait > 0 and len(event_ids) < DISPATCH_BATCH:
            state.pending.extend(event_ids)
            if state.timer is None:
                state.timer = threading.Timer(wait, _send_pending)
                state.timer.daemon = True
                state.timer.start()
            return
        batch = state.pending + list(event_ids)
        state.pending = []
        state.last_sent = now
    send(batch)


def _send_pending() -> None:
    """The timer's end of the interval (and the process's exit): the ids that waited, in one message."""
    state = _coalescer
    with state.lock:
        batch, state.pending, state.timer = state.pending, [], None
        if batch:
            state.last_sent = time.monotonic()
    if batch:
        try:
            send(batch)
        finally:
            # An eager task (CELERY_TASK_ALWAYS_EAGER) ran here: this thread's connections die with it.
            connections.close_all()


atexit.register(_send_pending)  # a worker stopping (gunicorn's max_requests, a deploy) sends what waits


def send(event_ids: list[int]) -> None:
    """One dispatch task per DISPATCH_BATCH ids, now (the sweep's way: it runs in a worker, once a
    minute). A broker outage is logged, not raised."""
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
