"""Celery tasks of the connector: thin wrappers that load by id and call the sync service."""

from celery import shared_task

from . import services, sync


@shared_task
def run_shop_sync(run_id: int) -> None:
    """Enqueued on commit by services.sync_start, and by the beat job for runs to resume. Safe to
    run twice: the run is claimed, and a resumed run goes on after its last committed page. Retries
    are the beat job's: an interrupted run is resumed after a backoff (sync.runs_to_resume)."""
    sync.sync_run(run_id=run_id)


@shared_task
def schedule_shop_syncs() -> None:
    """Beat, every minute: resume runs whose worker died, was lost or was interrupted, and start the
    incremental syncs that are due."""
    for run_id in sync.runs_to_resume():
        run_shop_sync.delay(run_id)
    for connection in sync.due_connections():
        services.sync_start(connection=connection, trigger="schedule")
