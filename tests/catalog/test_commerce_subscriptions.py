"""subscription_upsert_batch: create, patch, cancel, bad items, contacts resolved or created, the
active_subscriptions fact, and one company never touching another's subscriptions."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from catalog.models import CommerceFacts, Subscription, SubscriptionStatus
from catalog.services.subscriptions import subscription_upsert_batch
from contacts.models import Contact
from tests.factories import ContactFactory, ProductCatalogFactory, ProductFactory

pytestmark = pytest.mark.django_db


def active(contact) -> int:
    facts = CommerceFacts.objects.filter(contact=contact).first()
    return facts.active_subscriptions if facts else 0


def test_create_update_cancel_keeps_active_subscriptions_current(company):
    catalog = ProductCatalogFactory(company=company, is_default=True)
    product = ProductFactory(catalog=catalog, product_id="163")
    [created] = subscription_upsert_batch(
        company=company,
        items=[
            {"external_id": 42, "email": "Jane@Example.com", "first_name": "Jane", "product_id": 163,
             "plan": "Every 30 days", "quantity": 1, "price": "130.50", "status": "active",
             "next_billing_date": "2026-01-08", "started_at": "2025-12-08T10:00:00Z"}
        ],
    )  # fmt: skip
    assert created.status == "created", created.errors
    jane = Contact.objects.get(company=company, email="jane@example.com")
    subscription = Subscription.objects.get(pk=created.subscription_id)
    assert subscription.external_id == "42" and subscription.contact == jane and subscription.product == product
    assert subscription.price == Decimal("130.50") and subscription.next_billing_date == date(2026, 1, 8)
    assert subscription.started_at == datetime(2025, 12, 8, 10, tzinfo=UTC)
    assert active(jane) == 1

    [same] = subscription_upsert_batch(company=company, items=[{"external_id": "42", "plan": "Every 30 days"}])
    assert same.status == "unchanged"
    [patched] = subscription_upsert_batch(company=company, items=[{"external_id": "42", "quantity": 2}])
    assert patched.status == "updated"
    subscription.refresh_from_db()
    assert subscription.quantity == 2 and subscription.plan == "Every 30 days"  # only what was given

    [cancelled] = subscription_upsert_batch(company=company, items=[{"external_id": "42", "status": "cancelled"}])
    assert cancelled.status == "updated"
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED and subscription.cancelled_at is not None
    assert active(jane) == 0


def test_a_bad_item_never_sinks_the_others(company):
    results = subscription_upsert_batch(
        company=company,
        items=[
            {"external_id": "S-1", "email": "a@example.com", "status": "active"},
            {"external_id": "S-2", "email": "b@example.com", "price": "abc"},
            {"external_id": "S-3", "plan": "no contact"},
            {"email": "c@example.com"},
            {"external_id": "S-4", "email": "not an address"},
            {"external_id": "S-5", "email": "d@example.com", "status": "sleeping", "frequency": 2},
            "nonsense",
            {"external_id": "S-6", "email": "e@example.com", "next_billing_date": "2026-13-01", "quantity": 0},
        ],
    )
    assert [r.status for r in results] == ["created"] + ["invalid"] * 7
    assert set(results[1].errors) == {"price"}
    assert "contact" in results[2].errors
    assert set(results[3].errors) == {"external_id"}
    assert set(results[4].errors) == {"email"}
    assert set(results[5].errors) == {"status", "frequency"}
    assert set(results[7].errors) == {"next_billing_date", "quantity"}
    assert list(Subscription.objects.values_list("external_id", flat=True)) == ["S-1"]


def test_moving_a_subscription_refreshes_both_contacts(company):
    first, second = ContactFactory(company=company), ContactFactory(company=company)
    subscription_upsert_batch(company=company, items=[{"external_id": "M", "contact_id": first.pk}])
    assert (active(first), active(second)) == (1, 0)
    subscription_upsert_batch(company=company, items=[{"external_id": "M", "contact_id": second.pk}])
    assert (active(first), active(second)) == (0, 1)


def test_another_companys_subscription_and_contact_are_out_of_reach(company, other_company):
    theirs = ContactFactory(company=other_company)
    subscription_upsert_batch(company=other_company, items=[{"external_id": "X", "contact_id": theirs.pk}])
    [result] = subscription_upsert_batch(company=company, items=[{"external_id": "X", "contact_id": theirs.pk}])
    assert result.status == "invalid" and "contact_id" in result.errors
    [ours] = subscription_upsert_batch(company=company, items=[{"external_id": "X", "email": "ours@example.com"}])
    assert ours.status == "created"  # the same shop id in another company is another subscription
    assert Subscription.objects.get(company=other_company).contact == theirs
    assert active(theirs) == 1
