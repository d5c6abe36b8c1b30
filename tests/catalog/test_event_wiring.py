"""Events wired to commerce data: POST /api/events (and the webhook's shape, the batch) -> the
dispatch of events.dispatch -> catalog.event_handlers -> orders, open carts, subscriptions and the
commerce facts. Dispatched here as the Celery task does it (events.dispatch.dispatch_events on the
stored ids); one test runs the whole path through a real Celery worker."""

import time
from decimal import Decimal

import pytest

from catalog.event_handlers import commerce_from_events
from catalog.models import CommerceFacts, Order, OrderSource, OrderStatus, Subscription, SubscriptionStatus
from contacts.models import Contact
from events import dispatch
from events.models import Event

pytestmark = pytest.mark.django_db

PLACED = {
    "event_type": "order_placed",
    "event_data": {
        "order_id": "ORD-12345",
        "customer_id": "CUST-67890",
        "email": "customer@example.com",
        "first_name": "Jane",
        "last_name": "Smith",
        "total": 149.99,
        "items": [{"product_id": "PROD-001", "name": "Wireless Headphones", "price": 149.99, "quantity": 1}],
    },
}


def track(api, *bodies) -> list[int]:
    ids = []
    for body in bodies:
        response = api.post("/api/events", body)
        assert response.status_code == 201, response.content
        ids.append(response.json()["event_id"])
    return ids


def run_dispatch() -> list[int]:
    """What the dispatch task does with the ids record_events enqueued."""
    return dispatch.dispatch_events(list(Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True)))


def facts(email: str, company) -> CommerceFacts:
    return CommerceFacts.objects.get(contact__company=company, contact__email=email)


def snapshot(company) -> list:
    orders = Order.objects.for_company(company).order_by("external_id")
    return [
        *orders.values_list("external_id", "contact_id", "status", "completed", "total", "placed_at", "updated_at"),
        *Subscription.objects.for_company(company).values_list("external_id", "status", "updated_at"),
        *CommerceFacts.objects.for_company(company).values_list("contact_id", "total_spent", "open_cart_value"),
    ]


def test_the_documented_order_placed_event_makes_an_order_and_its_facts(api, company):
    [event_id] = track(api, PLACED)
    assert run_dispatch() == [event_id]
    order = Order.objects.for_company(company).get(external_id="ORD-12345")
    event = Event.objects.get(pk=event_id)
    assert order.contact == event.contact and order.contact.external_id == "CUST-67890"
    assert (order.status, order.completed, order.total, order.source) == (
        OrderStatus.PENDING, True, Decimal("149.99"), OrderSource.EVENT,
    )  # fmt: skip
    assert order.placed_at == event.occurred_at
    [line] = order.lines.all()
    assert (line.product_external_id, line.product_name, line.quantity, line.unit_price) == (
        "PROD-001", "Wireless Headphones", Decimal("1.000"), Decimal("149.99"),
    )  # fmt: skip
    jane = facts("customer@example.com", company)
    assert (jane.total_spent, jane.order_count, jane.average_order_value) == (Decimal("149.99"), 1, Decimal("149.99"))


def test_order_completed_completes_the_order_and_creates_a_missing_one(api, company):
    track(api, PLACED)
    run_dispatch()
    track(
        api,
        {"event_type": "order_completed", "event_data": {"order_id": "ORD-12345", "email": "customer@example.com"}},
        {"event_type": "order_completed", "event_data": {"order_id": "ORD-9", "email": "new@example.com", "total": 20}},
    )
    run_dispatch()
    placed = Order.objects.for_company(company).get(external_id="ORD-12345")
    assert (placed.status, placed.total) == (OrderStatus.COMPLETED, Decimal("149.99"))
    created = Order.objects.for_company(company).get(external_id="ORD-9")
    assert (created.status, created.completed, created.total) == (OrderStatus.COMPLETED, True, Decimal("20.00"))
    assert created.contact == Contact.objects.get(company=company, email="new@example.com")
    assert facts("new@example.com", company).order_count == 1
    # A late order_placed never reopens a completed order.
    late = {"event_type": "order_placed", "event_data": {"order_id": "ORD-9", "email": "new@example.com", "total": 20}}
    track(api, {**late, "idempotency_key": "late-placed"})
    run_dispatch()
    assert Order.objects.for_company(company).get(external_id="ORD-9").status == OrderStatus.COMPLETED


def test_a_cart_abandoned_is_an_open_cart_until_the_contact_orders(api, company):
    cart = {
        "event_type": "cart_abandoned",
        "event_data": {
            "email": "cart@example.com",
            "cart_total": 59.9,
            "items": [{"product_id": "P1", "name": "Mug", "price": 29.95, "quantity": 2}],
        },
    }
    track(api, cart)
    run_dispatch()
    contact = Contact.objects.get(company=company, email="cart@example.com")
    order = Order.objects.for_company(company).get(external_id=f"cart-{contact.pk}")
    assert (order.completed, order.status, order.total) == (False, OrderStatus.PENDING, Decimal("59.90"))
    assert order.lines.get().quantity == 2
    assert (facts("cart@example.com", company).open_cart_value, facts("cart@example.com", company).order_count) == (
        Decimal("59.90"), 0,
    )  # fmt: skip

    # Abandoned again with more: the same cart, its lines replaced.
    cart["event_data"] = {**cart["event_data"], "cart_total": 89.85, "items": [{"product_id": "P1", "quantity": 3}]}
    track(api, cart)
    run_dispatch()
    assert Order.objects.for_company(company).filter(contact=contact).count() == 1
    assert facts("cart@example.com", company).open_cart_value == Decimal("89.85")

    # The contact orders: the cart is no longer open.
    track(
        api,
        {"event_type": "order_placed", "event_data": {"order_id": "O-7", "email": "cart@example.com", "total": 89.85}},
    )
    run_dispatch()
    order.refresh_from_db()
    assert order.status == OrderStatus.CANCELLED
    mine = facts("cart@example.com", company)
    assert (mine.open_cart_value, mine.open_cart_count, mine.total_spent) == (0, 0, Decimal("89.85"))


def test_a_cart_with_its_own_id_and_external_purchase_and_cart(api, company):
    track(
        api,
        {"event_type": "cart_abandoned", "event_data": {"email": "x@example.com", "cart_total": 10, "items": [],
                                                         "cart_id": "C-1"}},
        {"event_type": "PURCHASE", "event_data": {"email": "x@example.com", "value": 12.5, "currency": "EUR",
                                                   "externalId": "SM-1"}},
        {"contact": {"email": "x@example.com"}, "event": {"type": "CART", "value": 5, "currency": "PLN"}},
    )  # fmt: skip
    run_dispatch()
    contact = Contact.objects.get(company=company, email="x@example.com")
    orders = {o.external_id: o for o in Order.objects.for_company(company)}
    assert set(orders) == {"C-1", "SM-1", f"cart-{contact.pk}"}
    assert (orders["SM-1"].completed, orders["SM-1"].total, orders["SM-1"].currency) == (True, Decimal("12.50"), "EUR")
    assert (orders[f"cart-{contact.pk}"].completed, orders[f"cart-{contact.pk}"].currency) == (False, "PLN")
    assert orders["C-1"].completed is False
    mine = facts("x@example.com", company)
    assert (mine.total_spent, mine.open_cart_value, mine.open_cart_count) == (Decimal("12.50"), Decimal("15.00"), 2)


def test_subscription_events_keep_active_subscriptions(api, company):
    track(
        api,
        {"event_type": "subscription_created",
         "event_data": {"email": "sub@example.com", "subscription_id": 42, "plan": "Every 30 days"}},
        {"event_type": "subscription_created",
         "event_data": {"email": "sub@example.com", "subscription_id": 43, "plan": "Weekly"}},
    )  # fmt: skip
    run_dispatch()
    assert facts("sub@example.com", company).active_subscriptions == 2
    subscription = Subscription.objects.for_company(company).get(external_id="42")
    assert (subscription.plan, subscription.status) == ("Every 30 days", SubscriptionStatus.ACTIVE)
    track(
        api, {"event_type": "subscription_cancelled", "event_data": {"email": "sub@example.com", "subscription_id": 42}}
    )
    run_dispatch()
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED and subscription.cancelled_at is not None
    assert facts("sub@example.com", company).active_subscriptions == 1


def test_handling_the_same_events_twice_changes_nothing(api, company):
    ids = track(
        api,
        PLACED,
        {"event_type": "cart_abandoned", "event_data": {"email": "c@example.com", "cart_total": 3, "items": []}},
        {"event_type": "subscription_created", "event_data": {"email": "c@example.com", "subscription_id": 1,
                                                               "plan": "P"}},
        {"event_type": "order_completed", "event_data": {"order_id": "ORD-12345", "email": "customer@example.com"}},
    )  # fmt: skip
    run_dispatch()
    before = snapshot(company)
    commerce_from_events(ids)  # a redelivery: handlers see an event at least once
    assert snapshot(company) == before
    assert run_dispatch() == []  # and the dispatch itself hands each event over once


def test_a_batch_is_handled_in_a_bounded_number_of_queries(api, company, django_assert_max_num_queries):
    body = {
        "events": [
            {"event_type": "order_placed",
             "event_data": {"order_id": f"B-{n}", "email": f"b{n}@example.com", "total": n, "items": [
                 {"product_id": "P", "price": 1, "quantity": n}]}}
            for n in range(1, 41)
        ]
    }  # fmt: skip
    response = api.post("/api/events/batch", body)
    assert response.status_code == 200, response.content
    ids = list(Event.objects.filter(dispatched_at__isnull=True).values_list("pk", flat=True))
    with django_assert_max_num_queries(40):
        dispatch.dispatch_events(ids)
    assert Order.objects.for_company(company).count() == 40
    assert CommerceFacts.objects.for_company(company).filter(order_count=1).count() == 40


def test_a_bad_item_is_skipped_and_the_others_written(api, company):
    track(
        api,
        {"event_type": "order_placed", "event_data": {"order_id": "NEG", "email": "n@example.com", "total": -5}},
        {"event_type": "order_placed", "event_data": {"order_id": "OK", "email": "n@example.com", "total": 5}},
    )
    run_dispatch()
    assert list(Order.objects.for_company(company).values_list("external_id", flat=True)) == ["OK"]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()


def test_one_companys_events_never_touch_another_companys_orders(api, other_api, company, other_company):
    track(other_api, PLACED)
    run_dispatch()
    body = {**PLACED, "event_data": {**PLACED["event_data"], "total": 1}}
    track(api, body)
    run_dispatch()
    theirs = Order.objects.for_company(other_company).get(external_id="ORD-12345")
    ours = Order.objects.for_company(company).get(external_id="ORD-12345")
    assert (theirs.total, ours.total) == (Decimal("149.99"), Decimal("1.00"))
    assert theirs.contact.company == other_company and ours.contact.company == company
    assert facts("customer@example.com", other_company).total_spent == Decimal("149.99")
    assert facts("customer@example.com", company).total_spent == Decimal("1.00")


@pytest.mark.django_db(transaction=True)
def test_through_a_real_celery_worker(api, company, celery_worker_thread):
    track(api, PLACED)
    # Polled rather than the first dispatch task seen: the worker may first run one holding ids that
    # an earlier test's process left queued.
    deadline = time.monotonic() + 30
    while not Order.objects.for_company(company).filter(external_id="ORD-12345").exists():
        assert time.monotonic() < deadline, "the worker never dispatched the event"
        time.sleep(0.1)
    assert Order.objects.for_company(company).get(external_id="ORD-12345").total == Decimal("149.99")
    assert facts("customer@example.com", company).order_count == 1


def test_a_late_subscription_created_never_reactivates_a_later_cancellation(api, company):
    created = {
        "event_type": "subscription_created",
        "occurred_at": "2025-01-01T00:00:00Z",
        "event_data": {"email": "late@example.com", "subscription_id": "S-9", "plan": "Monthly"},
    }
    cancelled = {
        "event_type": "subscription_cancelled",
        "occurred_at": "2025-02-01T00:00:00Z",
        "event_data": {"email": "late@example.com", "subscription_id": "S-9"},
    }
    track(api, cancelled)
    run_dispatch()
    track(api, created)
    run_dispatch()
    subscription = Subscription.objects.for_company(company).get(external_id="S-9")
    assert (subscription.status, subscription.plan) == (SubscriptionStatus.CANCELLED, "Monthly")
    assert facts("late@example.com", company).active_subscriptions == 0
    # Subscribing again later (same id, a newer event) reactivates it.
    again = {**created, "occurred_at": "2025-03-01T00:00:00Z", "idempotency_key": "resubscribed"}
    track(api, again)
    run_dispatch()
    subscription.refresh_from_db()
    assert (subscription.status, subscription.cancelled_at) == (SubscriptionStatus.ACTIVE, None)
    assert facts("late@example.com", company).active_subscriptions == 1
