"""Each contact's commerce facts (catalog.models.CommerceFacts), kept current incrementally.

    from catalog.commerce import refresh_commerce_facts
    refresh_commerce_facts(company_id=company.pk, contact_ids={old_contact_id, new_contact_id})

Every write of orders or subscriptions calls `refresh_commerce_facts` in its own transaction for
the contacts whose rows it changed (both contacts when an order moves from one to another, the
contact of a deleted order). A refresh reads only those contacts' own orders and subscriptions, so
its cost is that of their history, never the company's:

1. their contact rows are locked (FOR NO KEY UPDATE, in id order) so two transactions refreshing
   the same contact run one after the other, the second reading what the first committed (without
   the lock it could overwrite the facts with a sum that misses the first one's order);
2. one grouped query sums their orders, with the active subscriptions as a subquery;
3. one INSERT ... ON CONFLICT (contact_id) DO UPDATE writes the facts (PostgreSQL and SQLite),
   leaving the loyalty fields (written by `set_loyalty`) as they are.

What counts:
- an order counts (total_spent, order_count, first/last_order_at, average_order_value) when it is
  completed and its status is not cancelled or refunded (UNCOUNTED_STATUSES);
- an open cart (open_cart_value, open_cart_count, last_cart_at) is an order not completed, whose
  status is not cancelled or refunded either;
- first/last_order_at and last_cart_at are the orders' `placed_at`: when the customer ordered,
  which every source has (the Salloq Ecommerce API's created_at, Splio's date_added, an event's
  occurred_at), while completed_at is a fulfilment date many orders never carry;
- average_order_value is total_spent / order_count rounded half to even to the cent, null without
  orders;
- active_subscriptions counts the subscriptions whose status is active.
A contact without a facts row has bought nothing (segments and the API read zeros and nulls).
"""

from collections.abc import Iterable
from decimal import ROUND_HALF_EVEN, Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, Max, Min, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from contacts.models import Contact
from salloq.core.models import Company

from .models import UNCOUNTED_STATUSES, CommerceFacts, Subscription, SubscriptionStatus

CENT = Decimal("0.01")
# Contacts refreshed per statement: a connector batch of 100 orders names at most 200 contacts.
REFRESH_CHUNK = 500
# The facts a refresh computes; the loyalty fields are only ever written by set_loyalty.
ORDER_FACTS = (
    "total_spent",
    "order_count",
    "first_order_at",
    "last_order_at",
    "average_order_value",
    "open_cart_value",
    "open_cart_count",
    "last_cart_at",
    "active_subscriptions",
)
LOYALTY_FACTS = ("loyalty_balance", "lifetime_points", "loyalty_value")
MAX_POINTS = 2**31 - 1  # CommerceFacts' integer columns


def average_order_value(total_spent: Decimal, order_count: int) -> Decimal | None:
    if not order_count:
        return None
    return (total_spent / order_count).quantize(CENT, rounding=ROUND_HALF_EVEN)


def refresh_commerce_facts(*, company_id: int, contact_ids: Iterable[int | None]) -> None:
    """Recompute the facts of `contact_ids` (those of `company_id`; others and None are ignored)
    from their own orders and subscriptions. Call it in the transaction that changed them."""
    ids = sorted({int(contact_id) for contact_id in contact_ids if contact_id is not None})
    with transaction.atomic():
        for start in range(0, len(ids), REFRESH_CHUNK):
            _refresh(company_id, ids[start : start + REFRESH_CHUNK])


def _refresh(company_id: int, ids: list[int]) -> None:
    contacts = Contact.objects.filter(company_id=company_id, pk__in=ids)
    # 1. The lock (ignored on SQLite, where one writer at a time holds the whole database).
    locked = list(contacts.order_by("pk").select_for_update(no_key=True).values_list("pk", flat=True))
    if not locked:
        return
    # 2. One grouped query over these contacts' orders (the order_contact_time index); orders are
    # read through the contact, and the contact is the company's, so no other company's row joins.
    active = (
        Subscription.objects.filter(company_id=company_id, contact=OuterRef("pk"), status=SubscriptionStatus.ACTIVE)
        .order_by()
        .values("contact")
        .annotate(n=Count("pk"))
        .values("n")
    )
    mine = Q(orders__company_id=company_id) & ~Q(orders__status__in=UNCOUNTED_STATUSES)
    counted, open_cart = mine & Q(orders__completed=True), mine & Q(orders__completed=False)
    rows = (
        Contact.objects.filter(pk__in=locked)
        .order_by()
        .values("pk")
        .annotate(
            total_spent=Sum("orders__total", filter=counted),
            order_count=Count("orders", filter=counted),
            first_order_at=Min("orders__placed_at", filter=counted),
            last_order_at=Max("orders__placed_at", filter=counted),
            open_cart_value=Sum("orders__total", filter=open_cart),
            open_cart_count=Count("orders", filter=open_cart),
            last_cart_at=Max("orders__placed_at", filter=open_cart),
            active_subscriptions=Coalesce(Subquery(active, output_field=IntegerField()), 0),
        )
    )
    facts = []
    for row in rows:
        total_spent = (row["total_spent"] or Decimal(0)).quantize(CENT)
        facts.append(
            CommerceFacts(
                contact_id=row["pk"],
                company_id=company_id,
                total_spent=total_spent,
                order_count=row["order_count"],
                first_order_at=row["first_order_at"],
                last_order_at=row["last_order_at"],
                average_order_value=average_order_value(total_spent, row["order_count"]),
                open_cart_value=(row["open_cart_value"] or Decimal(0)).quantize(CENT),
                open_cart_count=row["open_cart_count"],
                last_cart_at=row["last_cart_at"],
                active_subscriptions=row["active_subscriptions"],
            )
        )
    # 3. One upsert; updated_at (auto_now) is set on insert and update alike.
    CommerceFacts.objects.bulk_create(
        facts, update_conflicts=True, unique_fields=["contact"], update_fields=[*ORDER_FACTS, "updated_at"]
    )


def set_loyalty(
    *, company: Company, contact_id: int, balance: int, lifetime_points: int, value: Decimal | None
) -> CommerceFacts:
    """The contact's loyalty as the shop reports it (the Salloq Ecommerce API's GET
    /customers/{id}/loyalty: current_balance, lifetime_points, dollar_value). The other facts stay
    as they are; a contact without facts yet gets them computed first."""
    errors: dict[str, list[str]] = {}
    for name, points in (("balance", balance), ("lifetime_points", lifetime_points)):
        if isinstance(points, bool) or not isinstance(points, int) or not -MAX_POINTS <= points <= MAX_POINTS:
            errors[name] = [f"Must be a whole number from {-MAX_POINTS} to {MAX_POINTS}."]
    if value is not None and (not isinstance(value, Decimal) or not value.is_finite() or abs(value) >= 10**19):
        errors["value"] = ["Must be an exact amount (Decimal) below 10^19, or null."]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        if not Contact.objects.for_company(company).filter(pk=contact_id).exists():
            raise ValidationError({"contact_id": ["No such contact in this company."]})
        loyalty = {
            "loyalty_balance": balance,
            "lifetime_points": lifetime_points,
            "loyalty_value": None if value is None else value.quantize(CENT, rounding=ROUND_HALF_EVEN),
        }
        facts = CommerceFacts.objects.for_company(company).filter(contact_id=contact_id)
        if not facts.exists():
            refresh_commerce_facts(company_id=company.pk, contact_ids=[contact_id])
        facts.update(**loyalty, updated_at=timezone.now())
        return facts.get()
