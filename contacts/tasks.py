"""Celery tasks of contacts: thin wrappers that load by id, call a service and own the retries."""

import smtplib

from celery import shared_task
from django.db import InterfaceError, OperationalError

from . import consent, imports


@shared_task(
    autoretry_for=(smtplib.SMTPException, OSError),
    retry_backoff=60,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
)
def send_double_opt_in_confirmation(membership_id: int) -> None:
    """Enqueued on commit by services.list_subscribe; safe to run twice (the send is claimed)."""
    consent.send_confirmation(membership_id=membership_id)


@shared_task
def send_double_opt_in_reminders() -> None:
    """Beat, every 15 minutes. A full batch means more may be due: run again at once rather than
    wait for the next beat. On an SMTP failure the next beat run is the retry."""
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
