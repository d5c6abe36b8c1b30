"""Reads of the commerce dashboard pages (catalog browser, collections, stores, orders) and of the
contact page's Commerce card. Every read starts from `for_company(company)`, so another company's
id finds nothing (a 404 in the views). List reads fetch what their rows show in a fixed number of
queries, whatever the page's length.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from contacts.models import Contact
from salloq.core.models import Company

from ..models import (
    CollectionItem,
    CommerceFacts,
    Order,
    OrderLine,
    Product,
    ProductCatalog,
    ProductCollection,
    Store,
    Subscription,
    SubscriptionStatus,
)

ORDERS_PER_PAGE = 50
# The contact page's Commerce card: the latest orders and collection products it lists.
CONTACT_ORDERS = 5
CONTACT_COLLECTION_ITEMS = 10
# The product page: the latest order lines of the product.
PRODUCT_LINES = 10
# The store page: its latest orders (the orders page, filtered by the store, has the rest).
STORE_ORDERS = 10
# Category suggestions of the catalog browser's filter.
CATEGORY_SUGGESTIONS = 200


# --- Catalog browser -----------------------------------------------------------------------------


@dataclass
class ProductFilters:
    """The catalog browser's filters, each optional: words of the name, id, brand or category, a
    catalog (id), an exact main category, available or not."""

    search: str = ""
    catalog_id: int | None = None
    category: str = ""
    available: bool | None = None

    @property
    def any(self) -> bool:
        return bool(self.search or self.catalog_id or self.category or self.available is not None)


def company_catalogs(*, company: Company) -> list[ProductCatalog]:
    return list(ProductCatalog.objects.for_company(company).only("id", "name", "currency", "is_default"))


def products(*, company: Company, filters: ProductFilters) -> QuerySet[Product]:
    """The company's products matching the filters, by name; each with its catalog (one join)."""
    queryset = Product.objects.for_company(company).select_related("catalog")
    if filters.catalog_id:
        queryset = queryset.filter(catalog_id=filters.catalog_id)
    if filters.category:
        queryset = queryset.filter(main_category=filters.category)
    if filters.available is not None:
        queryset = queryset.filter(available=filters.available)
    for word in filters.search.split():
        queryset = queryset.filter(
            Q(name__icontains=word)
            | Q(product_id__icontains=word)
            | Q(brand__icontains=word)
            | Q(main_category__icontains=word)
        )
    return queryset.order_by("name", "id")


def category_suggestions(*, company: Company, catalog_id: int | None = None) -> list[str]:
    """Main categories to offer in the filter (of one catalog when chosen), alphabetical."""
    queryset = Product.objects.for_company(company).exclude(main_category="")
    if catalog_id:
        queryset = queryset.filter(catalog_id=catalog_id)
    return list(
        queryset.order_by("main_category").values_list("main_category", flat=True).distinct()[:CATEGORY_SUGGESTIONS]
    )


@dataclass
class ProductDetail:
    product: Product
    # The product's latest order lines, each with its order (and the order's contact).
    lines: list[OrderLine]
    # Collections holding the product, with how many contacts each.
    collections: list[ProductCollection]


def product_detail(*, product: Product) -> ProductDetail:
    lines = list(
        OrderLine.objects.filter(product=product, order__company_id=product.company_id)
        .select_related("order", "order__contact")
        .order_by("-order__placed_at", "-order_id", "position")[:PRODUCT_LINES]
    )
    collections = list(
        ProductCollection.objects.for_company(product.company_id)
        .filter(items__product=product)
        .annotate(contact_count=Count("items__contact", distinct=True))
        .order_by("name")
    )
    return ProductDetail(product=product, lines=lines, collections=collections)


# --- Collections ---------------------------------------------------------------------------------


def collections(*, company: Company) -> list[ProductCollection]:
    """Every collection of the company with its catalog and its numbers of contacts and products
    (one grouped query: collections are few, their items many)."""
    return list(
        ProductCollection.objects.for_company(company)
        .select_related("catalog")
        .annotate(
            contact_count=Count("items__contact", distinct=True),
            product_count=Count("items__product", distinct=True),
        )
        .order_by("catalog__name", "name", "id")
    )


def collection_items(*, collection: ProductCollection, email: str = "") -> QuerySet[CollectionItem]:
    """A collection's items (contact, product), newest first, optionally of one contact by email."""
    items = CollectionItem.objects.filter(collection=collection).select_related("contact", "product")
    if email:
        items = items.filter(contact__email=email)
    return items.order_by("-added_at", "-id")


def collection_top_products(*, collection: ProductCollection, limit: int = 10) -> list[dict]:
    """The collection's products held by the most contacts: [{product, contacts}]."""
    rows = list(
        CollectionItem.objects.filter(collection=collection)
        .values("product_id")
        .annotate(contacts=Count("contact_id"))
        .order_by("-contacts", "product_id")[:limit]
    )
    products_by_id = Product.objects.for_company(collection.company_id).in_bulk([row["product_id"] for row in rows])
    return [{"product": products_by_id[row["product_id"]], "contacts": row["contacts"]} for row in rows]


# --- Stores --------------------------------------------------------------------------------------


def stores(*, company: Company) -> QuerySet[Store]:
    return Store.objects.for_company(company).order_by("name", "id")


def store_latest_orders(*, store: Store) -> list[Order]:
    return list(
        Order.objects.for_company(store.company_id)
        .filter(store=store)
        .select_related("contact")
        .order_by("-placed_at", "-id")[:STORE_ORDERS]
    )


# --- Orders --------------------------------------------------------------------------------------


class OrderKind:
    """The orders page's "show" filter: completed orders, open carts, or both."""

    ALL = ""
    ORDERS = "orders"
    CARTS = "carts"
    CHOICES = [(ALL, "Orders and open carts"), (ORDERS, "Orders"), (CARTS, "Open carts")]


@dataclass
class OrderFilters:
    """The orders page's filters, each optional: a status, orders or open carts, a store (id), days
    of placement (inclusive, in the site's time zone), the contact's email (normalized)."""

    status: str = ""
    kind: str = OrderKind.ALL
    store_id: int | None = None
    since: date | None = None
    until: date | None = None
    email: str = ""
    contact_id: int | None = None

    @property
    def any(self) -> bool:
        return bool(
            self.status or self.kind or self.store_id or self.since or self.until or self.email or self.contact_id
        )


@dataclass
class OrderPage:
    orders: list[Order]
    # The cursor of the next (older) page: the id of this page's last order, None on the last page.
    older_than: int | None
    filters: OrderFilters = field(default_factory=OrderFilters)


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def company_orders(*, company: Company, filters: OrderFilters) -> QuerySet[Order]:
    """The company's orders matching the filters, newest first (index order_company_time)."""
    orders = Order.objects.for_company(company)
    if filters.status:
        orders = orders.filter(status=filters.status)
    if filters.kind == OrderKind.ORDERS:
        orders = orders.filter(completed=True)
    elif filters.kind == OrderKind.CARTS:
        orders = orders.filter(completed=False)
    if filters.store_id:
        orders = orders.filter(store_id=filters.store_id)
    if filters.since:
        orders = orders.filter(placed_at__gte=_start_of(filters.since))
    if filters.until:
        orders = orders.filter(placed_at__lt=_start_of(filters.until + timedelta(days=1)))
    if filters.email:
        # The order's contact is of the order's company: the join needs no company condition of its own.
        orders = orders.filter(contact__email=filters.email)
    if filters.contact_id:
        orders = orders.filter(contact_id=filters.contact_id)
    return orders.order_by("-placed_at", "-id")


def orders_page(*, company: Company, filters: OrderFilters, older_than: int | None = None) -> OrderPage:
    """One page of the orders page: ORDERS_PER_PAGE orders placed before the order `older_than`
    (keyset pagination: no count, no offset, as fast on the last page as on the first). Another
    company's id, or one that does not exist, starts from the newest."""
    orders = company_orders(company=company, filters=filters).select_related("contact", "store")
    if older_than is not None:
        cursor = Order.objects.for_company(company).filter(pk=older_than).values_list("placed_at", flat=True).first()
        if cursor is not None:
            orders = orders.filter(Q(placed_at__lt=cursor) | Q(placed_at=cursor, pk__lt=older_than))
    rows = list(orders[: ORDERS_PER_PAGE + 1])
    shown = rows[:ORDERS_PER_PAGE]
    return OrderPage(orders=shown, older_than=shown[-1].pk if len(rows) > ORDERS_PER_PAGE else None, filters=filters)


def order_lines(*, order: Order) -> list[OrderLine]:
    return list(order.lines.select_related("product").order_by("position", "id"))


def company_stores_for_filter(*, company: Company) -> list[Store]:
    return list(Store.objects.for_company(company).only("id", "name").order_by("name", "id"))


def filtered_contact(*, company: Company, contact_id: int | None) -> Contact | None:
    if not contact_id:
        return None
    return Contact.objects.for_company(company).filter(pk=contact_id).first()


# --- The contact page's Commerce card ------------------------------------------------------------


@dataclass
class ContactCommerce:
    """What the contact page's Commerce card shows: the contact's commerce facts (None when they
    never bought or carted anything), latest orders and carts, and collection products."""

    facts: CommerceFacts | None
    orders: list[Order]
    collection_items: list[CollectionItem]
    active_subscriptions: list[Subscription]

    @property
    def any(self) -> bool:
        return bool(self.facts or self.orders or self.collection_items or self.active_subscriptions)


def contact_commerce(*, contact: Contact) -> ContactCommerce:
    """Four indexed queries (facts by primary key, orders by order_contact_time, items by
    collection_item_contact, subscriptions by subscription_contact_status)."""
    company_id = contact.company_id
    return ContactCommerce(
        facts=CommerceFacts.objects.for_company(company_id).filter(contact=contact).first(),
        orders=list(
            Order.objects.for_company(company_id)
            .filter(contact=contact)
            .select_related("store")
            .order_by("-placed_at", "-id")[:CONTACT_ORDERS]
        ),
        collection_items=list(
            CollectionItem.objects.filter(contact=contact, collection__company_id=company_id)
            .select_related("collection", "product")
            .order_by("-added_at", "-id")[:CONTACT_COLLECTION_ITEMS]
        ),
        active_subscriptions=list(
            Subscription.objects.for_company(company_id)
            .filter(contact=contact, status=SubscriptionStatus.ACTIVE)
            .select_related("product")
            .order_by("-started_at", "-id")[:CONTACT_ORDERS]
        ),
    )
