"""Reads of events for the dashboard: the Events page and a contact's activity timeline.

Both are newest first, (occurred_at, id) descending, the order the indexes event_company_time and
event_contact_timeline hold. Pages go by a cursor (the last event shown) rather than by number, so
the hundredth page costs what the first does and nothing counts a table of millions of rows.
"""

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from contacts.models import Contact
from salloq.core.models import Company

from .models import Event

EVENTS_PER_PAGE = 50
TIMELINE_LENGTH = 50


@dataclass(frozen=True)
class EventFilters:
    """The Events page's filters, each optional: an exact event type, a contact (its id, or its email
    already normalized), and days (inclusive, in the site's time zone)."""

    event_type: str = ""
    contact_id: int | None = None
    email: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def any(self) -> bool:
        return bool(self.event_type or self.contact_id or self.email or self.since or self.until)


@dataclass
class EventPage:
    events: list[Event]
    # The cursor of the next (older) page: the id of this page's last event, None on the last page.
    older_than: int | None


def with_data_preview(events: list[Event]) -> list[Event]:
    """Each event's data as the JSON it was sent as (event.data_preview), for the pages to show."""
    for event in events:
        event.data_preview = json.dumps(event.data, ensure_ascii=False, default=str)
    return events


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def company_events(*, company: Company, filters: EventFilters) -> QuerySet[Event]:
    """The company's events matching `filters`, newest first, with their contact."""
    events = Event.objects.for_company(company).select_related("contact")
    if filters.event_type:
        events = events.filter(event_type=filters.event_type)
    if filters.contact_id:
        events = events.filter(contact_id=filters.contact_id)
    if filters.email:
        contact_ids = Contact.objects.for_company(company).filter(email=filters.email).values("pk")
        events = events.filter(contact__in=contact_ids)
    if filters.since:
        events = events.filter(occurred_at__gte=_start_of(filters.since))
    if filters.until:
        events = events.filter(occurred_at__lt=_start_of(filters.until + timedelta(days=1)))
    return events.order_by("-occurred_at", "-id")


def events_page(*, company: Company, filters: EventFilters, older_than: int | None = None) -> EventPage:
    """One page of the Events page: EVENTS_PER_PAGE events older than the event `older_than`
    (another company's id, or an id that does not exist, starts from the newest)."""
    events = company_events(company=company, filters=filters)
    if older_than is not None:
        cursor = Event.objects.for_company(company).filter(pk=older_than).values_list("occurred_at", flat=True).first()
        if cursor is not None:
            events = events.filter(Q(occurred_at__lt=cursor) | Q(occurred_at=cursor, pk__lt=older_than))
    rows = list(events[: EVENTS_PER_PAGE + 1])
    shown = with_data_preview(rows[:EVENTS_PER_PAGE])
    return EventPage(
        events=shown,
        older_than=shown[-1].pk if len(rows) > EVENTS_PER_PAGE else None,
    )


def filtered_contact(*, company: Company, filters: EventFilters) -> Contact | None:
    """The contact the Events page is filtered by (by id), if it is one of the company's."""
    if not filters.contact_id:
        return None
    return Contact.objects.for_company(company).filter(pk=filters.contact_id).first()


def contact_timeline(*, contact: Contact, limit: int = TIMELINE_LENGTH) -> list[Event]:
    """A contact's latest events, newest first: the activity timeline of the contact page."""
    events = Event.objects.for_company(contact.company_id).filter(contact=contact).order_by("-occurred_at", "-id")
    return with_data_preview(list(events[:limit]))


def api_events(
    *,
    queryset: QuerySet[Event],
    event_type: str = "",
    contact_id: int | None = None,
    email: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Event]:
    """GET /api/events and /api/contacts/{id}/events: `queryset` (already scoped to the caller's
    company) filtered, newest first (indexes event_company_time, event_contact_timeline)."""
    if event_type:
        queryset = queryset.filter(event_type=event_type)
    if contact_id is not None:
        queryset = queryset.filter(contact_id=contact_id)
    if email:
        # The event's contact is of the event's company: the join needs no company condition of its own.
        queryset = queryset.filter(contact__email=email.strip().lower())
    if since is not None:
        queryset = queryset.filter(occurred_at__gte=since)
    if until is not None:
        queryset = queryset.filter(occurred_at__lt=until)
    return queryset.order_by("-occurred_at", "-id")
