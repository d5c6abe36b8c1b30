"""Orders and open carts in the API: GET/POST /api/orders, POST /api/orders/batch,
GET/PUT/PATCH /api/orders/{external_id}."""

import json
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.db import connection

from catalog.models import Order
from contacts.models import Contact, ContactStatus
from tests.conftest import make_api_client
from tests.factories import ContactFactory, OrderFactory, StoreFactory

pytestmark = pytest.mark.django_db

# The Splio Data API 1.9's abandoned basket, in this API's field names.
CART = {
    "external_id": "54291632",
    "email": "jdoe@test.com",
    "store_id": "1",
    "shipping": 5.00,
    "total": 96.00,
    "completed": 0,
    "tax": 1.00,
    "currency": "EUR",
    "salesperson": "Tom",
    "custom_fields": {"subtotal": "29.00", "order_type": "order"},
    "lines": [
        {
            "product_id": "B00BIYAO3K",
            "unit_price": 91.00,
            "quantity": 1.00,
            "discount": 3.00,
            "tax": 2.00,
            "line_total": 91.00,
            "currency": "EUR",
            "custom_fields": {"type": "best seller"},
        }
    ],
}


@pytest.fixture
def store(company):
    return StoreFactory(company=company, external_id="1", name="Versailles Flagship Store")


def _raw(api, method, path, text):
    """A body sent as written: JSON numbers exactly as typed."""
    return api.request(method, path, text, content_type="application/json")


def test_create_an_open_cart_and_read_it_back_with_lines_and_contact(api, store):
    response = api.post("/api/orders", CART)
    assert response.status_code == 201, response.content
    order = response.json()
    contact = Contact.objects.get(email="jdoe@test.com")
    assert order["contact_id"] == contact.pk and order["store_id"] == "1"
    assert order["completed"] is False and order["status"] == "pending" and order["completed_at"] is None
    assert (order["total"], order["shipping"], order["tax"]) == ("96.00", "5.00", "1.00")
    assert order["lines"] == [
        {
            "product_id": "B00BIYAO3K",
            "catalog_product_id": None,
            "product_name": "",
            "quantity": "1.000",
            "unit_price": "91.00",
            "discount": "3.00",
            "tax": "2.00",
            "line_total": "91.00",
            "currency": "EUR",
            "custom_fields": {"type": "best seller"},
        }
    ]
    assert api.get("/api/orders/54291632").json() == order


def test_completing_an_open_cart_with_order_fields_only(api, store):
    api.post("/api/orders", CART)
    # The Splio Data API 1.9's example of an update of the order fields only.
    response = api.put("/api/orders/54291632", {"email": "news@s3s.fr", "completed": 1})
    assert response.status_code == 200, response.content
    order = response.json()
    assert order["completed"] is True and order["status"] == "completed" and order["completed_at"]
    assert order["contact_id"] == Contact.objects.get(email="news@s3s.fr").pk
    assert len(order["lines"]) == 1 and order["total"] == "96.00"  # the lines and other fields stay


def test_put_and_patch_with_lines_replace_all_lines(api, store):
    api.post("/api/orders", CART)
    lines = [{"product_id": "A", "unit_price": "1.50", "quantity": 2}, {"product_id": "B"}]
    response = api.patch("/api/orders/54291632", {"lines": lines})
    assert [line["product_id"] for line in response.json()["lines"]] == ["A", "B"]
    assert response.json()["lines"][0]["line_total"] == "3.00"
    response = api.put("/api/orders/54291632", {"lines": [{"product_id": "C"}], "tracking_number": "1Z"})
    assert [line["product_id"] for line in response.json()["lines"]] == ["C"]
    assert response.json()["tracking_number"] == "1Z" and response.json()["salesperson"] == "Tom"


def test_post_of_a_known_external_id_updates_it(api, store):
    assert api.post("/api/orders", CART).status_code == 201
    again = api.post("/api/orders", {"external_id": "54291632", "status": "processing"})
    assert again.status_code == 200 and again.json()["status"] == "processing"
    assert Order.objects.count() == 1


def test_money_keeps_every_digit_of_the_json_text(api):
    body = '{"external_id": "BIG", "email": "big@example.com", "total": 1234567890123.45, "tax": 0.1}'
    response = _raw(api, "POST", "/api/orders", body)
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "1234567890123.45" and response.json()["tax"] == "0.10"


@pytest.mark.postgres
def test_money_keeps_19_digits_and_cents_on_postgresql(api):
    body = '{"external_id": "HUGE", "email": "huge@example.com", "total": 9999999999999999999.99}'
    response = _raw(api, "POST", "/api/orders", body)
    assert response.status_code == 201, response.content
    assert response.json()["total"] == "9999999999999999999.99"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"total": 1.999}, "total"),
        ({"total": -5}, "total"),
        ({"total": 1e20}, "total"),
        ({"currency": "EURO"}, "currency"),
        ({"status": "lost"}, "status"),
        ({"completed": "no"}, "completed"),
        ({"placed_at": "yesterday"}, "placed_at"),
        ({"store_id": "999"}, "store_id"),
        ({"contact_id": 2**62}, "contact_id"),
        ({"lines": [{"product_id": "P", "quantity": -1}]}, "lines[0].quantity"),
        ({"lines": "none"}, "lines"),
        ({"unknown_field": 1}, "unknown_field"),
    ],
)
def test_a_bad_order_is_a_400_naming_the_field(api, store, change, field):
    response = api.post("/api/orders", {**CART, **change})
    assert response.status_code == 400, response.content
    assert field in response.json()["details"]
    assert not Order.objects.exists()


def test_a_new_order_needs_its_contact_and_an_update_does_not(api):
    response = api.post("/api/orders", {"external_id": "X"})
    assert response.status_code == 400 and "contact_id" in response.json()["details"]
    api.post("/api/orders", {"external_id": "X", "customer_id": 2186, "phone": "555-0123"})
    contact = Contact.objects.get(external_id="2186")
    assert (contact.phone, contact.phone_valid) == ("555-0123", False)
    assert api.patch("/api/orders/X", {"promo_code": "SAVE10"}).json()["contact_id"] == contact.pk


def test_an_unsubscribed_buyer_stays_unsubscribed(api, company):
    buyer = ContactFactory(company=company, email="quiet@example.com", status=ContactStatus.UNSUBSCRIBED)
    response = api.post("/api/orders", {"external_id": "Q", "email": "quiet@example.com"})
    assert response.json()["contact_id"] == buyer.pk
    buyer.refresh_from_db()
    assert buyer.status == ContactStatus.UNSUBSCRIBED


def test_an_external_id_with_any_characters_and_one_named_batch(api):
    for external_id in ("A/1 b?c#d", "batch", "ü%"):
        assert api.post("/api/orders", {"external_id": external_id, "email": "e@example.com"}).status_code == 201
        got = api.get("/api/orders/" + quote(external_id, safe=""))
        assert got.status_code == 200 and got.json()["external_id"] == external_id
        patched = api.patch("/api/orders/" + quote(external_id, safe=""), {"promo_code": "P"})
        assert patched.status_code == 200 and patched.json()["promo_code"] == "P"
    assert api.get("/api/orders/none-such").status_code == 404
    assert api.put("/api/orders/none-such", {"promo_code": "P"}).status_code == 404


def test_list_filters_newest_first(api, company, store):
    alice = ContactFactory(company=company)
    bob = ContactFactory(company=company)
    when = [datetime(2025, 12, day, 10, tzinfo=UTC) for day in (1, 8, 9)]
    OrderFactory(company=company, contact=alice, external_id="old", placed_at=when[0], store=store)
    OrderFactory(
        company=company, contact=alice, external_id="cart", placed_at=when[1], completed=False, status="pending"
    )
    OrderFactory(company=company, contact=bob, external_id="new", placed_at=when[2], status="shipped")

    def ids(**query):
        response = api.get("/api/orders", query)
        assert response.status_code == 200, response.content
        return [order["external_id"] for order in response.json()["orders"]]

    assert ids() == ["new", "cart", "old"]
    assert ids(contact_id=alice.pk) == ["cart", "old"]
    assert ids(status="shipped") == ["new"]
    assert ids(completed="false") == ["cart"]
    assert ids(completed="true") == ["new", "old"]
    assert ids(store_id="1") == ["old"]
    assert ids(date_from="2025-12-08") == ["new", "cart"]
    assert ids(date_to="2025-12-08") == ["cart", "old"]  # a date is that whole day
    assert ids(date_from="2025-12-08T12:00:00Z", date_to="2025-12-09T10:00:01+00:00") == ["new"]
    assert ids(per_page=1, page=2) == ["cart"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"date_from": "2025-13-01"}, "date_from"),
        ({"date_to": "tomorrow"}, "date_to"),
        ({"status": "lost"}, "status"),
        ({"completed": "maybe"}, "completed"),
        ({"contact_id": "x"}, "contact_id"),
        ({"per_page": 101}, "per_page"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(api, query, field):
    response = api.get("/api/orders", query)
    assert response.status_code == 400
    assert field in response.json()["details"]


def test_batch_answers_one_result_per_item(api, store):
    items = [
        {"external_id": "B1", "email": "b1@example.com", "total": 10},
        {"external_id": "B2", "total": "abc", "email": "b2@example.com"},
        {"external_id": "B1", "total": 10},
        "not an order",
        {"external_id": "B3", "customer_id": "C3", "store_id": "nope"},
    ]
    response = api.post("/api/orders/batch", {"orders": items})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [result["status"] for result in body["results"]] == ["created", "invalid", "created", "invalid", "invalid"]
    assert "total" in body["results"][1]["errors"] and "store_id" in body["results"][4]["errors"]
    assert (body["created"], body["invalid"]) == (2, 3)
    again = api.post("/api/orders/batch", {"orders": [items[0]]}).json()
    assert again["results"][0]["status"] == "unchanged" and again["unchanged"] == 1


@pytest.mark.parametrize("body", [{"orders": []}, {"orders": [{}] * 101}, {"orders": "x"}, {"items": []}])
def test_a_batch_of_no_or_too_many_orders_is_a_400(api, body):
    response = api.post("/api/orders/batch", body)
    assert response.status_code == 400 and "orders" in response.json()["details"]


def test_a_100_order_batch_costs_a_bounded_number_of_queries(api, company, store, django_assert_max_num_queries):
    ContactFactory(company=company, email="known@example.com")
    orders = [
        {
            "external_id": f"N-{n}",
            "email": "known@example.com" if n % 2 else f"new{n}@example.com",
            "store_id": "1",
            "lines": [{"product_id": f"P{n}", "unit_price": 5}, {"product_id": "P0", "quantity": 2}],
        }
        for n in range(100)
    ]
    # Authentication, the orders, stores, products, contacts (lookup + bulk upsert), inserts, facts:
    # 25 on SQLite, 21 on PostgreSQL, whatever the batch's size.
    with django_assert_max_num_queries(30):
        response = api.post("/api/orders/batch", {"orders": orders})
    assert response.json()["created"] == 100
    updates = [{"external_id": f"N-{n}", "status": "shipped", "lines": [{"product_id": "P1"}]} for n in range(100)]
    with django_assert_max_num_queries(20):  # 16 on SQLite, 13 on PostgreSQL
        response = api.post("/api/orders/batch", {"orders": updates})
    assert response.json()["updated"] == 100
    with django_assert_max_num_queries(6):  # a repeat changes nothing: read, compare, answer
        response = api.post("/api/orders/batch", {"orders": updates})
    assert response.json()["unchanged"] == 100
    assert Order.objects.get(external_id="N-5").lines.count() == 1


def test_another_company_cannot_see_or_touch_our_orders(api, other_api, company, store):
    api.post("/api/orders", CART)
    assert other_api.get("/api/orders").json()["orders"] == []
    for method in ("get", "put", "patch"):
        response = getattr(other_api, method)("/api/orders/54291632", {"total": 1} if method != "get" else None)
        assert response.status_code == 404, method
    ours = Contact.objects.get(email="jdoe@test.com")
    # Our contact and our store are not theirs to name.
    refused = other_api.post("/api/orders", {"external_id": "T", "contact_id": ours.pk})
    assert refused.status_code == 400 and "contact_id" in refused.json()["details"]
    refused = other_api.post("/api/orders", {"external_id": "T", "email": "x@example.com", "store_id": "1"})
    assert refused.status_code == 400 and "store_id" in refused.json()["details"]
    # The same external id in their company is their own order.
    batch = other_api.post("/api/orders/batch", {"orders": [{"external_id": "54291632", "email": "t@example.com"}]})
    assert batch.json()["results"][0]["status"] == "created"
    assert Order.objects.get(company=company).total == 96


def test_scopes(company):
    reader = make_api_client(company, scopes=["catalog:read"])
    outsider = make_api_client(company, scopes=["events:write"])
    OrderFactory(company=company, external_id="R")
    assert reader.get("/api/orders").status_code == 200
    assert reader.get("/api/orders/R").status_code == 200
    for method, path in (("post", "/api/orders"), ("post", "/api/orders/batch"), ("patch", "/api/orders/R")):
        assert getattr(reader, method)(path, {"external_id": "R"}).status_code == 403
    assert outsider.get("/api/orders").status_code == 403


def test_options_describes_the_endpoints(api):
    for path in ("/api/orders", "/api/orders/batch", "/api/stores"):
        response = api.request("OPTIONS", path)
        assert response.status_code == 200 and json.loads(response.content)["name"]
    assert connection.vendor in ("sqlite", "postgresql")
