"""Commerce data as plain ORM rows: catalogs, products, collections, stores, orders with their lines,
subscriptions and commerce facts. These skip catalog.services on purpose (a test that needs the
services' checks calls them); the rows are always consistent with their company: a product's company
is its catalog's, an order's contact and store belong to the order's company.

`OrderFactory(lines=[...])` makes an order with its lines (`order_with_lines` does the same and sums
them into the order's subtotal and total). Facts are not refreshed by these factories:
`CommerceFactsFactory` writes a row as given.
"""

from decimal import Decimal

import factory
from django.utils import timezone

from catalog.models import (
    CollectionItem,
    CommerceFacts,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    ProductCatalog,
    ProductCollection,
    Store,
    StoreChannel,
    Subscription,
    SubscriptionStatus,
)
from tests.factories.contacts import ContactFactory
from tests.factories.core import CompanyFactory


class ProductCatalogFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCatalog

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"catalog_{n}")
    currency = "USD"
    location = factory.Sequence(lambda n: f"shop_{n}")
    is_default = False


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    catalog = factory.SubFactory(ProductCatalogFactory)
    company = factory.SelfAttribute("catalog.company")
    product_id = factory.Sequence(lambda n: f"SKU-{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    main_category = "Coffee"
    price = Decimal("19.90")
    available = True
    active = True


class ProductCollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductCollection

    catalog = factory.SubFactory(ProductCatalogFactory)
    company = factory.SelfAttribute("catalog.company")
    name = factory.Sequence(lambda n: f"Wishlist {n}")


class CollectionItemFactory(factory.django.DjangoModelFactory):
    """One product for one contact in a collection; contact and product default to new ones of the
    collection's company and catalog."""

    class Meta:
        model = CollectionItem

    collection = factory.SubFactory(ProductCollectionFactory)
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..collection.company"))
    product = factory.SubFactory(ProductFactory, catalog=factory.SelfAttribute("..collection.catalog"))


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    company = factory.SubFactory(CompanyFactory)
    external_id = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"Store {n}")
    channel = StoreChannel.ONLINE


class OrderFactory(factory.django.DjangoModelFactory):
    """An order (completed by default; `completed=False` makes an open cart). `lines` is a list of
    OrderLine keyword dicts (product, product_external_id, quantity, unit_price, ...), made in order
    after the order; `contact` defaults to a new contact of the order's company, `store` to none."""

    class Meta:
        model = Order
        skip_postgeneration_save = True

    company = factory.SubFactory(CompanyFactory)
    external_id = factory.Sequence(lambda n: f"ORD-{n:06d}")
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..company"))
    status = OrderStatus.COMPLETED
    completed = True
    currency = "USD"
    subtotal = Decimal("50.00")
    total = Decimal("50.00")
    placed_at = factory.LazyFunction(timezone.now)
    completed_at = factory.LazyAttribute(lambda o: o.placed_at if o.completed else None)

    @factory.post_generation
    def lines(order, create, extracted, **kwargs):
        if not create or not extracted:
            return
        for position, line in enumerate(extracted):
            OrderLineFactory(order=order, position=position, **line)


def order_with_lines(*, lines: list[dict], **order_fields) -> Order:
    """An order whose subtotal and total are the sum of its lines' totals (each line's total
    defaults to quantity × unit price − discount + tax)."""
    line_dicts = []
    for line in lines:
        line = dict(line)
        quantity = Decimal(str(line.get("quantity", 1)))
        unit_price = Decimal(str(line.get("unit_price", "10.00")))
        line.setdefault("quantity", quantity)
        line.setdefault("unit_price", unit_price)
        line.setdefault(
            "line_total",
            (quantity * unit_price - Decimal(str(line.get("discount", 0))) + Decimal(str(line.get("tax", 0)))).quantize(
                Decimal("0.01")
            ),
        )
        line_dicts.append(line)
    total = sum((line["line_total"] for line in line_dicts), Decimal("0.00"))
    order_fields.setdefault("subtotal", total)
    order_fields.setdefault("total", total)
    return OrderFactory(lines=line_dicts, **order_fields)


class OrderLineFactory(factory.django.DjangoModelFactory):
    """A line; with a `product` its external id and name default to the product's."""

    class Meta:
        model = OrderLine

    order = factory.SubFactory(OrderFactory)
    product = None
    product_external_id = factory.LazyAttributeSequence(
        lambda line, n: line.product.product_id if line.product else f"SKU-LINE-{n}"
    )
    product_name = factory.LazyAttribute(lambda line: line.product.name if line.product else "A product")
    quantity = Decimal("1")
    unit_price = Decimal("10.00")
    line_total = factory.LazyAttribute(
        lambda line: (Decimal(line.quantity) * Decimal(line.unit_price)).quantize(Decimal("0.01"))
    )
    currency = factory.LazyAttribute(lambda line: line.order.currency)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    company = factory.SubFactory(CompanyFactory)
    external_id = factory.Sequence(lambda n: f"SUB-{n:05d}")
    contact = factory.SubFactory(ContactFactory, company=factory.SelfAttribute("..company"))
    product = None
    product_external_id = factory.LazyAttribute(lambda s: s.product.product_id if s.product else "")
    plan = "Every 30 days"
    price = Decimal("24.00")
    status = SubscriptionStatus.ACTIVE


class CommerceFactsFactory(factory.django.DjangoModelFactory):
    """A contact's facts row as given (catalog.commerce computes the real ones)."""

    class Meta:
        model = CommerceFacts

    contact = factory.SubFactory(ContactFactory)
    company = factory.SelfAttribute("contact.company")
    total_spent = Decimal("0.00")
    order_count = 0
