"""Celery tasks of contacts: thin wrappers that load by id, call a service and own the retries."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import bulk_actions, consent, imports


@shared_task
def send_double_opt_in_confirmations() -> None:
    """Enqueued on commit by the services that leave members pending (once per call, however many
    members it added), and by beat every minute. The beat run is the retry after a mail-server
    failure (spaced out by salloq.core.mailserver, not by the task) and sends whatever an enqueue
    missed. A full batch means more may be owed: run again at once rather than wait for the next
    beat."""
    if consent.send_pending_confirmations() >= consent.CONFIRMATION_BATCH_SIZE:
        send_double_opt_in_confirmations.delay()


@shared_task
def send_double_opt_in_reminders() -> None:
    """Beat, every 15 minutes. A full batch means more may be due: run again at once rather than
    wait for the next beat. After a mail-server failure the next beat run is the retry."""
    if consent.send_due_reminders() >= consent.REMINDER_BATCH_SIZE:
        send_double_opt_in_reminders.delay()


@shared_task(bind=True, max_retries=5)
def run_contact_import(self, import_id: int) -> None:
    """Enqueued on commit by imports.contact_import_create. Safe to run twice: the import is claimed,
    and a retry resumes after the last committed chunk."""
    try:
        imports.contact_import_run(import_id=import_id)
    except (OperationalError, InterfaceError) as exc:  # the database went away: resume later
        if self.request.retries >= self.max_retries:
            imports.contact_import_fail(import_id=import_id, message="The database was unavailable.")
            raise
        raise self.retry(exc=exc, countdown=min(600, 15 * 2**self.request.retries)) from exc
    except Exception as exc:
        imports.contact_import_fail(
            import_id=import_id, message=f"Unexpected error ({type(exc).__name__}); it has been logged."
        )
        raise


@shared_task
def resume_stalled_imports() -> None:
    """Beat, every minute: imports whose worker died mid-run (no heartbeat for
    CONTACT_IMPORT_STALLED_AFTER seconds) run again from their last committed chunk."""
    stalled_after = timedelta(seconds=settings.CONTACT_IMPORT_STALLED_AFTER)
    for import_id in imports.stalled_imports_claim(stalled_after=stalled_after):
        run_contact_import.delay(import_id)


@shared_task(bind=True, max_retries=5)
def run_contact_bulk_action(self, bulk_action_id: int) -> None:
    """Enqueued on commit by bulk_actions.contact_bulk_action_start for a large selection. Safe to run
    twice: the action is claimed, and a retry goes on after the last committed chunk."""
    try:
        bulk_actions.contact_bulk_action_run(bulk_action_id=bulk_action_id)
    except (OperationalError, InterfaceError) as exc:  # the database went away: resume later
        if self.request.retries >= self.max_retries:
            message = "The database was unavailable."
            bulk_actions.contact_bulk_action_fail(bulk_action_id=bulk_action_id, message=message)
            raise
        bulk_actions.contact_bulk_action_release(bulk_action_id=bulk_action_id)
        raise self.retry(exc=exc, countdown=min(600, 15 * 2**self.request.retries)) from exc
    except Exception as exc:
        bulk_actions.contact_bulk_action_fail(
            bulk_action_id=bulk_action_id, message=f"Unexpected error ({type(exc).__name__}); it has been logged."
        )
        raise


@shared_task
def resume_stalled_bulk_actions() -> None:
    """Beat, every minute: large bulk actions whose worker died (or whose message was lost) run
    again from their last committed chunk."""
    for bulk_action_id in bulk_actions.stalled_bulk_actions():
        run_contact_bulk_action.delay(bulk_action_id)
