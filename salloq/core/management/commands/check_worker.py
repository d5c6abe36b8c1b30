import time

from django.core.management.base import BaseCommand, CommandError

from salloq.core.models import TaskProbe
from salloq.core.tasks import complete_probe


class Command(BaseCommand):
    help = "Send a task through the broker and wait until a Celery worker has completed it."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait (default 60)")

    def handle(self, *args, timeout, **options):
        probe = TaskProbe.objects.create()
        started = time.monotonic()
        complete_probe.delay(probe.pk)
        self.stdout.write(f"Sent probe {probe.pk}; waiting up to {timeout:.0f}s for a worker…")
        while time.monotonic() - started < timeout:
            probe.refresh_from_db()
            if probe.completed_at is not None:
                elapsed = time.monotonic() - started
                self.stdout.write(
                    self.style.SUCCESS(f"Worker {probe.worker} completed probe {probe.pk} in {elapsed:.2f}s.")
                )
                return
            time.sleep(0.2)
        raise CommandError(f"No worker completed probe {probe.pk} within {timeout:.0f}s.")
