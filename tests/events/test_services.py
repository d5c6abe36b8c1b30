"""events.services.record_events: validation, contacts, idempotency, storage (SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest

from contacts.models import Contact, ContactStatus, Suppression
from events.models import Event, EventSource
from events.services import record_events
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def order(order_id="ORD-1", email="jane@example.com", total=149.99, **extra):
    return {"event_type": "order_placed", "event_data": {"order_id": order_id, "email": email, "total": total, **extra}}


def test_an_order_is_stored_with_its_exact_value_and_a_new_contact(company):
    [result] = record_events(company=company, items=[order(first_name="Jane", last_name="Smith")])
    assert result.status == 201 and result.created and not result.duplicate
    event = Event.objects.get(pk=result.event_id)
    assert event.value == Decimal("149.99") and event.source == EventSource.API
    assert event.data["order_id"] == "ORD-1" and event.dispatched_at is None
    contact = Contact.objects.get(pk=result.contact_id)
    assert (contact.company_id, contact.email, contact.first_name, contact.last_name) == (
        company.pk,
        "jane@example.com",
        "Jane",
        "Smith",
    )


def test_a_retry_of_the_same_order_returns_the_same_event(company):
    first = record_events(company=company, items=[order()])[0]
    again = record_events(company=company, items=[order()])[0]
    assert (again.status, again.event_id, again.contact_id, again.duplicate) == (
        201,
        first.event_id,
        first.contact_id,
        True,
    )
    assert Event.objects.count() == 1


def test_the_same_order_id_in_another_company_is_another_event(company):
    first = record_events(company=company, items=[order()])[0]
    other = record_events(company=CompanyFactory(), items=[order()])[0]
    assert other.created and other.event_id != first.event_id and other.contact_id != first.contact_id


def test_a_bad_item_never_sinks_the_others(company):
    results = record_events(
        company=company,
        items=[order("A"), order("B", total="lots"), {"event_type": "order_placed"}, order("C"), "nonsense"],
    )
    assert [r.status for r in results] == [201, 400, 400, 201, 400]
    assert "event_data.total" in results[1].errors
    assert "event_data" in results[2].errors
    assert Event.objects.count() == 2


def test_an_unsubscribed_contact_stays_unsubscribed_and_the_event_is_stored(company):
    contact = Contact.objects.create(company=company, email="gone@example.com", status=ContactStatus.UNSUBSCRIBED)
    [result] = record_events(company=company, items=[order(email="gone@example.com", first_name="Gone")])
    assert result.created and result.contact_id == contact.pk
    contact.refresh_from_db()
    assert (contact.status, contact.first_name) == (ContactStatus.UNSUBSCRIBED, "Gone")


def test_a_blacklisted_address_stays_blacklisted_when_an_event_creates_its_contact(company):
    Suppression.objects.create(company=company, email="banned@example.com")
    [result] = record_events(company=company, items=[order(email="banned@example.com")])
    assert result.created
    assert Suppression.objects.filter(company=company, email="banned@example.com").exists()
    assert not Contact.objects.for_company(company).mailable().filter(pk=result.contact_id).exists()


def test_recorded_events_count_in_segments(company):
    from contacts.segments import segment_contacts

    record_events(
        company=company, items=[order("A", total=120), order("B", total=100.5), order("C", "b@example.com", 10)]
    )
    record_events(company=company, items=[order("A", total=120)])  # a retry counts once
    definition = {
        "operator": "and",
        "rules": [
            {"field": "events.order_placed.count", "comparison": "greater_than", "value": 1, "within_last_days": 30},
            {"field": "events.order_placed.total", "comparison": "greater_than", "value": 220},
        ],
    }
    assert list(segment_contacts(company, definition).values_list("email", flat=True)) == ["jane@example.com"]
    definition["rules"][1]["value"] = 220.5
    assert not segment_contacts(company, definition).exists()
