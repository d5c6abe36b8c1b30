"""The contact page's Commerce card: the contact's commerce facts, latest orders and carts (linking
to their pages), active subscriptions and collection products; an empty state that says where the
data comes from; a fixed number of queries however much the contact bought."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.commerce import refresh_commerce_facts, set_loyalty
from catalog.models import OrderStatus
from tests.conftest import html
from tests.factories import (
    CollectionItemFactory,
    ContactFactory,
    OrderFactory,
    ProductFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


def card(response) -> str:
    page = html(response)
    assert 'id="commerce"' in page
    return page.split('id="commerce"')[1].split("</section>")[0]


def test_the_card_shows_facts_orders_subscriptions_and_collections(viewer_client, company):
    ann = ContactFactory(company=company, email="ann@example.com")
    now = timezone.now()
    first = OrderFactory(
        company=company, contact=ann, external_id="ORD-1", total=Decimal("30.00"), placed_at=now - timedelta(days=9)
    )
    second = OrderFactory(
        company=company, contact=ann, external_id="ORD-2", total=Decimal("50.50"), placed_at=now - timedelta(days=2)
    )
    OrderFactory(company=company, contact=ann, external_id="ORD-X", total=Decimal("99.00"), status=OrderStatus.REFUNDED)
    cart = OrderFactory(
        company=company, contact=ann, external_id="CART-1", completed=False, status=OrderStatus.PENDING, total=12
    )
    product = ProductFactory(catalog__company=company, name="Gooseneck Kettle")
    CollectionItemFactory(
        collection__catalog=product.catalog, collection__name="Wishlist", contact=ann, product=product
    )
    SubscriptionFactory(company=company, contact=ann, product=product, plan="Every 30 days")
    refresh_commerce_facts(company_id=company.pk, contact_ids=[ann.pk])
    set_loyalty(company=company, contact_id=ann.pk, balance=120, lifetime_points=900, value=Decimal("6.00"))

    commerce = card(viewer_client.get(reverse("contacts:contact_detail", args=[ann.pk])))
    facts = commerce.split('id="commerce-facts"')[1].split("</dl>")[0]
    assert "80.50" in facts  # 30.00 + 50.50: the refunded order does not count
    assert "<dd>2</dd>" in facts  # orders
    assert "40.25" in facts  # average order value
    assert first.placed_at.date().isoformat() in facts and second.placed_at.date().isoformat() in facts
    assert "12.00" in facts and "1 cart" in facts  # the open cart
    assert "120 points" in facts and "900 lifetime" in facts and "6.00" in facts
    assert "1 active" in facts and "Every 30 days" in facts
    orders = commerce.split('id="commerce-orders"')[1]
    for order in [second, cart]:
        assert reverse("catalog:order_detail", args=[order.pk]) in orders
    assert "open cart" in orders
    assert f"{reverse('catalog:orders')}?contact={ann.pk}" in commerce
    collections = commerce.split('id="commerce-collections"')[1]
    assert "Gooseneck Kettle" in collections and "Wishlist" in collections
    assert reverse("catalog:product_detail", args=[product.pk]) in collections


def test_a_contact_without_purchases_gets_a_hint(viewer_client, company):
    ann = ContactFactory(company=company)
    commerce = card(viewer_client.get(reverse("contacts:contact_detail", args=[ann.pk])))
    assert "No orders, carts or collections yet" in commerce and "Salloq Ecommerce" in commerce


def test_the_card_lists_the_latest_five_orders_newest_first(viewer_client, company):
    ann = ContactFactory(company=company)
    now = timezone.now()
    orders = [OrderFactory(company=company, contact=ann, placed_at=now - timedelta(hours=n)) for n in range(8)]
    commerce = card(viewer_client.get(reverse("contacts:contact_detail", args=[ann.pk])))
    shown = [o for o in orders if reverse("catalog:order_detail", args=[o.pk]) in commerce]
    assert shown == orders[:5]
    positions = [commerce.index(reverse("catalog:order_detail", args=[o.pk])) for o in shown]
    assert positions == sorted(positions)


def test_the_contact_page_query_count_does_not_grow_with_orders(viewer_client, company, django_assert_num_queries):
    ann = ContactFactory(company=company)
    OrderFactory(company=company, contact=ann)
    url = reverse("contacts:contact_detail", args=[ann.pk])
    viewer_client.get(url)
    with CaptureQueriesContext(connection) as one_order:
        viewer_client.get(url)
    product = ProductFactory(catalog__company=company)
    for _ in range(20):
        OrderFactory(company=company, contact=ann, lines=[{"product": product}])
        CollectionItemFactory(collection__catalog=product.catalog, contact=ann, product=product)
        SubscriptionFactory(company=company, contact=ann, product=product)
    with django_assert_num_queries(len(one_order)):
        viewer_client.get(url)
