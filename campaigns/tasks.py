"""Celery tasks of campaigns: thin wrappers around campaigns.delivery."""

from celery import shared_task

from . import delivery


@shared_task
def start_due_campaigns() -> None:
    """Beat, every 15 seconds: start the scheduled campaigns that are due, and send again the
    campaigns whose workers died mid-send (claims older than the lease)."""
    delivery.start_due_campaigns()


@shared_task
def send_campaign_batches(campaign_id: int) -> None:
    """Enqueued several times per campaign (one per worker slot) when it starts or resumes; each
    run claims and sends batches until none are left. Safe to run any number of times at once."""
    delivery.send_campaign_batches(campaign_id=campaign_id)
