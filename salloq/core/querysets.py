from django.db import models
from django.utils import timezone


class CompanyScopedQuerySet(models.QuerySet):
    """The one place tenant scoping happens: every lookup of a domain row goes through here."""

    def for_company(self, company) -> "CompanyScopedQuerySet":
        if company is None:
            # Scoping to "no company" must match nothing, never everything.
            return self.none()
        company_id = company if isinstance(company, int) else company.pk
        return self.filter(company_id=company_id)


class ApiKeyQuerySet(CompanyScopedQuerySet):
    def active(self, now=None) -> "ApiKeyQuerySet":
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )
