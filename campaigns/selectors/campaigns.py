"""Reads of campaigns for the API and the dashboard's list."""

from django.db.models import Count, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from contacts.models import ContactList, Segment

from ..models import Campaign, CampaignRecipient, EmailTemplate, RecipientStatus

AUDIENCE_RELATIONS = ("lists", "segments", "excluded_lists", "excluded_segments")


def _recipient_count(condition: Q) -> Coalesce:
    """How many of the campaign's recipient rows match: one small subquery per figure, which
    PostgreSQL evaluates only for the rows of the page it returns."""
    rows = (
        CampaignRecipient.objects.filter(condition, campaign=OuterRef("pk"))
        .order_by()
        .values("campaign")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(rows, output_field=IntegerField()), 0)


def with_audience(campaigns: QuerySet) -> QuerySet:
    """The audience's ids in four queries for any number of campaigns."""
    return campaigns.prefetch_related(
        *(
            Prefetch(name, queryset=(ContactList if "lists" in name else Segment).objects.only("pk"))
            for name in AUDIENCE_RELATIONS
        )
    )


def with_key_numbers(campaigns: QuerySet) -> QuerySet:
    """sent, failed (failed or bounced), opened and clicked (unique recipients), beside the stored
    recipient_count."""
    return campaigns.annotate(
        sent_count=_recipient_count(Q(status=RecipientStatus.SENT)),
        failed_count=_recipient_count(Q(status__in=[RecipientStatus.FAILED, RecipientStatus.BOUNCED])),
        opened_count=_recipient_count(Q(first_opened_at__isnull=False)),
        clicked_count=_recipient_count(Q(first_clicked_at__isnull=False)),
    )


def campaign_list(company, *, type: str | None = None, status: str | None = None) -> QuerySet:  # noqa: A002 - the API's name
    """The company's campaigns, newest first, with their audience and key numbers."""
    campaigns = Campaign.objects.for_company(company)
    if type:
        campaigns = campaigns.filter(type=type)
    if status:
        campaigns = campaigns.filter(status=status)
    return with_audience(with_key_numbers(campaigns))


def campaign_detail(company, campaign_id: int) -> Campaign:
    """One campaign of the company as campaign_list shows it; Campaign.DoesNotExist otherwise."""
    return campaign_list(company).get(pk=campaign_id)


def template_list(company) -> QuerySet:
    return EmailTemplate.objects.for_company(company)
