"""The commerce dashboard pages: catalog browser, product, collections, stores, orders and an order,
for every role; their filters; page versus htmx partial; another company's ids are 404; the lists'
query counts do not grow with their rows."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import OrderStatus, StoreChannel
from catalog.templatetags.catalog_tags import money, quantity
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.factories import (
    CollectionItemFactory,
    ContactFactory,
    OrderFactory,
    ProductCatalogFactory,
    ProductCollectionFactory,
    ProductFactory,
    StoreFactory,
    order_with_lines,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(company):
    """One of each commerce row for `company`: a catalog with two products, a collection, a store,
    an order with lines and an open cart."""
    catalog = ProductCatalogFactory(company=company, name="main", currency="EUR", is_default=True)
    beans = ProductFactory(
        catalog=catalog,
        product_id="BEANS-1",
        name="Ethiopia Beans",
        main_category="Coffee",
        price=Decimal("24.00"),
        discount_price=Decimal("19.50"),
        main_image_url="https://cdn.shop.example/beans.jpg",
        brand="Roastery",
    )
    kettle = ProductFactory(
        catalog=catalog,
        product_id="KETTLE-9",
        name="Gooseneck Kettle",
        main_category="Gear",
        price=Decimal("89.00"),
        available=False,
        main_image_url="http://insecure.example/kettle.jpg",
    )
    ann = ContactFactory(company=company, email="ann@example.com", first_name="Ann")
    collection = ProductCollectionFactory(catalog=catalog, name="Wishlist")
    CollectionItemFactory(collection=collection, contact=ann, product=kettle)
    store = StoreFactory(company=company, external_id="paris-1", name="Paris Left Bank", channel=StoreChannel.OFFLINE)
    order = order_with_lines(
        company=company,
        external_id="ORD-1001",
        contact=ann,
        store=store,
        currency="EUR",
        placed_at=timezone.now() - timedelta(days=3),
        lines=[
            {"product": beans, "quantity": 2, "unit_price": "19.50"},
            {"product_external_id": "GONE", "unit_price": "5.00"},
        ],
    )
    cart = OrderFactory(
        company=company, external_id="CART-7", contact=ann, completed=False, status=OrderStatus.PENDING, currency="EUR"
    )
    return {
        "catalog": catalog,
        "beans": beans,
        "kettle": kettle,
        "ann": ann,
        "collection": collection,
        "store": store,
        "order": order,
        "cart": cart,
    }


def detail_urls(shop) -> list[str]:
    return [
        reverse("catalog:product_detail", args=[shop["beans"].pk]),
        reverse("catalog:collection_detail", args=[shop["collection"].pk]),
        reverse("catalog:store_detail", args=[shop["store"].pk]),
        reverse("catalog:order_detail", args=[shop["order"].pk]),
    ]


LIST_URLS = ["catalog:products", "catalog:collections", "catalog:stores", "catalog:orders"]


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MARKETER, Role.OWNER])
def test_every_page_renders_for_every_role(client, company, shop, role):
    log_in(client, company, role)
    for url in [reverse(name) for name in LIST_URLS] + detail_urls(shop):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "<html" in html(response)
        assert "HX-Request" in response["Vary"]


def test_pages_need_a_login(client, shop):
    response = client.get(reverse("catalog:products"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_nothing_here_takes_a_post(viewer_client, shop):
    for url in [reverse(name) for name in LIST_URLS] + detail_urls(shop):
        assert viewer_client.post(url).status_code in {403, 405}, url


def test_catalog_browser_shows_image_price_discount_availability_and_category(viewer_client, shop):
    page = html(viewer_client.get(reverse("catalog:products")))
    beans = page.split(f'id="product-{shop["beans"].pk}"')[1].split("</tr>")[0]
    assert 'src="https://cdn.shop.example/beans.jpg"' in beans and 'loading="lazy"' in beans
    assert 'referrerpolicy="no-referrer"' in beans
    assert "19.50 EUR" in beans and "<s" in beans and "24.00" in beans
    assert "Available" in beans and "Coffee" in beans and "BEANS-1" in beans
    kettle = page.split(f'id="product-{shop["kettle"].pk}"')[1].split("</tr>")[0]
    # A plain-http image is not shown (mixed content, and the policy allows https: only): the placeholder is.
    assert "<img" not in kettle and "product-thumb-none" in kettle
    assert "Unavailable" in kettle and "89.00 EUR" in kettle


def test_product_pages_allow_https_images_and_other_pages_stay_strict(viewer_client, shop):
    for url in [reverse("catalog:products"), reverse("catalog:product_detail", args=[shop["beans"].pk])]:
        policy = viewer_client.get(url)["Content-Security-Policy"]
        assert "img-src 'self' data: https:;" in policy and "script-src 'self';" in policy
    for url in [reverse("catalog:orders"), reverse("contacts:contact_detail", args=[shop["ann"].pk])]:
        assert "img-src 'self' data:;" in viewer_client.get(url)["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"search": "ethiopia"}, ["beans"], ["kettle"]),
        ({"search": "kettle-9"}, ["kettle"], ["beans"]),
        ({"search": "roastery coffee"}, ["beans"], ["kettle"]),
        ({"category": "Gear"}, ["kettle"], ["beans"]),
        ({"available": "yes"}, ["beans"], ["kettle"]),
        ({"available": "no"}, ["kettle"], ["beans"]),
    ],
)
def test_catalog_browser_filters(viewer_client, shop, query, shown, hidden):
    page = html(viewer_client.get(reverse("catalog:products"), query))
    for name in shown:
        assert f'id="product-{shop[name].pk}"' in page, name
    for name in hidden:
        assert f'id="product-{shop[name].pk}"' not in page, name


def test_a_products_category_links_to_the_browser_filtered_by_it(viewer_client, shop):
    page = html(viewer_client.get(reverse("catalog:products"), {"available": "yes"}))
    assert f'href="{reverse("catalog:products")}?available=yes&amp;category=Coffee"' in page


def test_catalog_filter_by_catalog(viewer_client, company, shop):
    other = ProductCatalogFactory(company=company, name="outlet")
    sale = ProductFactory(catalog=other, name="Old Grinder")
    page = html(viewer_client.get(reverse("catalog:products"), {"catalog": other.pk}))
    assert f'id="product-{sale.pk}"' in page and f'id="product-{shop["beans"].pk}"' not in page
    # With two catalogs the browser offers the choice and names each product's catalog.
    assert 'id="product-catalog"' in page and "outlet" in page


def test_an_invalid_filter_is_named_and_left_out(viewer_client, shop):
    response = viewer_client.get(reverse("catalog:products"), {"catalog": "abc", "search": "beans"})
    assert response.status_code == 400
    page = html(response)
    assert 'id="filter-errors"' in page and "catalog" in page
    assert f'id="product-{shop["beans"].pk}"' in page
    response = viewer_client.get(reverse("catalog:orders"), {"since": "2026-13-01"})
    assert response.status_code == 400 and "since" in html(response)
    assert f'id="order-{shop["order"].pk}"' in html(response)


def test_htmx_gets_the_table_alone_and_a_browser_the_whole_page(viewer_client, shop):
    for name, table in [
        ("catalog:products", "product-table"),
        ("catalog:orders", "order-table"),
        ("catalog:stores", "store-table"),
        ("catalog:collections", "collection-table"),
    ]:
        partial = html(viewer_client.get(reverse(name), HTTP_HX_REQUEST="true"))
        assert "<html" not in partial and f'id="{table}"' in partial
        page = html(viewer_client.get(reverse(name)))
        assert "<html" in page and f'id="{table}"' in page
    detail = html(viewer_client.get(reverse("catalog:order_detail", args=[shop["order"].pk]), HTTP_HX_REQUEST="true"))
    assert "<html" not in detail and 'id="order-detail"' in detail


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"show": "carts"}, ["cart"], ["order"]),
        ({"show": "orders"}, ["order"], ["cart"]),
        ({"status": "pending"}, ["cart"], ["order"]),
        ({"email": "ANN@example.com "}, ["order", "cart"], []),
        ({"email": "bob@example.com"}, [], ["order", "cart"]),
    ],
)
def test_orders_filters(viewer_client, shop, query, shown, hidden):
    page = html(viewer_client.get(reverse("catalog:orders"), query))
    for name in shown:
        assert f'id="order-{shop[name].pk}"' in page, name
    for name in hidden:
        assert f'id="order-{shop[name].pk}"' not in page, name


def test_orders_filter_by_store_dates_and_contact(viewer_client, company, shop):
    url = reverse("catalog:orders")
    order, cart = shop["order"], shop["cart"]
    page = html(viewer_client.get(url, {"store": shop["store"].pk}))
    assert f'id="order-{order.pk}"' in page and f'id="order-{cart.pk}"' not in page
    three_days_ago = order.placed_at.date().isoformat()
    page = html(viewer_client.get(url, {"since": three_days_ago, "until": three_days_ago}))
    assert f'id="order-{order.pk}"' in page and f'id="order-{cart.pk}"' not in page
    page = html(viewer_client.get(url, {"since": timezone.localdate().isoformat()}))
    assert f'id="order-{order.pk}"' not in page and f'id="order-{cart.pk}"' in page
    bob_order = OrderFactory(company=company, contact=ContactFactory(company=company, email="bob@example.com"))
    page = html(viewer_client.get(url, {"contact": shop["ann"].pk}))
    assert f'id="order-{order.pk}"' in page and f'id="order-{bob_order.pk}"' not in page
    assert 'id="order-contact-filter"' in page and "ann@example.com" in page


def test_orders_are_newest_first_and_paged_by_cursor(viewer_client, company):
    contact = ContactFactory(company=company)
    now = timezone.now()
    orders = [
        OrderFactory(company=company, contact=contact, placed_at=now - timedelta(minutes=n)) for n in range(55)
    ]  # orders[0] is the newest
    first = html(viewer_client.get(reverse("catalog:orders")))
    positions = [first.index(f'id="order-{o.pk}"') for o in orders[:50]]
    assert positions == sorted(positions)
    assert f'id="order-{orders[50].pk}"' not in first
    second = html(viewer_client.get(reverse("catalog:orders"), {"older_than": orders[49].pk}))
    assert [o.pk for o in orders[50:] if f'id="order-{o.pk}"' in second] == [o.pk for o in orders[50:]]
    assert f'id="order-{orders[49].pk}"' not in second and 'rel="next"' not in second


def test_order_detail_shows_lines_totals_contact_and_store(viewer_client, shop):
    order = shop["order"]
    page = html(viewer_client.get(reverse("catalog:order_detail", args=[order.pk])))
    lines = page.split('id="order-lines"')[1]
    assert "Ethiopia Beans" in lines and reverse("catalog:product_detail", args=[shop["beans"].pk]) in lines
    assert "39.00 EUR" in lines and "GONE" in lines
    assert "44.00 EUR" in page.split('id="order-totals"')[1]  # 2 × 19.50 + 5.00
    assert reverse("contacts:contact_detail", args=[shop["ann"].pk]) in page
    assert reverse("catalog:store_detail", args=[shop["store"].pk]) in page and "Paris Left Bank" in page


def test_collections_count_contacts_and_products(viewer_client, company, shop):
    collection = shop["collection"]
    bob = ContactFactory(company=company, email="bob@example.com")
    CollectionItemFactory(collection=collection, contact=bob, product=shop["kettle"])
    CollectionItemFactory(collection=collection, contact=bob, product=shop["beans"])
    row = html(viewer_client.get(reverse("catalog:collections"))).split(f'id="collection-{collection.pk}"')[1]
    cells = row.split("</tr>")[0]
    assert '<td class="num">2</td>\n      <td class="num">2</td>' in cells  # 2 contacts, 2 products
    page = html(viewer_client.get(reverse("catalog:collection_detail", args=[collection.pk])))
    assert "bob@example.com" in page and "ann@example.com" in page and "Gooseneck Kettle" in page
    only_bob = html(
        viewer_client.get(reverse("catalog:collection_detail", args=[collection.pk]), {"email": "bob@example.com"})
    )
    assert "ann@example.com" not in only_bob.split('id="collection-items"')[1]


def test_money_and_quantities_are_shown_exactly():
    assert money(Decimal("1234567.5"), "EUR") == "1,234,567.50 EUR"
    assert money(Decimal("0.10")) == "0.10" and money(None) == "—"
    assert [quantity(Decimal(v)) for v in ("10.000", "1.500", "2", "0.125")] == ["10", "1.5", "2", "0.125"]


def test_store_page_lists_its_orders(viewer_client, shop):
    page = html(viewer_client.get(reverse("catalog:store_detail", args=[shop["store"].pk])))
    assert "ORD-1001" in page and "CART-7" not in page and "Offline" in page


def test_empty_pages_say_what_to_do(client, company):
    log_in(client, company, Role.VIEWER)
    for name in LIST_URLS:
        page = html(client.get(reverse(name)))
        assert "Salloq Marketing API" in page, name
    # A viewer cannot open the shop connection page: named, not linked.
    orders = html(client.get(reverse("catalog:orders")))
    assert "Connect your Salloq Ecommerce shop" in orders and reverse("connector:shop") + '">Connect' not in orders
    client.logout()
    log_in(client, company, Role.MARKETER)
    orders = html(client.get(reverse("catalog:orders")))
    assert f'<a href="{reverse("connector:shop")}">Connect your Salloq Ecommerce shop</a>' in orders


def test_another_companys_objects_are_404(client, company, other_company, shop):
    """Company B's product, collection, store and order ids are 404 for company A's users, and B's
    rows never show in A's lists."""
    theirs = {
        "product": ProductFactory(catalog__company=other_company, name="Rival Beans"),
        "collection": ProductCollectionFactory(catalog__company=other_company, name="Rival Wishlist"),
        "store": StoreFactory(company=other_company, name="Rival Store"),
        "order": OrderFactory(company=other_company, external_id="RIVAL-1"),
    }
    log_in(client, company, Role.OWNER)
    for name, obj in theirs.items():
        url = reverse(f"catalog:{name}_detail", args=[obj.pk])
        assert client.get(url).status_code == 404, name
        assert client.get(url, HTTP_HX_REQUEST="true").status_code == 404, name
    lists = "".join(html(client.get(reverse(name))) for name in LIST_URLS)
    for text in ["Rival Beans", "Rival Wishlist", "Rival Store", "RIVAL-1"]:
        assert text not in lists
    # Their ids as filters find nothing of theirs either.
    page = html(client.get(reverse("catalog:orders"), {"store": theirs["store"].pk}))
    assert "RIVAL-1" not in page
    page = html(client.get(reverse("catalog:orders"), {"contact": theirs["order"].contact_id}))
    assert "RIVAL-1" not in page
    page = html(client.get(reverse("catalog:products"), {"catalog": theirs["product"].catalog_id}))
    assert "Rival Beans" not in page


def _fifty_of_everything(company):
    catalog = ProductCatalogFactory(company=company)
    second_catalog = ProductCatalogFactory(company=company)  # the catalog column and filter are shown
    stores = [StoreFactory(company=company) for _ in range(50)]
    products = [ProductFactory(catalog=catalog if n % 2 else second_catalog) for n in range(50)]
    collection = ProductCollectionFactory(catalog=catalog)
    for n in range(50):
        contact = ContactFactory(company=company)
        CollectionItemFactory(collection=collection, contact=contact, product=products[n])
        OrderFactory(company=company, contact=contact, store=stores[n])
        ProductCollectionFactory(catalog=catalog)
    return collection


def test_list_pages_of_fifty_rows_make_a_fixed_number_of_queries(viewer_client, company, django_assert_max_num_queries):
    collection = _fifty_of_everything(company)
    pages = [reverse(name) for name in LIST_URLS] + [reverse("catalog:collection_detail", args=[collection.pk])]
    for url in pages:
        viewer_client.get(url)  # the session and the user, cached for the counted request
        with django_assert_max_num_queries(10):
            assert viewer_client.get(url).status_code == 200


def test_product_and_order_pages_make_a_fixed_number_of_queries(viewer_client, company, django_assert_max_num_queries):
    catalog = ProductCatalogFactory(company=company)
    products = [ProductFactory(catalog=catalog) for _ in range(50)]
    order = OrderFactory(company=company, lines=[{"product": product} for product in products])
    for product in products[:10]:
        OrderFactory(company=company, lines=[{"product": products[0]}])
        CollectionItemFactory(collection__catalog=catalog, product=product)
    for url in [
        reverse("catalog:order_detail", args=[order.pk]),
        reverse("catalog:product_detail", args=[products[0].pk]),
    ]:
        viewer_client.get(url)
        with django_assert_max_num_queries(10):
            assert viewer_client.get(url).status_code == 200
