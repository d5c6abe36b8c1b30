"""Two copies of one event racing on PostgreSQL, each in its own connection: stored once, and both
answers carry the same event id (transactional_db: the threads see each other's commits)."""

import threading
import time

import pytest
from django.db import connection, transaction

from contacts.models import Contact
from events.models import Event
from events.services import record_events

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ORDER = {"event_type": "order_placed", "event_data": {"order_id": "ORD-9", "email": "race@example.com", "total": 10}}


def in_thread(target) -> threading.Thread:
    def run():
        try:
            target()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_copy_arriving_while_the_first_is_uncommitted_gets_the_first_ones_id(company):
    outcome: dict[str, object] = {}
    first_stored, release = threading.Event(), threading.Event()

    def first():
        with transaction.atomic():
            outcome["first"] = record_events(company=company, items=[ORDER])[0]
            first_stored.set()
            release.wait(10)  # hold the new event (and contact) uncommitted while the copy arrives

    def second():
        outcome["second"] = record_events(company=company, items=[ORDER])[0]

    one = in_thread(first)
    assert first_stored.wait(10)
    two = in_thread(second)
    time.sleep(0.5)
    assert two.is_alive()  # waiting on the first one's uncommitted row, not storing a second event
    release.set()
    one.join(10)
    two.join(10)
    a, b = outcome["first"], outcome["second"]
    assert (a.status, b.status) == (201, 201)
    assert (a.duplicate, b.duplicate) == (False, True)
    assert a.event_id == b.event_id and a.contact_id == b.contact_id
    assert Event.objects.count() == 1 and Contact.objects.filter(email="race@example.com").count() == 1


def test_many_parallel_copies_and_batches_store_each_event_once(company):
    items = [{**ORDER, "event_data": {**ORDER["event_data"], "order_id": f"ORD-{i}"}} for i in range(50)]
    start = threading.Barrier(6)
    answers: list[list[int]] = []

    def send():
        start.wait(10)
        answers.append([r.event_id for r in record_events(company=company, items=items)])

    threads = [in_thread(send) for _ in range(6)]
    for thread in threads:
        thread.join(60)
    assert len(answers) == 6 and all(answer == answers[0] for answer in answers)
    assert Event.objects.count() == 50 and len(set(answers[0])) == 50
