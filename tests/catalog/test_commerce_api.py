"""The contact API's `commerce` object (GET /api/contacts/{id}, the list, writes' answers), the
OpenAPI schema that documents it, set_loyalty's checks, and the facts after an order moves, is
deleted, or its contact is erased or deleted."""

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from catalog.commerce import refresh_commerce_facts, set_loyalty
from catalog.models import CommerceFacts, Order, OrderStatus
from catalog.services.orders import order_upsert_batch
from contacts import services
from tests.factories import ContactFactory, OrderFactory

pytestmark = pytest.mark.django_db

ZERO = {
    "total_spent": "0.00",
    "order_count": 0,
    "first_order_at": None,
    "last_order_at": None,
    "average_order_value": None,
    "open_cart_value": "0.00",
    "open_cart_count": 0,
    "last_cart_at": None,
    "loyalty_balance": 0,
    "lifetime_points": 0,
    "loyalty_value": None,
    "active_subscriptions": 0,
}


def buy(company, contact, total: str, **extra) -> None:
    OrderFactory(company=company, contact=contact, total=Decimal(total), **extra)
    refresh_commerce_facts(company_id=company.pk, contact_ids=[contact.pk])


def test_a_contact_answer_carries_its_commerce(api, company):
    jane = ContactFactory(company=company)
    buy(company, jane, "100.00", placed_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    buy(company, jane, "50.01", placed_at=datetime(2025, 2, 1, tzinfo=UTC))
    buy(company, jane, "9.99", completed=False, status=OrderStatus.PENDING, placed_at=datetime(2025, 3, 1, tzinfo=UTC))
    set_loyalty(company=company, contact_id=jane.pk, balance=2500, lifetime_points=5000, value=Decimal("25.00"))
    commerce = api.get(f"/api/contacts/{jane.pk}").json()["commerce"]
    assert commerce == {
        "total_spent": "150.01",
        "order_count": 2,
        "first_order_at": "2025-01-02T03:04:05Z",
        "last_order_at": "2025-02-01T00:00:00Z",
        "average_order_value": "75.00",  # 75.005 rounded half to even
        "open_cart_value": "9.99",
        "open_cart_count": 1,
        "last_cart_at": "2025-03-01T00:00:00Z",
        "loyalty_balance": 2500,
        "lifetime_points": 5000,
        "loyalty_value": "25.00",
        "active_subscriptions": 0,
    }


def test_a_contact_who_bought_nothing_has_zeros(api, company):
    nobody = ContactFactory(company=company)
    assert api.get(f"/api/contacts/{nobody.pk}").json()["commerce"] == ZERO
    answer = api.patch(f"/api/contacts/{nobody.pk}", {"first_name": "Ann"}).json()
    assert answer["commerce"] == ZERO


def test_the_list_costs_the_same_queries_for_2_or_12_buyers(api, company):
    def buyers(n):
        for _ in range(n):
            buy(company, ContactFactory(company=company), "10.00")

    def listed() -> tuple[list[dict], int]:
        with CaptureQueriesContext(connection) as queries:
            body = api.get("/api/contacts?per_page=100").json()
        return body["contacts"], len(queries.captured_queries)

    buyers(2)
    listed()  # the API key's lookup is cached after the first request
    contacts, few = listed()
    assert [c["commerce"]["total_spent"] for c in contacts] == ["10.00"] * 2
    buyers(10)
    contacts, many = listed()
    assert [c["commerce"]["order_count"] for c in contacts] == [1] * 12
    assert many == few


def test_another_companys_orders_never_reach_a_contact_answer(api, other_api, company, other_company):
    ours = ContactFactory(company=company, email="same@example.com")
    theirs = ContactFactory(company=other_company, email="same@example.com")
    buy(other_company, theirs, "999.00")
    assert api.get(f"/api/contacts/{ours.pk}").json()["commerce"]["total_spent"] == "0.00"
    assert api.get(f"/api/contacts/{theirs.pk}").status_code == 404
    assert other_api.get(f"/api/contacts/{theirs.pk}").json()["commerce"]["total_spent"] == "999.00"


def test_the_schema_documents_the_commerce_object(db):
    schema = json.loads(Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    contact = schema["components"]["schemas"]["Contact"]["properties"]["commerce"]
    ref = contact.get("$ref") or contact["allOf"][0]["$ref"]
    commerce = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(commerce["properties"]) == set(ZERO)
    assert commerce["properties"]["total_spent"]["type"] == "string"


def test_set_loyalty_checks_its_input_and_the_company(company, other_company):
    theirs = ContactFactory(company=other_company)
    with pytest.raises(ValidationError) as refused:
        set_loyalty(company=company, contact_id=theirs.pk, balance=1, lifetime_points=1, value=None)
    assert "contact_id" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        set_loyalty(company=company, contact_id=theirs.pk, balance=1.5, lifetime_points=2**40, value=Decimal("NaN"))
    assert set(refused.value.message_dict) == {"balance", "lifetime_points", "value"}
    assert not CommerceFacts.objects.exists()


def test_facts_follow_orders_through_the_order_service(company):
    """Create, update, cancel, refund and move through stream B's order_upsert_batch."""
    ann, bob = ContactFactory(company=company), ContactFactory(company=company)

    def spent(contact):
        row = CommerceFacts.objects.filter(contact=contact).first()
        return (row.total_spent, row.order_count) if row else (Decimal(0), 0)

    def upsert(**item):
        [result] = order_upsert_batch(company=company, items=[item])
        assert not result.errors, result.errors

    upsert(external_id="A", contact_id=ann.pk, total="30.00")
    upsert(external_id="B", contact_id=ann.pk, total="20.00")
    assert spent(ann) == (Decimal("50.00"), 2)
    upsert(external_id="A", total="35.00")
    assert spent(ann) == (Decimal("55.00"), 2)
    upsert(external_id="A", status="cancelled")
    assert spent(ann) == (Decimal("20.00"), 1)
    upsert(external_id="A", status="completed")
    upsert(external_id="B", status="refunded")
    assert spent(ann) == (Decimal("35.00"), 1)
    upsert(external_id="A", contact_id=bob.pk)
    assert (spent(ann), spent(bob)) == ((Decimal(0), 0), (Decimal("35.00"), 1))


def test_facts_after_an_order_is_deleted_or_its_contact_erased_or_deleted(company):
    ann = ContactFactory(company=company, email="ann@example.com")
    buy(company, ann, "10.00")
    buy(company, ann, "5.00")
    # Deleting an order: its writer refreshes the contact it belonged to.
    order = Order.objects.filter(contact=ann).first()
    order.delete()
    refresh_commerce_facts(company_id=company.pk, contact_ids=[ann.pk])
    assert CommerceFacts.objects.get(contact=ann).order_count == 1
    # Erasing keeps the anonymized row with its orders and facts; the person coming back is new.
    services.contact_erase(contact=ann)
    assert CommerceFacts.objects.get(contact=ann).order_count == 1
    [result] = order_upsert_batch(company=company, items=[{"external_id": "N", "email": "ann@example.com", "total": 7}])
    assert result.contact_id != ann.pk
    assert CommerceFacts.objects.get(contact_id=result.contact_id).total_spent == Decimal("7.00")
    # Deleting the contact row deletes its facts; its orders stay, without a contact.
    ann.delete()
    assert not CommerceFacts.objects.filter(contact_id=ann.pk).exists()
    assert Order.objects.filter(contact__isnull=True).count() == 1
