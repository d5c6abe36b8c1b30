"""Show the dashboard's recent bulk actions on contacts and how far they got."""

from django.core.management.base import BaseCommand

from contacts.models import ContactBulkAction


class Command(BaseCommand):
    help = "List recent bulk actions on contacts (all companies) with their status and progress."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="How many of the most recent to show")

    def handle(self, *args, limit: int, **options):
        actions = ContactBulkAction.objects.select_related("company").order_by("-created_at", "-id")[: max(limit, 1)]
        for action in actions:
            self.stdout.write(
                f"#{action.pk} {action.created_at:%Y-%m-%d %H:%M} {action.company.name}: {action.action} "
                f"{action.status} {action.processed}/{action.total} ({action.percent}%), "
                f"{action.changed} changed, {action.warning_count} warnings"
                + (f" - {action.failure}" if action.failure else "")
            )
        if not actions:
            self.stdout.write("No bulk actions yet.")
