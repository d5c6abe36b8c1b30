import socket

from celery import shared_task
from django.utils import timezone

from .models import Heartbeat, TaskProbe


@shared_task
def complete_probe(probe_id: int) -> None:
    """Answer `manage.py check_worker`: proves broker, worker and database work together."""
    TaskProbe.objects.filter(pk=probe_id, completed_at__isnull=True).update(
        completed_at=timezone.now(), worker=socket.gethostname()
    )


@shared_task
def record_heartbeat() -> None:
    """Scheduled by beat every minute; the dashboard reads it to say whether the worker is alive."""
    Heartbeat.objects.update_or_create(
        name="worker-heartbeat", defaults={"last_seen_at": timezone.now(), "worker": socket.gethostname()}
    )
