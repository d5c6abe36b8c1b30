"""Reads for contacts and audiences that need more than a queryset.

Callers hand in querysets already scoped to one company (CompanyScopedAPIView, for_company):
these functions shape what is read, never whose rows.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Prefetch, Q, QuerySet
from django.utils import timezone

from catalog.selectors.dashboard import ContactCommerce, contact_commerce
from events.models import Event
from events.selectors import contact_timeline

from .mailability import ANNOTATION, mailability_of, memberships_with_mailability
from .models import (
    ConsentRecord,
    Contact,
    ContactList,
    CustomField,
    CustomFieldValue,
    KeyInformation,
    ListMembership,
    MembershipStatus,
    Suppression,
)


def contacts_with_relations(queryset: QuerySet[Contact]) -> QuerySet[Contact]:
    """What the API shows with each contact (custom fields, lists, commerce facts), in three queries
    per page: the facts row is joined to the contacts' own."""
    return queryset.select_related("commerce").prefetch_related(
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


# --- The contact page ------------------------------------------------------------------------

# Memberships a contact has not left: subscribed, or pending confirmation.
CURRENT_MEMBERSHIP = (MembershipStatus.SUBSCRIBED, MembershipStatus.PENDING)


def display_value(value) -> str:
    """A stored value as a person reads it: 42 rather than 42.000000, Yes/No for booleans."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")  # "f": 1E+1 reads back as 10
    return str(value)


def property_items(properties, path: str = "") -> list[tuple[str, str]]:
    """Free JSON properties as readable key paths: {"a": {"b": 1}, "c": [{"d": 2}]} is
    [("a.b", "1"), ("c[0].d", "2")]; a list of plain values reads as one comma-separated value."""
    if isinstance(properties, dict) and properties:
        items = []
        for key, value in properties.items():
            items += property_items(value, f"{path}.{key}" if path else str(key))
        return items
    if isinstance(properties, list) and any(isinstance(item, dict | list) for item in properties):
        items = []
        for index, value in enumerate(properties):
            items += property_items(value, f"{path}[{index}]")
        return items
    if isinstance(properties, list):
        return [(path, ", ".join(display_value(item) for item in properties) if properties else "(empty list)")]
    if isinstance(properties, dict):
        return [(path, "(empty)")] if path else []
    return [(path, display_value(properties))]


@dataclass
class ContactDetail:
    """What the contact page shows; `contact.mailability` and each membership's are annotated
    (contacts.mailability)."""

    contact: Contact
    custom_values: list[tuple[str, str]]
    key_information: list[tuple[str, str]]
    properties: list[tuple[str, str]]
    memberships: list[ListMembership]
    joinable_lists: list[ContactList]
    consent_records: QuerySet[ConsentRecord]
    events: list[Event]  # the activity timeline (events.selectors.contact_timeline)
    commerce: ContactCommerce  # the Commerce card (catalog.selectors.dashboard.contact_commerce)
    suppression: Suppression | None


def contact_detail(*, contact: Contact) -> ContactDetail:
    company_id = contact.company_id
    setattr(contact, ANNOTATION, mailability_of(contact))
    values = {value.field_id: value.value for value in contact.field_values.all()}
    memberships = list(
        memberships_with_mailability(ListMembership.objects.filter(contact=contact))
        .select_related("contact_list")
        .order_by("contact_list__name")
    )
    joined = {m.contact_list_id for m in memberships if m.status in CURRENT_MEMBERSHIP}
    return ContactDetail(
        contact=contact,
        custom_values=[(f.name, display_value(values.get(f.pk))) for f in CustomField.objects.for_company(company_id)],
        key_information=[(e.name, display_value(e.value)) for e in key_information_get(contact=contact)],
        properties=property_items(contact.properties),
        memberships=memberships,
        joinable_lists=[lst for lst in ContactList.objects.for_company(company_id) if lst.pk not in joined],
        consent_records=ConsentRecord.objects.for_company(company_id)
        .filter(contact=contact)
        .select_related("contact_list"),
        events=contact_timeline(contact=contact),
        commerce=contact_commerce(contact=contact),
        suppression=(
            Suppression.objects.for_company(company_id).filter(email=contact.email).first() if contact.email else None
        ),
    )
