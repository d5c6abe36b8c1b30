"""The hand-off to flows: one task per batch after commit (coalesced per process under load), registered
handlers, the sweep."""

import threading
from datetime import timedelta

import pytest
from celery import Celery, current_app
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from events import dispatch, tasks
from events.models import Event
from events.services import record_events

ORDER = {"event_type": "order_placed", "event_data": {"order_id": "O-1", "email": "a@example.com", "total": 5}}


def views(n: int) -> list[dict]:
    return [
        {
            "event_type": "product_viewed",
            "event_data": {"email": f"v{i}@example.com", "product_id": i, "product_name": "P"},
        }
        for i in range(n)
    ]


@pytest.fixture(autouse=True)
def fresh_process(monkeypatch):
    """Each test starts as a process that has sent no dispatch message yet (nothing waits to be sent)."""
    monkeypatch.setattr(dispatch, "_coalescer", dispatch._Coalescer())


@pytest.fixture
def handler():
    """A registered handler that records the batches it is called with."""
    calls: list[list[int]] = []

    def record(event_ids: list[int]) -> None:
        calls.append(list(event_ids))

    dispatch.register_handler(record)
    yield calls
    dispatch.unregister_handler(record)


@pytest.fixture
def enqueued(monkeypatch):
    """The dispatch task's messages, captured instead of sent."""
    sent: list[list[int]] = []
    monkeypatch.setattr(current_app.tasks[dispatch.DISPATCH_TASK], "delay", lambda ids: sent.append(list(ids)))
    return sent


@pytest.mark.django_db(transaction=True)
def test_one_task_per_batch_is_enqueued_after_commit(company, enqueued):
    results = record_events(company=company, items=views(1500))
    assert [len(batch) for batch in enqueued] == [1000, 500]
    assert sorted(sum(enqueued, [])) == sorted(r.event_id for r in results)


@pytest.mark.django_db(transaction=True)
def test_nothing_is_enqueued_for_a_retry_or_an_import(company, enqueued):
    record_events(company=company, items=[ORDER])
    record_events(company=company, items=[ORDER])
    [imported] = record_events(company=company, items=views(1), source="import", dispatch_after_commit=False)
    assert len(enqueued) == 1
    assert Event.objects.get(pk=imported.event_id).dispatched_at is not None


@pytest.fixture
def sent(monkeypatch):
    """The dispatch task's messages, captured from any thread; `sent.arrived` is set by each."""

    class Sent(list):
        arrived = threading.Event()

    messages = Sent()

    def capture(ids):
        messages.append(list(ids))
        messages.arrived.set()

    monkeypatch.setattr(current_app.tasks[dispatch.DISPATCH_TASK], "delay", capture)
    return messages


def test_single_events_within_the_interval_go_in_one_message_when_it_is_over(sent, monkeypatch):
    monkeypatch.setattr(dispatch, "COALESCE_SECONDS", 0.3)
    dispatch.enqueue([1])
    assert sent == [[1]]  # the first after a quiet spell: at once
    sent.arrived.clear()
    dispatch.enqueue([2])
    dispatch.enqueue([3, 4])
    assert sent == [[1]]  # they wait for the end of the interval
    assert sent.arrived.wait(5), "the ids that waited were never sent"
    assert sent == [[1], [2, 3, 4]]


def test_a_full_batch_is_never_held_back(sent):
    dispatch.enqueue([1])
    dispatch.enqueue(list(range(2, 1002)))
    assert sent == [[1], list(range(2, 1002))]


def test_ids_still_waiting_when_the_process_stops_are_sent(sent, monkeypatch):
    monkeypatch.setattr(dispatch, "COALESCE_SECONDS", 60)
    dispatch.enqueue([1])
    dispatch.enqueue([2])
    dispatch._send_pending()  # registered with atexit
    assert sent == [[1], [2]]


@pytest.mark.django_db(transaction=True)
def test_events_posted_in_a_row_cost_one_message_each_interval_and_all_are_handed_over(company, sent, monkeypatch):
    """What POST /api/events does under load: one event per call, each committed on its own."""
    monkeypatch.setattr(dispatch, "COALESCE_SECONDS", 0.3)
    ids = [record_events(company=company, items=[item])[0].event_id for item in views(5)]
    assert len(sent) == 1
    sent.arrived.clear()
    assert sent.arrived.wait(5), "the events that waited were never sent"
    assert sent == [ids[:1], ids[1:]]


@pytest.mark.django_db
def test_handlers_run_once_and_the_events_are_marked(company, enqueued, handler):
    ids = [r.event_id for r in record_events(company=company, items=views(3))]
    assert dispatch.dispatch_events(ids) == sorted(ids)
    assert dispatch.dispatch_events(ids) == []  # already dispatched: nobody sees them twice
    assert handler == [sorted(ids)]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_failing_handler_leaves_the_events_to_be_dispatched_again(company, enqueued):
    ids = [r.event_id for r in record_events(company=company, items=views(2))]

    def broken(event_ids):
        raise RuntimeError("flows are down")

    dispatch.register_handler(broken)
    try:
        with pytest.raises(RuntimeError):
            dispatch.dispatch_events(ids)
    finally:
        dispatch.unregister_handler(broken)
    assert Event.objects.filter(pk__in=ids, dispatched_at__isnull=True).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_lost_enqueue_is_swept_up_and_dispatched(company, monkeypatch, handler, caplog):
    """The process dies (here: the broker refuses) between commit and enqueue: the events are stored,
    undispatched, and the beat sweep hands them to the dispatch task a little later."""

    def broker_down(ids):
        raise ConnectionError("broker down")

    task = current_app.tasks[dispatch.DISPATCH_TASK]
    monkeypatch.setattr(task, "delay", broker_down)
    ids = sorted(r.event_id for r in record_events(company=company, items=views(3)))
    assert Event.objects.filter(dispatched_at__isnull=True).count() == 3
    assert "the sweep will" in caplog.text

    swept: list[list[int]] = []
    monkeypatch.setattr(task, "delay", lambda batch: swept.append(list(batch)))
    tasks.sweep_undispatched_events()
    assert swept == []  # too fresh: their own message may still be on its way
    Event.objects.update(received_at=timezone.now() - dispatch.SWEEP_AFTER - timedelta(seconds=1))
    tasks.sweep_undispatched_events()
    assert swept == [ids]
    dispatch.dispatch_events(swept[0])
    assert handler == [ids]
    swept.clear()
    tasks.sweep_undispatched_events()
    assert swept == []


@pytest.mark.redis
def test_a_registered_handler_receives_the_ids_through_a_real_worker_on_redis(transactional_db, company):
    received: list[int] = []
    done = threading.Event()

    def handler(event_ids: list[int]) -> None:
        received.extend(event_ids)
        if len(received) >= 3:
            done.set()

    app = Celery("salloq-events-test")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.conf.update(broker_url=settings.REDIS_URL, broker_transport_options={}, task_always_eager=False)
    previous = current_app._get_current_object()
    dispatch.register_handler(handler)
    app.set_current()
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=10):
            ids = [r.event_id for r in record_events(company=company, items=views(3))]
            assert done.wait(30), "the worker never called the handler"
    finally:
        previous.set_current()
        dispatch.unregister_handler(handler)
    assert sorted(received) == sorted(ids)
    assert not Event.objects.filter(pk__in=ids, dispatched_at__isnull=True).exists()
