from decimal import Decimal

import pytest

from catalog.models import Order, OrderLine
from tests.factories import (
    CollectionItemFactory,
    CommerceFactsFactory,
    OrderFactory,
    ProductFactory,
    StoreFactory,
    SubscriptionFactory,
    order_with_lines,
)

pytestmark = pytest.mark.django_db


def test_factories_keep_rows_in_one_company(company):
    product = ProductFactory(catalog__company=company)
    item = CollectionItemFactory(collection__catalog=product.catalog, product=product)
    store = StoreFactory(company=company)
    order = OrderFactory(company=company, store=store, lines=[{"product": product, "quantity": 2}])
    subscription = SubscriptionFactory(company=company, product=product)
    facts = CommerceFactsFactory(contact=order.contact, total_spent=Decimal("12.50"))

    assert product.company == company
    assert item.collection.company == company and item.contact.company == company
    assert order.contact.company == company
    assert subscription.contact.company == company and subscription.product_external_id == product.product_id
    assert facts.company == company
    line = OrderLine.objects.get(order=order)
    assert (line.product_external_id, line.product_name, line.line_total) == (
        product.product_id,
        product.name,
        Decimal("20.00"),
    )


def test_order_with_lines_sums_the_lines(company):
    order = order_with_lines(
        company=company,
        lines=[{"unit_price": "3.50", "quantity": 2}, {"unit_price": "1.25", "discount": "0.25"}],
    )
    order = Order.objects.get(pk=order.pk)
    assert order.total == order.subtotal == Decimal("8.00")
    assert [line.position for line in order.lines.all()] == [0, 1]


def test_open_cart_has_no_completion_date(company):
    cart = OrderFactory(company=company, completed=False)
    assert cart.completed_at is None
