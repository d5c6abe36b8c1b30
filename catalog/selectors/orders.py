"""Reads of stores and orders: the API's lists and single answers."""

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from salloq.core.models import Company

from ..models import Order, OrderLine, Store


def store_list(*, company: Company | int) -> QuerySet[Store]:
    return Store.objects.for_company(company).order_by("name", "id")


def orders_with_lines(*, company: Company | int) -> QuerySet[Order]:
    """The company's orders with what an answer shows: the store's external id and the lines, in order."""
    lines = OrderLine.objects.order_by("position", "id")
    return (
        Order.objects.for_company(company)
        .select_related("store")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("-placed_at", "-id")
    )


def order_list(
    *,
    company: Company | int,
    contact_id: int | None = None,
    status: str | None = None,
    placed_from: datetime | None = None,
    placed_before: datetime | None = None,
    completed: bool | None = None,
    store_id: str | None = None,
) -> QuerySet[Order]:
    """Newest first. `placed_from` is inclusive, `placed_before` exclusive; `completed` False gives
    the open carts; `store_id` is the store's external id."""
    orders = orders_with_lines(company=company)
    if contact_id is not None:
        orders = orders.filter(contact_id=contact_id)
    if status:
        orders = orders.filter(status=status)
    if placed_from is not None:
        orders = orders.filter(placed_at__gte=placed_from)
    if placed_before is not None:
        orders = orders.filter(placed_at__lt=placed_before)
    if completed is not None:
        orders = orders.filter(completed=completed)
    if store_id is not None:
        orders = orders.filter(store__external_id=store_id)
    return orders
