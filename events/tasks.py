"""Celery tasks of events: thin wrappers around events.dispatch and events.retention."""

from celery import shared_task

from . import dispatch, retention


@shared_task(bind=True, max_retries=8, acks_late=True)
def dispatch_events(self, event_ids: list[int]) -> None:
    """Enqueued after commit by record_events (one task per batch of ids) and by the sweep.
    A handler error or a database outage retries with backoff; past the retries the sweep
    picks the events up again, since they stay undispatched."""
    try:
        dispatch.dispatch_events(event_ids)
    except Exception as exc:  # a handler's error or the database's: the claim rolled back, try again
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 300)) from exc


@shared_task
def sweep_undispatched_events() -> None:
    """Beat, every minute: events stored but never dispatched (the process died between commit and
    enqueue, or the message was lost) go to the dispatch task, a bounded number per run."""
    dispatch.send(dispatch.undispatched_event_ids())


@shared_task
def delete_expired_events() -> None:
    """Beat, hourly: events older than EVENT_RETENTION_DAYS are deleted in bounded batches; a run
    that stopped at its limit enqueues the next at once."""
    if retention.delete_expired_events() >= retention.DELETE_LIMIT_PER_RUN:
        delete_expired_events.delay()
