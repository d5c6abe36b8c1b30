"""events.services.record_events: validation, contacts, idempotency, storage (SQLite and PostgreSQL)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

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


# The usual event, about a known contact: one statement on PostgreSQL (events.services._known_contact_insert).


def known_contact(company, **fields):
    defaults = {"email": "jane@example.com", "external_id": "CUST-1", "first_name": "Jane", "last_name": "Smith"}
    return Contact.objects.create(company=company, **{**defaults, **fields})


def test_an_order_about_a_known_contact_is_one_statement_on_postgresql(company):
    contact = known_contact(company)
    body = {**order(customer_id="CUST-1", first_name="Jane"), "occurred_at": "2024-01-15T10:30:00+02:00"}
    with CaptureQueriesContext(connection) as queries:
        [result] = record_events(company=company, items=[body])
    assert (result.status, result.contact_id, result.duplicate) == (201, contact.pk, False)
    if connection.vendor == "postgresql":
        assert len(queries) == 1, queries.captured_queries
    event = Event.objects.get(pk=result.event_id)
    assert (event.company_id, event.contact_id, event.event_type, event.source) == (
        company.pk,
        contact.pk,
        "order_placed",
        EventSource.API,
    )
    assert event.value == Decimal("149.99") and event.data["total"] == 149.99
    assert event.occurred_at.isoformat() == "2024-01-15T08:30:00+00:00"
    assert event.idempotency_key == "order_placed:order_id:ORD-1" and event.dispatched_at is None


def test_a_known_contact_is_found_by_customer_id_when_the_event_has_no_email(company):
    contact = known_contact(company)
    [result] = record_events(
        company=company, items=[{"event_type": "loyalty_tier_changed", "event_data": {"customer_id": "CUST-1"}}]
    )
    assert result.created and result.contact_id == contact.pk
    assert Event.objects.get(pk=result.event_id).value is None


def test_the_email_wins_when_email_and_customer_id_name_different_contacts(company):
    by_email = known_contact(company, external_id="CUST-9")
    known_contact(company, email="other@example.com", external_id="CUST-1")
    [result] = record_events(company=company, items=[order(customer_id="CUST-1")])
    assert result.contact_id == by_email.pk


def test_an_external_event_about_a_known_contact_is_stored_as_external(company):
    contact = known_contact(company)
    item = {"contact": {"email": "jane@example.com"}, "event": {"type": "PURCHASE", "value": 10, "currency": "EUR"}}
    [result] = record_events(company=company, items=[item])
    event = Event.objects.get(pk=result.event_id)
    assert (event.contact_id, event.source, event.value) == (contact.pk, EventSource.EXTERNAL, Decimal("10.00"))


def test_one_imported_event_about_a_known_contact_is_stored_as_dispatched(company):
    known_contact(company)
    [result] = record_events(company=company, items=[order()], source="import", dispatch_after_commit=False)
    event = Event.objects.get(pk=result.event_id)
    assert event.source == EventSource.IMPORT and event.dispatched_at is not None


def test_a_known_contact_missing_a_name_the_event_carries_gets_it(company):
    contact = known_contact(company, last_name="")
    [result] = record_events(company=company, items=[order(first_name="Janet", last_name="Smith")])
    contact.refresh_from_db()
    assert result.contact_id == contact.pk
    assert (contact.first_name, contact.last_name) == ("Jane", "Smith")  # only what was missing


def test_the_prepared_single_event_statement_finds_contacts_through_the_unique_indexes(company):
    """Prepared, the statement runs a generic plan (values unknown when it is planned): it must still
    look contacts up by index, whatever the company's size (not a scan of its contacts)."""
    from events.services import _known_contact_sql

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    # A company of some size, as the planner's statistics see it (a near-empty table makes any index
    # look as good as another).
    Contact.objects.bulk_create(
        Contact(company=company, email=f"c{n}@example.com", external_id=f"CUST-{n}") for n in range(500)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Contact._meta.db_table}")
    sql = _known_contact_sql()
    numbered = sql.split("%s")
    statement = "".join(part + (f"${n}" if n < len(numbered) else "") for n, part in enumerate(numbered, 1))
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("SET LOCAL enable_seqscan = off")  # a scan only where no index can serve
        cursor.execute(f"PREPARE known_contact_insert AS {statement}")
        try:
            args = [company.pk, "jane@example.com", company.pk, "CUST-1", company.pk, "order_placed", "{}", None]
            args += [None, None, "api", None, None, True, True]
            cursor.execute(f"EXPLAIN EXECUTE known_contact_insert({', '.join(['%s'] * len(args))})", args)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("DEALLOCATE known_contact_insert")
    assert "contact_unique_email_per_company" in plan and "contact_unique_external_id_per_company" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_the_single_event_insert_is_the_only_statement_prepared_on_its_connection(company):
    """DB_PREPARED_STATEMENTS prepares POST /api/events' insert (planned once per connection) and
    nothing else: a connection-wide threshold would prepare every statement run 5 times, whose text
    Django's query log then loses."""
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's prepared statements")
    known_contact(company)
    for number in range(6):
        [result] = record_events(company=company, items=[order(order_id=f"ORD-P{number}")])
        assert result.created
        assert Contact.objects.for_company(company).filter(email="jane@example.com").exists()  # run 6 times too
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert len(prepared) == 1 and "INSERT INTO" in prepared[0], prepared
