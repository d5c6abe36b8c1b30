"""Reads for contacts and audiences that need more than a queryset.

Callers hand in querysets already scoped to one company (CompanyScopedAPIView, for_company):
these functions shape what is read, never whose rows.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from events.models import Event

from .models import (
    ConsentRecord,
    Contact,
    ContactList,
    CustomFieldValue,
    KeyInformation,
    ListMembership,
    MembershipStatus,
    Suppression,
)


def contacts_with_relations(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    """What the API shows with each contact (custom fields, lists), in three queries per page."""
    return queryset.prefetch_related(
        Prefetch("field_values", queryset=CustomFieldValue.objects.select_related("field").order_by("field_id")),
        Prefetch(
            "list_memberships",
            queryset=ListMembership.objects.select_related("contact_list").order_by("contact_list_id"),
        ),
    )


def contact_lists_with_counts(queryset: QuerySet[ContactList]) -> QuerySet[ContactList]:
    """Lists with their member counts per status, computed in the same query as the lists."""
    return queryset.annotate(
        subscribed_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.SUBSCRIBED)),
        pending_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.PENDING)),
        unsubscribed_count=Count("memberships", filter=Q(memberships__status=MembershipStatus.UNSUBSCRIBED)),
    )


def list_members(*, contact_list: ContactList, status: str | None = None) -> QuerySet[ListMembership]:
    memberships = ListMembership.objects.filter(contact_list=contact_list).select_related("contact")
    if status:
        memberships = memberships.filter(status=status)
    return memberships.order_by("-created_at", "-id")


def membership_statuses(*, contact_list: ContactList, contact_ids: set[int]) -> dict[int, str]:
    memberships = ListMembership.objects.filter(contact_list=contact_list, contact_id__in=contact_ids)
    return dict(memberships.values_list("contact_id", "status"))


def key_information_get(*, contact: Contact, name: str | None = None) -> list[KeyInformation]:
    """Stored values only: an entry nulled by `setAsNull` no longer holds information."""
    entries = KeyInformation.objects.filter(contact=contact).filter(
        Q(numeric_value__isnull=False) | Q(text_value__isnull=False)
    )
    if name is not None:
        entries = entries.filter(name=name)
    return list(entries.order_by("name"))


@dataclass
class ContactExport:
    """Everything stored about one contact (GDPR access request), rendered by ContactExportSerializer."""

    contact: Contact
    key_information: list[KeyInformation]
    memberships: list[ListMembership]
    consent_records: list[ConsentRecord]
    events: list[Event]
    blacklist_entry: Suppression | None
    exported_at: datetime


def contact_export(*, contact: Contact) -> ContactExport:
    contact = contacts_with_relations(Contact.objects.filter(pk=contact.pk)).get()
    blacklist_entry = (
        Suppression.objects.for_company(contact.company_id).filter(email=contact.email).first()
        if contact.email
        else None
    )
    return ContactExport(
        contact=contact,
        key_information=list(KeyInformation.objects.filter(contact=contact).order_by("name")),
        memberships=list(contact.list_memberships.all()),
        consent_records=list(
            ConsentRecord.objects.filter(contact=contact).select_related("contact_list").order_by("created_at", "id")
        ),
        events=list(
            Event.objects.for_company(contact.company_id).filter(contact=contact).order_by("occurred_at", "id")
        ),
        blacklist_entry=blacklist_entry,
        exported_at=timezone.now(),
    )
