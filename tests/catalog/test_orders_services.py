"""Orders, open carts and contact resolution through the services (catalog.services.orders,
catalog.customers)."""

from decimal import Decimal

import pytest
from django.db import connection

from catalog.customers import resolve_contacts
from catalog.models import CommerceFacts, Order, OrderStatus
from catalog.services.orders import order_upsert_batch
from contacts.models import Contact, ContactStatus
from tests.factories import ContactFactory, ProductCatalogFactory, ProductFactory, StoreFactory

pytestmark = pytest.mark.django_db


def _order(external_id="O-1", **fields):
    return {"external_id": external_id, "email": "buyer@example.com", **fields}


def _one(company, item):
    [result] = order_upsert_batch(company=company, items=[item])
    return result


# --- Contact resolution ---------------------------------------------------------------------------


def test_resolve_finds_by_contact_id_then_email_then_customer_id(company):
    by_email = ContactFactory(company=company, email="known@example.com")
    by_customer = ContactFactory(company=company, email="other@example.com", external_id="C-7")
    ids = resolve_contacts(
        company=company,
        refs=[
            {"contact_id": by_customer.pk, "email": "known@example.com"},
            {"email": "KNOWN@example.com ", "customer_id": "C-7"},
            {"customer_id": "C-7"},
            {"customer_id": 7, "email": "nobody@example.com"},
        ],
        create=False,
    )
    assert ids == [by_customer.pk, by_email.pk, by_customer.pk, None]


def test_resolve_creates_missing_contacts_once_with_external_id_and_an_invalid_phone(company):
    ids = resolve_contacts(
        company=company,
        refs=[
            {"email": "new@example.com", "customer_id": 2186, "first_name": "Jane", "phone": "555-0123"},
            {"email": "new@example.com"},
            {"customer_id": "only-id"},
        ],
    )
    assert ids[0] == ids[1] and ids[2] and ids[0] != ids[2]
    jane = Contact.objects.get(pk=ids[0])
    assert (jane.email, jane.external_id, jane.first_name) == ("new@example.com", "2186", "Jane")
    assert (jane.phone, jane.phone_valid) == ("555-0123", False)
    assert Contact.objects.get(pk=ids[2]).external_id == "only-id"


def test_resolve_never_resubscribes_and_never_finds_another_company(company, other_company):
    gone = ContactFactory(company=company, email="gone@example.com", status=ContactStatus.UNSUBSCRIBED)
    theirs = ContactFactory(company=other_company, email="theirs@example.com")
    ids = resolve_contacts(
        company=company, refs=[{"email": "gone@example.com", "first_name": "Back"}, {"contact_id": theirs.pk}]
    )
    assert ids == [gone.pk, None]
    gone.refresh_from_db()
    assert gone.status == ContactStatus.UNSUBSCRIBED
    assert gone.first_name == "Back"  # a name it lacked is filled in


# --- Orders ---------------------------------------------------------------------------------------


def test_create_links_contact_store_and_catalog_products_and_computes_totals(company):
    store = StoreFactory(company=company, external_id="S1")
    catalog = ProductCatalogFactory(company=company, is_default=True)
    product = ProductFactory(company=company, catalog=catalog, product_id="P1")
    result = _one(
        company,
        _order(
            store_id="S1",
            currency="EUR",
            shipping=Decimal("5.00"),
            lines=[
                {"product_id": "P1", "quantity": 2, "unit_price": Decimal("10.50")},
                {"product_id": "unknown", "product_name": "Gift card", "unit_price": "20"},
            ],
        ),
    )
    assert result.status == "created", result.errors
    order = Order.objects.get(pk=result.order_id)
    assert order.store == store and order.contact.email == "buyer@example.com"
    assert (order.subtotal, order.total) == (Decimal("41.00"), Decimal("46.00"))
    assert order.completed and order.status == OrderStatus.COMPLETED and order.completed_at == order.placed_at
    lines = list(order.lines.order_by("position"))
    assert [(line.product_id, line.product_external_id, line.line_total) for line in lines] == [
        (product.pk, "P1", Decimal("21.00")),
        (None, "unknown", Decimal("20.00")),
    ]
    assert lines[0].currency == "EUR"


def test_lines_given_replace_all_lines_and_order_fields_alone_are_patched(company):
    _one(company, _order(total="10", lines=[{"product_id": "A"}, {"product_id": "B"}]))
    result = _one(company, {"external_id": "O-1", "tracking_number": "1Z999"})
    assert result.status == "updated"
    order = Order.objects.get(external_id="O-1")
    assert order.tracking_number == "1Z999" and order.total == Decimal("10.00")
    assert [line.product_external_id for line in order.lines.all()] == ["A", "B"]

    result = _one(company, {"external_id": "O-1", "lines": [{"product_id": "C", "unit_price": 3}]})
    assert result.status == "updated"
    assert [line.product_external_id for line in order.lines.all()] == ["C"]
    assert _one(company, {"external_id": "O-1", "lines": [{"product_id": "C", "unit_price": 3}]}).status == "unchanged"
    assert _one(company, {"external_id": "O-1", "lines": []}).status == "updated"
    assert not order.lines.exists()


def test_open_cart_is_completed_with_completed_at_and_status(company):
    result = _one(company, _order("CART-1", completed=0, total=Decimal("96.00")))
    cart = Order.objects.get(pk=result.order_id)
    assert not cart.completed and cart.status == OrderStatus.PENDING and cart.completed_at is None
    _one(company, {"external_id": "CART-1", "completed": 1})
    cart.refresh_from_db()
    assert cart.completed and cart.status == OrderStatus.COMPLETED and cart.completed_at is not None


def test_an_order_moves_to_another_contact(company):
    first = _one(company, _order("M-1", email="a@example.com"))
    moved = _one(company, {"external_id": "M-1", "customer_id": "C-9"})
    assert moved.status == "updated" and moved.contact_id != first.contact_id
    assert Order.objects.get(external_id="M-1").contact.external_id == "C-9"


@pytest.mark.parametrize(
    ("item", "field"),
    [
        ({"email": "x@example.com"}, "external_id"),
        ({"external_id": "N-1"}, "contact_id"),
        (_order(total=-1), "total"),
        (_order(total="1.999"), "total"),
        (_order(total=Decimal("1.999")), "total"),
        (_order(total=Decimal("1" + "0" * 19)), "total"),
        (_order(total=1.5e20), "total"),
        (_order(currency="XXY"), "currency"),
        (_order(status="lost"), "status"),
        (_order(completed="yes"), "completed"),
        (_order(placed_at="2024-13-01T00:00:00Z"), "placed_at"),
        (_order(store_id="nowhere"), "store_id"),
        (_order(lines=[{"quantity": 1}]), "lines[0].product_id"),
        (_order(lines=[{"product_id": "P", "unit_price": "abc"}]), "lines[0].unit_price"),
        (_order(shipping_country="USA"), "shipping_country"),
        (_order(colour="red"), "colour"),
        (_order(email="not-an-address"), "email"),
    ],
)
def test_a_bad_item_names_its_field_and_never_sinks_the_others(company, item, field):
    good, bad = order_upsert_batch(company=company, items=[_order("GOOD"), item])
    assert good.status == "created"
    assert bad.status == "invalid" and field in bad.errors, bad.errors


@pytest.mark.postgres
def test_money_is_exact_to_19_digits_and_cents(company):
    big = Decimal("9999999999999999999.99")
    result = _one(company, _order(total=big, subtotal="1234567890123456789.12"))
    order = Order.objects.get(pk=result.order_id)
    assert order.total == big and order.subtotal == Decimal("1234567890123456789.12")


def test_money_on_sqlite_is_exact_to_15_digits_and_refused_beyond(company):
    if connection.vendor != "sqlite":
        pytest.skip("the embedded SQLite's limit")
    result = _one(company, _order(total="9999999999999.99"))
    assert Order.objects.get(pk=result.order_id).total == Decimal("9999999999999.99")
    assert "total" in _one(company, _order("O-2", total="10000000000000")).errors


def test_splio_date_form_is_read_as_utc(company):
    result = _one(company, _order(placed_at="2015-11-23 18:09:19"))
    assert Order.objects.get(pk=result.order_id).placed_at.isoformat() == "2015-11-23T18:09:19+00:00"


def test_same_external_id_twice_in_a_batch_updates_what_the_first_wrote(company):
    first, second = order_upsert_batch(
        company=company, items=[_order("D-1", total=1), {"external_id": "D-1", "total": 2}]
    )
    assert first.order_id == second.order_id
    assert Order.objects.get(external_id="D-1").total == Decimal("2.00")


def test_companies_keep_their_own_orders_under_the_same_external_id(company, other_company):
    ours = _one(company, _order("SAME", total=1))
    theirs = _one(other_company, _order("SAME", total=2))
    assert ours.order_id != theirs.order_id
    assert Order.objects.get(pk=ours.order_id).total == Decimal("1.00")


def test_an_erased_contacts_orders_keep_their_sums(company):
    result = _one(company, _order("E-1", total=50))
    Contact.objects.filter(pk=result.contact_id).update(erased_at="2025-01-01T00:00:00Z", email="")
    assert _one(company, {"external_id": "E-1", "tracking_number": "T"}).status == "updated"
    order = Order.objects.get(external_id="E-1")
    assert order.contact_id == result.contact_id and order.total == Decimal("50.00")


# --- Commerce facts (catalog.commerce.refresh_commerce_facts, called in the same transaction) ------


def test_commerce_facts_follow_creates_carts_cancellations_and_moves(company):
    first = _one(company, _order("F-1", email="a@example.com", total=30))
    _one(company, _order("F-2", email="a@example.com", total=20))
    _one(company, _order("CART", email="a@example.com", total=7, completed=False))
    alice = CommerceFacts.objects.get(contact_id=first.contact_id)
    assert (alice.total_spent, alice.order_count, alice.open_cart_value) == (Decimal("50.00"), 2, Decimal("7.00"))

    _one(company, {"external_id": "F-2", "status": "cancelled"})
    _one(company, {"external_id": "CART", "completed": True})
    alice.refresh_from_db()
    assert (alice.total_spent, alice.order_count, alice.open_cart_value) == (Decimal("37.00"), 2, Decimal("0.00"))

    moved = _one(company, {"external_id": "F-1", "email": "b@example.com"})
    alice.refresh_from_db()
    assert (alice.total_spent, alice.order_count) == (Decimal("7.00"), 1)
    assert CommerceFacts.objects.get(contact_id=moved.contact_id).total_spent == Decimal("30.00")


def test_a_new_order_whose_contact_was_in_a_failed_earlier_item_is_not_created_without_one(company):
    first, second = order_upsert_batch(
        company=company,
        items=[{"external_id": "L-1", "contact_id": 999999}, {"external_id": "L-1", "total": 5}],
    )
    assert first.status == "invalid" and second.status == "invalid" and "contact_id" in second.errors
    assert not Order.objects.exists()
