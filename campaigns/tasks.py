"""Celery tasks of campaigns: thin wrappers around campaigns.delivery."""

from celery import shared_task

from . import delivery


@shared_task
def start_due_campaigns() -> None:
    """Beat, every 15 seconds: start the scheduled campaigns that are due, finish sends whose last
    row is done, and enqueue senders again for sends nobody works on (workers that died, a mail
    server outage whose wait is over, retries that came due)."""
    delivery.start_due_campaigns()


@shared_task
def send_campaign_batches(campaign_id: int) -> None:
    """Enqueued CAMPAIGN_SEND_TASKS times per campaign when it starts or resumes; each run claims
    and sends batches until none is left, any number of runs at once. A run that used up its time
    (delivery.TASK_RUN_SECONDS) with work left hands over to a fresh task."""
    if delivery.send_campaign_batches(campaign_id=campaign_id):
        send_campaign_batches.delay(campaign_id)
