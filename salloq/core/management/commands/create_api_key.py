import json
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from salloq.core import services


class Command(BaseCommand):
    help = (
        "Create an API key for a company (created if it does not exist). "
        'The last line printed is JSON: {"company_id": ..., "api_key": "..."}.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="Company name, e.g. 'Acme Shop'")
        parser.add_argument("--scopes", default="*", help="Comma-separated scopes (default '*': full access)")
        parser.add_argument(
            "--limit", type=int, default=None, help="Requests per hour (default: the API_DEFAULT_HOURLY_LIMIT setting)"
        )
        parser.add_argument("--name", default="Created from the command line", help="What the key is for")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Expire the key after N days")

    def handle(self, *args, company, scopes, limit, name, expires_in_days, **options):
        expires_at = None
        if expires_in_days is not None:
            if expires_in_days < 1:
                raise CommandError("--expires-in-days must be at least 1")
            expires_at = timezone.now() + timedelta(days=expires_in_days)
        try:
            company_obj, created = services.company_get_or_create(name=company)
            api_key, plain_key = services.api_key_create(
                company=company_obj,
                name=name,
                scopes=scopes.split(","),
                hourly_limit=limit,
                expires_at=expires_at,
            )
        except ValidationError as exc:
            problems = "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())
            raise CommandError(problems) from None
        if created:
            self.stderr.write(f"Created company {company_obj.name!r} (id {company_obj.pk}).")
        self.stderr.write(f"Key {api_key.prefix}… scopes {','.join(api_key.scopes)}, {api_key.hourly_limit}/hour.")
        self.stdout.write(json.dumps({"company_id": company_obj.pk, "api_key": plain_key}))
