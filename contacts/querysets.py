from django.db.models import Exists, OuterRef

from salloq.core.querysets import CompanyScopedQuerySet


class ContactQuerySet(CompanyScopedQuerySet):
    def in_list(self, list_id: int, statuses: tuple[str, ...] | None = None) -> "ContactQuerySet":
        from .models import ListMembership

        memberships = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id=list_id)
        if statuses:
            memberships = memberships.filter(status__in=statuses)
        return self.filter(Exists(memberships))

    def mailable(self) -> "ContactQuerySet":
        """Who an email may go to: subscribed, with an address, not erased, not blacklisted.

        List audiences add `in_list(list_id, ("subscribed",))`, which leaves out pending
        (unconfirmed double opt-in) and unsubscribed members."""
        from .models import ContactStatus, Suppression

        suppressed = Suppression.objects.filter(company_id=OuterRef("company_id"), email=OuterRef("email"))
        return (
            self.filter(status=ContactStatus.SUBSCRIBED, erased_at__isnull=True)
            .exclude(email="")
            .filter(~Exists(suppressed))
        )
