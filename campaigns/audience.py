"""Who a campaign goes to: the contacts of its lists and segments that may be mailed, minus the
members of its excluded lists and segments, as one query; and the snapshot of that query into one
CampaignRecipient row per contact when sending starts (one INSERT ... SELECT, no Python loop)."""

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Exists, F, OuterRef, Q

from contacts.models import Contact, ContactList, ContactQuerySet, ListMembership, MembershipStatus, Segment
from contacts.segments import segment_contacts
from salloq.core.models import Company

from .models import Campaign, CampaignRecipient, RecipientStatus


def _in_lists(list_ids: list[int], statuses: tuple[str, ...] | None) -> Q:
    memberships = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id__in=list_ids)
    if statuses:
        memberships = memberships.filter(status__in=statuses)
    return Q(Exists(memberships))


def _in_segments(company: Company, segment_ids: list[int], field: str) -> Q:
    """Members of any of the segments, each segment's definition as its own subquery (a definition
    that no longer compiles, say a deleted custom field, is an error naming the campaign's field)."""
    condition = Q()
    segments = Segment.objects.for_company(company).filter(pk__in=segment_ids)
    for segment in segments:
        try:
            members = segment_contacts(company, segment.definition)
        except ValidationError:
            raise ValidationError(
                {field: [f"The segment “{segment.name}” has rules that are no longer valid; fix it first."]}
            ) from None
        condition |= Q(pk__in=members.order_by().values("pk"))
    return condition


def audience_contacts(
    company: Company,
    *,
    list_ids: Iterable[int] = (),
    segment_ids: Iterable[int] = (),
    excluded_list_ids: Iterable[int] = (),
    excluded_segment_ids: Iterable[int] = (),
) -> ContactQuerySet:
    """The contacts the campaign may go to, each once: subscribed members of the lists (never those
    pending double opt-in, never those who left the list) and the segments' matches, who may be
    mailed (Contact.objects.mailable: not unsubscribed, bounced, blacklisted or erased, with an
    address), minus anyone on an excluded list (whatever their status there: leaving someone out
    is the safe reading) or in an excluded segment. Ids of another company's lists or segments
    match nobody."""
    list_ids, segment_ids = list(list_ids), list(segment_ids)
    excluded_list_ids, excluded_segment_ids = list(excluded_list_ids), list(excluded_segment_ids)
    contacts = Contact.objects.for_company(company).mailable()
    included = Q()
    if list_ids:
        # Only lists of this company: a membership row names the list, not the company.
        own_lists = company_list_ids(company, list_ids)
        if own_lists:
            included |= _in_lists(own_lists, (MembershipStatus.SUBSCRIBED,))
    if segment_ids:
        included |= _in_segments(company, segment_ids, "segments")
    if not included:
        return contacts.none()
    contacts = contacts.filter(included)
    if excluded_list_ids:
        own_excluded = company_list_ids(company, excluded_list_ids)
        if own_excluded:
            contacts = contacts.exclude(_in_lists(own_excluded, None))
    if excluded_segment_ids:
        excluded = _in_segments(company, excluded_segment_ids, "excluded_segments")
        if excluded:
            contacts = contacts.exclude(excluded)
    return contacts


def company_list_ids(company: Company, list_ids: list[int]) -> list[int]:
    return list(ContactList.objects.for_company(company).filter(pk__in=list_ids).values_list("pk", flat=True))


def audience_count(company: Company, **audience) -> int:
    """How many contacts the campaign would go to now (the editor's live count, the API's answers)."""
    return audience_contacts(company, **audience).count()


def campaign_audience(campaign: Campaign) -> ContactQuerySet:
    return audience_contacts(
        campaign.company,
        list_ids=campaign.lists.values_list("pk", flat=True),
        segment_ids=campaign.segments.values_list("pk", flat=True),
        excluded_list_ids=campaign.excluded_lists.values_list("pk", flat=True),
        excluded_segment_ids=campaign.excluded_segments.values_list("pk", flat=True),
    )


def snapshot_recipients(campaign: Campaign) -> int:
    """Write one pending CampaignRecipient per audience contact, in contact id order, with one
    INSERT ... SELECT of the audience query; returns how many. Run once, when sending starts, in
    the transaction that moves the campaign to `sending`."""
    # Named columns, for the outer SELECT to read on every database.
    contacts = (
        campaign_audience(campaign)
        .annotate(audience_contact=F("pk"), audience_email=F("email"))
        .order_by("pk")
        .values_list("audience_contact", "audience_email")
    )
    select_sql, select_params = contacts.query.sql_with_params()
    table = CampaignRecipient._meta.db_table
    # Every NOT NULL column without a database default is given; the rest stay NULL.
    sql = (
        f"INSERT INTO {table} (campaign_id, contact_id, email, status, attempts, message_id, error, "  # noqa: S608
        "open_count, click_count) "
        "SELECT %s, audience.audience_contact, audience.audience_email, %s, 0, '', '', 0, 0 "
        f"FROM ({select_sql}) audience"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (campaign.pk, RecipientStatus.PENDING, *select_params))
        return cursor.rowcount
