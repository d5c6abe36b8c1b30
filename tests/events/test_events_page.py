"""The dashboard's Events page, the contact page's activity timeline and the Event admin (issue 11)."""

import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from events import selectors
from events.models import Event, EventSource
from events.services import record_events
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

URL = "/events/"


def at(day: str, hour: int = 12) -> datetime:
    return timezone.make_aware(datetime.fromisoformat(day).replace(hour=hour))


def make_event(company, contact=None, event_type="order_placed", when=None, **fields) -> Event:
    return Event.objects.create(
        company=company,
        contact=contact,
        event_type=event_type,
        occurred_at=when or timezone.now(),
        data=fields.pop("data", {"order_id": "ORD-1"}),
        **fields,
    )


def row_ids(content: str) -> list[int]:
    return [int(n) for n in re.findall(r'<li id="event-(\d+)"', content)]


@pytest.fixture
def jane(company):
    return ContactFactory(company=company, email="jane@example.com")


# --- The page -----------------------------------------------------------------------------------


def test_the_page_lists_the_companys_events_newest_first_with_their_details(viewer_client, company, jane):
    older = make_event(company, jane, "cart_abandoned", at("2026-11-01"), value=Decimal("12.50"))
    newer = make_event(company, jane, "order_placed", at("2026-11-02"), value=Decimal("149.99"), source="webhook")

    response = viewer_client.get(URL)

    assert response.status_code == 200
    content = html(response)
    assert row_ids(content) == [newer.pk, older.pk]
    assert "149.99" in content and "12.50" in content
    assert "jane@example.com" in content
    assert f'href="/contacts/{jane.pk}/"' in content
    assert "Webhook" in content
    # Linked in the navigation, as the current section.
    assert re.search(r'<a href="/events/"\s+aria-current="page">Events</a>', content)


def test_another_companys_events_are_not_shown(viewer_client, company, other_company, jane):
    mine = make_event(company, jane)
    rival_contact = ContactFactory(company=other_company, email="rival@example.com")
    theirs = make_event(other_company, rival_contact)

    content = html(viewer_client.get(URL))

    assert row_ids(content) == [mine.pk]
    assert "rival@example.com" not in content
    # Naming the other company's contact, or starting after its event, shows nothing of it either.
    by_contact = html(viewer_client.get(URL, {"contact": rival_contact.pk}))
    assert row_ids(by_contact) == []
    assert "rival@example.com" not in by_contact
    assert row_ids(html(viewer_client.get(URL, {"older_than": theirs.pk}))) == [mine.pk]


def test_the_page_needs_a_login_and_a_company(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]

    loner = get_user_model().objects.create_user("loner", password="x")
    client.force_login(loner)
    assert client.get(URL).status_code == 403


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER, Role.OWNER])
def test_every_role_can_read_the_events(client, company, jane, role):
    event = make_event(company, jane)
    log_in(client, company, role)

    assert row_ids(html(client.get(URL))) == [event.pk]


def test_filter_by_type(viewer_client, company, jane):
    order = make_event(company, jane, "order_placed")
    make_event(company, jane, "cart_abandoned")

    assert row_ids(html(viewer_client.get(URL, {"event_type": "order_placed"}))) == [order.pk]


def test_filter_by_contact_email_in_any_case(viewer_client, company, jane):
    mine = make_event(company, jane)
    make_event(company, ContactFactory(company=company, email="bob@example.com"))
    make_event(company, None, "anonymous_visit")

    assert row_ids(html(viewer_client.get(URL, {"email": " Jane@Example.com "}))) == [mine.pk]


def test_filter_by_contact_names_the_contact(viewer_client, company, jane):
    mine = make_event(company, jane)
    make_event(company, ContactFactory(company=company, email="bob@example.com"))

    content = html(viewer_client.get(URL, {"contact": jane.pk}))

    assert row_ids(content) == [mine.pk]
    assert 'id="event-contact-filter"' in content


def test_filter_by_days_inclusive(viewer_client, company, jane):
    make_event(company, jane, when=at("2026-10-31", 23))
    first = make_event(company, jane, when=at("2026-11-01", 0))
    last = make_event(company, jane, when=at("2026-11-02", 23))
    make_event(company, jane, when=at("2026-11-03", 0))

    content = html(viewer_client.get(URL, {"since": "2026-11-01", "until": "2026-11-02"}))

    assert row_ids(content) == [last.pk, first.pk]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"email": "not an email"}, "email"),
        ({"since": "2026-11-05", "until": "2026-11-01"}, "until"),
        ({"older_than": "1e400"}, "older_than"),
        ({"event_type": "x" * 101}, "event_type"),
    ],
)
def test_an_invalid_filter_is_named_and_left_out(viewer_client, company, jane, query, field):
    event = make_event(company, jane)

    response = viewer_client.get(URL, query)

    assert response.status_code == 200
    content = html(response)
    assert 'id="filter-errors"' in content and f"{field}:" in content
    assert row_ids(content) == [event.pk]


def test_no_events_and_no_match_say_so(viewer_client, company, jane):
    assert "No events yet." in html(viewer_client.get(URL))
    make_event(company, jane)
    assert "No event matches these filters." in html(viewer_client.get(URL, {"event_type": "nothing_like_it"}))


# --- New events appear, pages -------------------------------------------------------------------


def test_the_newest_page_polls_its_own_table_and_new_events_appear_in_it(viewer_client, company, jane):
    first = make_event(company, jane, when=timezone.now() - timedelta(minutes=5))
    page = html(viewer_client.get(URL, {"event_type": "order_placed"}))
    table = re.search(r'<div id="event-table"[^>]*>', page).group(0)
    assert 'hx-trigger="every 10s"' in table
    assert 'hx-get="?event_type=order_placed"' in table

    # An event arrives through the service, as the API and webhooks store them; the poll shows it.
    [result] = record_events(
        company=company,
        items=[{"event_type": "order_placed", "event_data": {"order_id": "ORD-7", "email": jane.email, "total": 5}}],
        source=EventSource.WEBHOOK,
    )
    response = viewer_client.get(URL, {"event_type": "order_placed"}, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    partial = html(response)
    assert partial.lstrip().startswith('<div id="event-table"')
    assert row_ids(partial) == [result.event_id, first.pk]


def test_older_pages_follow_a_cursor_without_gaps_or_repeats_and_do_not_poll(viewer_client, company, jane):
    same_time = timezone.now() - timedelta(hours=1)
    # Ties on occurred_at across the page boundary: the id orders them.
    events = [make_event(company, jane, when=same_time) for _ in range(selectors.EVENTS_PER_PAGE + 5)]
    expected = sorted((e.pk for e in events), reverse=True)

    first = html(viewer_client.get(URL))
    cursor = re.search(r'href="\?older_than=(\d+)"[^>]*rel="next"', first).group(1)
    second = html(viewer_client.get(URL, {"older_than": cursor}))

    assert row_ids(first) + row_ids(second) == expected
    assert 'rel="next"' not in second
    assert 'hx-trigger="every' not in second
    assert 'rel="first"' in second


def test_the_page_costs_the_same_queries_for_many_events(viewer_client, company, django_assert_max_num_queries):
    contacts = [ContactFactory(company=company, email=f"c{n}@example.com") for n in range(10)]
    for n in range(60):
        make_event(company, contacts[n % 10], value=Decimal(n))

    # Session, user, memberships, the page's events (with their contacts in the same query) and a little slack.
    with django_assert_max_num_queries(8):
        response = viewer_client.get(URL)
    assert len(row_ids(html(response))) == selectors.EVENTS_PER_PAGE


# --- The contact page's activity timeline -------------------------------------------------------


def test_the_contact_page_shows_its_activity_timeline(viewer_client, company, jane):
    order = make_event(company, jane, "order_placed", at("2026-11-02"), value=Decimal("149.99"), source="webhook")
    viewed = make_event(company, jane, "product_viewed", at("2026-11-01"), data={"product_name": "Headphones"})
    bob = ContactFactory(company=company, email="bob@example.com")
    bobs = make_event(company, bob, "cart_abandoned")

    content = html(viewer_client.get(f"/contacts/{jane.pk}/"))

    section = content[content.index('id="activity"') :]
    section = section[: section.index("</section>")]
    assert re.findall(r'id="timeline-event-(\d+)"', section) == [str(order.pk), str(viewed.pk)]
    assert f"timeline-event-{bobs.pk}" not in section
    assert "149.99" in section and "Headphones" in section and "Webhook" in section
    assert f'href="/events/?contact={jane.pk}"' in section


def test_a_contact_without_events_says_so(viewer_client, company, jane):
    content = html(viewer_client.get(f"/contacts/{jane.pk}/"))

    assert "No activity yet." in content


def test_the_timeline_is_the_latest_events_of_the_contact_only(company, other_company, jane):
    for n in range(selectors.TIMELINE_LENGTH + 3):
        make_event(company, jane, when=timezone.now() - timedelta(minutes=n))
    make_event(company, ContactFactory(company=company, email="bob@example.com"))

    timeline = selectors.contact_timeline(contact=jane)

    assert len(timeline) == selectors.TIMELINE_LENGTH
    assert {event.contact_id for event in timeline} == {jane.pk}
    assert [event.occurred_at for event in timeline] == sorted((e.occurred_at for e in timeline), reverse=True)


# --- Admin --------------------------------------------------------------------------------------


def test_the_event_admin_lists_filters_and_searches_but_changes_nothing(company, jane):
    event = make_event(company, jane, "order_placed", source="webhook", idempotency_key="order_placed:ORD-1")
    make_event(company, ContactFactory(company=company, email="bob@example.com"), "cart_abandoned")
    staff = get_user_model().objects.create_superuser("admin", "admin@example.com", "x")
    client = Client()
    client.force_login(staff)

    listing = client.get("/admin/events/event/", {"source__exact": "webhook"})
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [event]
    found = client.get("/admin/events/event/", {"q": "jane@example"})
    assert list(found.context["cl"].result_list) == [event]
    assert list(client.get("/admin/events/event/", {"q": "order_placed:ORD-1"}).context["cl"].result_list) == [event]

    detail = client.get(f"/admin/events/event/{event.pk}/change/")
    assert detail.status_code == 200
    assert 'name="event_type"' not in html(detail)  # shown, not editable
    assert client.post(f"/admin/events/event/{event.pk}/change/", {"event_type": "x"}).status_code == 403
    assert client.get("/admin/events/event/add/").status_code == 403
    assert client.post(f"/admin/events/event/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Event.objects.get(pk=event.pk).event_type == "order_placed"
