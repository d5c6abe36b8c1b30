"""Sync a company's Salloq Ecommerce shop now, in this process, with a progress bar on stderr."""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from connector import services, sync
from connector.models import ShopSyncRun, SyncStatus
from salloq.core.models import Company

BAR_WIDTH = 30


class Command(BaseCommand):
    help = (
        "Sync the company's Salloq Ecommerce shop now: products, orders, customers, loyalty and subscriptions "
        "as its connection enables. Incremental (orders since the last sync) unless --full. A run the "
        "company already has on its way (queued or interrupted) is resumed instead."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="The company's name")
        parser.add_argument("--full", action="store_true", help="Every order, not only those since the last sync")

    def handle(self, *args, company: str, full: bool, **options):
        found = Company.objects.filter(name=company).first()
        if found is None:
            raise CommandError(f"No company is named {company!r}.")
        connection = services.connection_for(found)
        if connection is None:
            raise CommandError(f"{found.name} has no shop connection: set it up on the dashboard's Shop page.")
        run = services.sync_start(connection=connection, full=full, trigger="command", enqueue=False)
        if run.status == SyncStatus.RUNNING:
            raise CommandError(f"Sync {run.pk} of {found.name} is running already (in a worker).")
        kind = "full" if run.full else f"incremental (orders from {run.watermark})"
        self.stderr.write(f"Sync {run.pk} of {found.name}: {kind}, {connection.base_url}")
        started = time.monotonic()
        result = sync.sync_run(run_id=run.pk, on_progress=self._progress)
        if self._bar_shown:
            self.stderr.write("")
        if result is None:
            raise CommandError(f"Sync {run.pk} was taken by another worker.")
        self._summary(result, time.monotonic() - started)
        if result.status != SyncStatus.SUCCEEDED:
            raise CommandError(f"Sync {result.pk} {result.status}: {result.failure}")

    _bar_shown = False

    def _progress(self, run: ShopSyncRun) -> None:
        filled = round(BAR_WIDTH * run.percent / 100)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        line = f"\r{run.get_phase_display()[:24]:<24} [{bar}] {run.percent:3d}% {run.done}/{run.total}"
        line += f" · {run.requests_made} requests"
        self.stderr.write(line, ending="")
        self.stderr.flush() if hasattr(self.stderr, "flush") else sys.stderr.flush()
        self._bar_shown = True

    def _summary(self, run: ShopSyncRun, seconds: float) -> None:
        self.stdout.write(f"Sync {run.pk}: {run.status} in {seconds:.1f} s, {run.requests_made} requests to the shop")
        for resource, outcomes in sorted(run.counts.items()):
            parts = ", ".join(f"{count} {outcome}" for outcome, count in sorted(outcomes.items()))
            self.stdout.write(f"  {resource}: {parts}")
        if run.error_count:
            self.stdout.write(f"  {run.error_count} errors; the first ones:")
            for error in run.errors[:10]:
                self.stdout.write(f"    {error['resource']} {error['id']}: {error['message']}")
