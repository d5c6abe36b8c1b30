"""Two batches creating the same orders at once: the second finds the first's rows (it retries
from its savepoint after the unique violation) instead of failing."""

import threading

import pytest
from django.db import connection

from catalog.models import Order
from catalog.services.orders import order_upsert_batch
from tests.factories import CompanyFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_batches_of_the_same_new_orders_both_succeed():
    company = CompanyFactory()
    items = [{"external_id": f"C-{n}", "email": f"c{n}@example.com", "total": n} for n in range(50)]
    barrier = threading.Barrier(2)
    outcomes: list = []

    def run():
        try:
            barrier.wait()
            outcomes.append(order_upsert_batch(company=company, items=items))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(outcomes) == 2
    statuses = sorted({result.status for outcome in outcomes for result in outcome})
    assert set(statuses) <= {"created", "unchanged"} and "created" in statuses, statuses
    assert Order.objects.filter(company=company).count() == 50
