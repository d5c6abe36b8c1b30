"""Two transactions writing orders of the same contact at once (PostgreSQL): the second refresh
waits for the first to commit and then counts both orders, instead of overwriting the facts with a
sum that misses the other transaction's order."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction

from catalog.commerce import refresh_commerce_facts
from catalog.models import CommerceFacts, Order
from tests.factories import ContactFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_refreshes_of_one_contact_count_every_order(company):
    contact = ContactFactory(company=company)
    first_refreshed = threading.Event()
    release_first = threading.Event()
    errors: list[BaseException] = []

    def write(external_id: str, total: str, *, hold: bool) -> None:
        try:
            with transaction.atomic():
                Order.objects.create(company=company, contact=contact, external_id=external_id, total=Decimal(total))
                refresh_commerce_facts(company_id=company.pk, contact_ids=[contact.pk])
                if hold:
                    first_refreshed.set()
                    release_first.wait(10)
        except BaseException as exc:  # surfaced in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    first = threading.Thread(target=write, args=("A", "10.00"), kwargs={"hold": True})
    first.start()
    assert first_refreshed.wait(10)
    second = threading.Thread(target=write, args=("B", "5.00"), kwargs={"hold": False})
    second.start()
    second.join(0.5)
    assert second.is_alive(), "the second refresh should wait for the first transaction"
    release_first.set()
    first.join(10)
    second.join(10)
    assert not errors, errors
    facts = CommerceFacts.objects.get(contact=contact)
    assert (facts.order_count, facts.total_spent) == (2, Decimal("15.00"))
