"""Django admin registrations of commerce data: every changelist and change page opens, search and
filters work, orders show their lines inline, admin writes keep rows in one company and the
commerce facts current, and big lists neither count the table nor query per row."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog import admin as catalog_admin
from catalog.commerce import refresh_commerce_facts
from catalog.models import CommerceFacts, Order, OrderLine, OrderSource
from tests.factories import (
    CollectionItemFactory,
    ContactFactory,
    OrderFactory,
    ProductCatalogFactory,
    ProductFactory,
    StoreFactory,
    SubscriptionFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(company):
    catalog = ProductCatalogFactory(company=company, name="main")
    product = ProductFactory(catalog=catalog, product_id="BEANS-1", name="Ethiopia Beans")
    contact = ContactFactory(company=company, email="ann@example.com")
    item = CollectionItemFactory(collection__catalog=catalog, contact=contact, product=product)
    store = StoreFactory(company=company, name="Paris")
    order = OrderFactory(
        company=company, contact=contact, store=store, external_id="ORD-1", lines=[{"product": product}]
    )
    subscription = SubscriptionFactory(company=company, contact=contact, product=product)
    refresh_commerce_facts(company_id=company.pk, contact_ids=[contact.pk])
    return {
        "productcatalog": catalog,
        "product": product,
        "productcollection": item.collection,
        "collectionitem": item,
        "store": store,
        "order": order,
        "orderline": order.lines.get(),
        "subscription": subscription,
        "commercefacts": CommerceFacts.objects.get(contact=contact),
    }


def test_every_changelist_and_change_page_opens(admin_client, everything):
    for name, obj in everything.items():
        changelist = admin_client.get(f"/admin/catalog/{name}/")
        assert changelist.status_code == 200, name
        change = admin_client.get(f"/admin/catalog/{name}/{obj.pk}/change/")
        assert change.status_code == 200, name


def test_search_and_filters(admin_client, everything, company):
    page = admin_client.get("/admin/catalog/product/", {"q": "BEANS-1"}).content.decode()
    assert "Ethiopia Beans" in page
    page = admin_client.get("/admin/catalog/order/", {"q": "ann@example", "completed__exact": "1"}).content.decode()
    assert "ORD-1" in page
    page = admin_client.get("/admin/catalog/order/", {"company__id__exact": company.pk, "status__exact": "cancelled"})
    assert "ORD-1" not in page.content.decode()


def test_an_order_shows_its_lines_inline(admin_client, everything):
    page = admin_client.get(f"/admin/catalog/order/{everything['order'].pk}/change/").content.decode()
    assert 'id="lines-group"' in page and "BEANS-1" in page


def _order_form(order, **changes) -> dict:
    line = order.lines.get()
    data = {
        "company": order.company_id,
        "external_id": order.external_id,
        "contact": order.contact_id or "",
        "store": order.store_id or "",
        "status": order.status,
        "completed": "on" if order.completed else "",
        "currency": order.currency,
        "subtotal": order.subtotal,
        "tax": order.tax,
        "shipping": order.shipping,
        "discount": order.discount,
        "total": order.total,
        "placed_at_0": order.placed_at.strftime("%Y-%m-%d"),
        "placed_at_1": order.placed_at.strftime("%H:%M:%S"),
        "shipping_country": "",
        "custom_fields": "{}",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": line.pk,
        "lines-0-order": order.pk,
        "lines-0-position": line.position,
        "lines-0-product": line.product_id or "",
        "lines-0-product_external_id": line.product_external_id,
        "lines-0-product_name": line.product_name,
        "lines-0-quantity": line.quantity,
        "lines-0-unit_price": line.unit_price,
        "lines-0-discount": line.discount,
        "lines-0-tax": line.tax,
        "lines-0-line_total": line.line_total,
        "lines-0-currency": line.currency,
    }
    data.update(changes)
    return data


def test_saving_an_order_refreshes_the_facts_of_its_old_and_new_contact(admin_client, everything, company):
    order = everything["order"]
    ann = order.contact
    bob = ContactFactory(company=company, email="bob@example.com")
    response = admin_client.post(
        f"/admin/catalog/order/{order.pk}/change/", _order_form(order, contact=bob.pk, total="80.00")
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    assert CommerceFacts.objects.get(contact=bob).total_spent == Decimal("80.00")
    assert CommerceFacts.objects.get(contact=ann).order_count == 0


def test_an_order_cannot_name_another_companys_contact_store_or_product(admin_client, everything, other_company):
    order = everything["order"]
    rival = ContactFactory(company=other_company)
    rival_store = StoreFactory(company=other_company)
    rival_product = ProductFactory(catalog__company=other_company)
    response = admin_client.post(
        f"/admin/catalog/order/{order.pk}/change/",
        _order_form(order, contact=rival.pk, store=rival_store.pk, **{"lines-0-product": rival_product.pk}),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert page.count("belongs to another company") == 3
    order.refresh_from_db()
    assert order.contact_id == everything["order"].contact_id and order.store_id == everything["store"].pk


def test_an_order_added_in_the_admin_is_marked_so(admin_client, company):
    contact = ContactFactory(company=company)
    data = {
        "company": company.pk,
        "external_id": "ADMIN-1",
        "contact": contact.pk,
        "status": "completed",
        "completed": "on",
        "currency": "EUR",
        "subtotal": "10",
        "tax": "0",
        "shipping": "0",
        "discount": "0",
        "total": "10",
        "placed_at_0": "2026-01-02",
        "placed_at_1": "10:00:00",
        "custom_fields": "{}",
        "lines-TOTAL_FORMS": "0",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post("/admin/catalog/order/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Order.objects.get(external_id="ADMIN-1").source == OrderSource.ADMIN
    assert CommerceFacts.objects.get(contact=contact).total_spent == Decimal("10.00")


def test_deleting_orders_refreshes_the_facts(admin_client, everything):
    order = everything["order"]
    response = admin_client.post(
        "/admin/catalog/order/", {"action": "delete_selected", "_selected_action": [order.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not OrderLine.objects.filter(order_id=order.pk).exists()
    assert CommerceFacts.objects.get(contact=order.contact).order_count == 0


def test_a_collection_item_stays_in_its_collections_company_and_catalog(admin_client, everything, other_company):
    item = everything["collectionitem"]
    rival = ContactFactory(company=other_company)
    other_product = ProductFactory(catalog__company=item.collection.company)  # another catalog
    response = admin_client.post(
        f"/admin/catalog/collectionitem/{item.pk}/change/",
        {
            "collection": item.collection_id,
            "contact": rival.pk,
            "product": other_product.pk,
            "added_at_0": "2026-01-01",
            "added_at_1": "00:00:00",
        },
    )
    page = response.content.decode()
    assert response.status_code == 200 and "another company" in page and "not in the collection" in page


def test_facts_are_read_only_and_can_be_recomputed(admin_client, everything):
    facts = everything["commercefacts"]
    CommerceFacts.objects.filter(pk=facts.pk).update(total_spent=Decimal("999.00"))
    assert admin_client.get("/admin/catalog/commercefacts/add/").status_code == 403
    response = admin_client.post(
        "/admin/catalog/commercefacts/", {"action": "recompute_facts", "_selected_action": [facts.pk]}
    )
    assert response.status_code == 302
    facts.refresh_from_db()
    assert facts.total_spent == everything["order"].total


def test_big_lists_make_a_fixed_number_of_queries(admin_client, company, django_assert_max_num_queries):
    catalog = ProductCatalogFactory(company=company)
    for _ in range(50):
        product = ProductFactory(catalog=catalog)
        contact = ContactFactory(company=company)
        CollectionItemFactory(collection__catalog=catalog, contact=contact, product=product)
        order = OrderFactory(company=company, contact=contact, store=StoreFactory(company=company))
        OrderLine.objects.create(order=order, product=product, product_external_id=product.product_id)
        SubscriptionFactory(company=company, contact=contact)
        refresh_commerce_facts(company_id=company.pk, contact_ids=[contact.pk])
    for name in ["product", "collectionitem", "order", "orderline", "subscription", "commercefacts", "store"]:
        admin_client.get(f"/admin/catalog/{name}/")
        with django_assert_max_num_queries(12):
            response = admin_client.get(f"/admin/catalog/{name}/")
        assert response.status_code == 200, name


@pytest.mark.postgres
def test_an_unfiltered_big_list_is_counted_from_the_statistics(company, monkeypatch):
    """On PostgreSQL an unfiltered list takes its count from pg_class.reltuples (no COUNT(*)); a
    filtered one is counted."""
    for _ in range(3):
        OrderFactory(company=company)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_order")
        cursor.execute("UPDATE pg_class SET reltuples = 123456 WHERE oid = 'catalog_order'::regclass")
    paginator = catalog_admin.EstimatedCountPaginator(Order.objects.all(), 50)
    assert paginator.count == 123456
    assert catalog_admin.EstimatedCountPaginator(Order.objects.filter(company=company), 50).count == 3
    # A small table is counted exactly, whatever its statistics say.
    monkeypatch.setattr(catalog_admin, "EXACT_COUNT_UNDER", 10**9)
    assert catalog_admin.EstimatedCountPaginator(Order.objects.all(), 50).count == 3
