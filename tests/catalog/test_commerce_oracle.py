"""Commerce facts against a straightforward Python recomputation (hypothesis).

Random sequences of order writes (create, change of total, status or completed flag, cancellation,
refund, a move to another contact, deletion) and subscription writes, each followed by
refresh_commerce_facts for the contacts it touched (as every writer does): the stored facts always
equal what a plain Python pass over all the orders says. Another company's contact with the same
history is the decoy: its facts never move.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from catalog.commerce import refresh_commerce_facts
from catalog.models import CommerceFacts, Order, OrderStatus, Subscription, SubscriptionStatus
from tests.factories import CompanyFactory, ContactFactory, OrderFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

START = datetime(2024, 1, 1, tzinfo=UTC)
CONTACTS = 3

money = st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2, allow_nan=False, allow_infinity=False)
statuses = st.sampled_from(OrderStatus.values)
moments = st.integers(min_value=0, max_value=1000).map(lambda hours: START + timedelta(hours=hours))
who = st.integers(min_value=0, max_value=CONTACTS - 1)
which = st.integers(min_value=0, max_value=50)

operations = st.one_of(
    st.tuples(st.just("create"), who, money, st.booleans(), statuses, moments),
    st.tuples(st.just("total"), which, money),
    st.tuples(st.just("status"), which, statuses),
    st.tuples(st.just("completed"), which, st.booleans()),
    st.tuples(st.just("placed_at"), which, moments),
    st.tuples(st.just("cancel"), which),
    st.tuples(st.just("refund"), which),
    st.tuples(st.just("move"), which, who),
    st.tuples(st.just("delete"), which),
    st.tuples(st.just("subscribe"), who, st.sampled_from(SubscriptionStatus.values)),
    st.tuples(st.just("subscription_status"), which, st.sampled_from(SubscriptionStatus.values)),
)


@dataclass
class Expected:
    total_spent: Decimal
    order_count: int
    first_order_at: datetime | None
    last_order_at: datetime | None
    average_order_value: Decimal | None
    open_cart_value: Decimal
    open_cart_count: int
    last_cart_at: datetime | None
    active_subscriptions: int


def recompute(orders: list[dict], subscriptions: list[dict], contact_id: int) -> Expected:
    """The facts as the documentation states them, from plain Python data."""
    live = [o for o in orders if o["contact_id"] == contact_id and o["status"] not in ("cancelled", "refunded")]
    counted = [o for o in live if o["completed"]]
    carts = [o for o in live if not o["completed"]]
    spent = sum((o["total"] for o in counted), Decimal("0.00"))
    average = (spent / len(counted)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN) if counted else None
    return Expected(
        total_spent=spent,
        order_count=len(counted),
        first_order_at=min((o["placed_at"] for o in counted), default=None),
        last_order_at=max((o["placed_at"] for o in counted), default=None),
        average_order_value=average,
        open_cart_value=sum((o["total"] for o in carts), Decimal("0.00")),
        open_cart_count=len(carts),
        last_cart_at=max((o["placed_at"] for o in carts), default=None),
        active_subscriptions=sum(
            1 for s in subscriptions if s["contact_id"] == contact_id and s["status"] == SubscriptionStatus.ACTIVE
        ),
    )


def stored(contact_id: int) -> Expected:
    facts = CommerceFacts.objects.filter(contact_id=contact_id).first()
    if facts is None:
        return Expected(Decimal("0.00"), 0, None, None, None, Decimal("0.00"), 0, None, 0)
    return Expected(**{name: getattr(facts, name) for name in Expected.__dataclass_fields__})


def apply(op: tuple, company, contacts, orders: list[Order], subscriptions: list[Subscription]) -> set[int]:
    """Run one write on the database; returns the contacts whose orders or subscriptions changed."""
    kind = op[0]
    if kind == "create":
        _, index, total, completed, status, placed_at = op
        order = OrderFactory(
            company=company,
            contact=contacts[index],
            total=total,
            completed=completed,
            status=status,
            placed_at=placed_at,
        )
        orders.append(order)
        return {order.contact_id}
    if kind in ("subscribe",):
        _, index, status = op
        subscription = SubscriptionFactory(company=company, contact=contacts[index], status=status)
        subscriptions.append(subscription)
        return {subscription.contact_id}
    if kind == "subscription_status":
        if not subscriptions:
            return set()
        subscription = subscriptions[op[1] % len(subscriptions)]
        subscription.status = op[2]
        subscription.save(update_fields=["status"])
        return {subscription.contact_id}
    if not orders:
        return set()
    order = orders[op[1] % len(orders)]
    touched = {order.contact_id}
    if kind == "delete":
        orders.remove(order)
        order.delete()
        return touched
    if kind == "move":
        order.contact = contacts[op[2]]
        touched.add(order.contact_id)
    elif kind == "cancel":
        order.status = OrderStatus.CANCELLED
    elif kind == "refund":
        order.status = OrderStatus.REFUNDED
    else:
        setattr(order, kind, op[2])
    order.save()
    return touched


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(operations, min_size=1, max_size=25))
def test_facts_equal_a_python_recomputation_after_any_sequence_of_writes(ops):
    company, decoy_company = CompanyFactory(), CompanyFactory()
    contacts = [ContactFactory(company=company) for _ in range(CONTACTS)]
    decoy = ContactFactory(company=decoy_company)
    OrderFactory(company=decoy_company, contact=decoy, total=Decimal("7.00"))
    refresh_commerce_facts(company_id=decoy_company.pk, contact_ids=[decoy.pk])
    decoy_facts = stored(decoy.pk)

    orders: list[Order] = []
    subscriptions: list[Subscription] = []
    for op in ops:
        touched = apply(op, company, contacts, orders, subscriptions)
        refresh_commerce_facts(company_id=company.pk, contact_ids=touched)
        plain_orders = [
            {"contact_id": o.contact_id, "total": o.total, "completed": o.completed, "status": o.status,
             "placed_at": o.placed_at}
            for o in orders
        ]  # fmt: skip
        plain_subscriptions = [{"contact_id": s.contact_id, "status": s.status} for s in subscriptions]
        for contact in contacts:
            assert stored(contact.pk) == recompute(plain_orders, plain_subscriptions, contact.pk), op
    assert stored(decoy.pk) == decoy_facts
    # Refreshing another company's contact under this company's id changes nothing.
    refresh_commerce_facts(company_id=company.pk, contact_ids=[decoy.pk])
    assert stored(decoy.pk) == decoy_facts
