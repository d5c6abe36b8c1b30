"""A contact's erase (DELETE /api/contacts/{id}) reaches their events and orders: the rows stay,
linked and countable, and keep the commerce facts, never who the person was or where they live.
Other contacts' rows, in the company and in another, are not touched."""

import pytest

from catalog.models import Order, OrderLine
from contacts.models import Contact
from events.models import Event

pytestmark = pytest.mark.django_db

PERSON = {"email": "ann@example.com", "customer_id": "C-1", "first_name": "Ann", "last_name": "Lee"}
ITEMS = [{"product_id": "P-1", "name": "Mug", "price": 9.5, "quantity": 2, "gift_message": "For Ann, 12 Rue X"}]


def track(api, event_type: str, data: dict) -> int:
    response = api.post("/api/events", {"event_type": event_type, "event_data": data})
    assert response.status_code == 201, response.content
    return response.json()["event_id"]


def order(api, email: str, external_id: str) -> None:
    body = {
        "external_id": external_id,
        "email": email,
        "total": 19.0,
        "currency": "EUR",
        "shipping_address": "12 Rue de la Paix",
        "shipping_city": "Paris",
        "shipping_zip": "75002",
        "shipping_country": "FR",
        "tracking_number": "1Z999",
        "custom_fields": {"note": "Leave with the neighbour, Mrs Lee"},
        "lines": [{"product_id": "P-1", "unit_price": 19.0, "quantity": 1, "custom_fields": {"engraving": "Ann"}}],
    }
    response = api.post("/api/orders", body)
    assert response.status_code == 201, response.content


def test_an_erased_contacts_events_and_orders_keep_their_facts_not_the_person(api, other_api):
    placed = track(api, "order_placed", {**PERSON, "order_id": "O-1", "total": 19.0, "items": ITEMS})
    custom = track(api, "loyalty_tier_changed", {**PERSON, "tier": "gold", "home_address": "12 Rue de la Paix"})
    external = track(api, "PURCHASE", {**PERSON, "value": 5, "currency": "EUR", "details": "Ann's gift"})
    order(api, PERSON["email"], "O-1")
    kept = track(api, "order_placed", {"email": "bob@example.com", "first_name": "Bob", "order_id": "O-2", "total": 1})
    order(api, "bob@example.com", "O-2")
    elsewhere = other_api.post(
        "/api/events", {"event_type": "order_placed", "event_data": {**PERSON, "order_id": "O-1", "total": 1}}
    )
    assert elsewhere.status_code == 201
    contact = Contact.objects.get(pk=Event.objects.get(pk=placed).contact_id)

    assert api.delete(f"/api/contacts/{contact.pk}").status_code == 200

    events = {event.pk: event for event in Event.objects.filter(contact=contact)}
    assert set(events) == {placed, custom, external}  # still linked, still countable
    assert events[placed].data == {
        "order_id": "O-1",
        "total": 19.0,
        "items": [{"product_id": "P-1", "name": "Mug", "price": 9.5, "quantity": 2}],
    }
    assert str(events[placed].value) == "19.00"
    assert events[custom].data == {}
    assert events[external].data == {"value": 5, "currency": "EUR"}
    stored = Order.objects.get(contact=contact)
    assert (stored.shipping_address, stored.shipping_city, stored.shipping_zip, stored.tracking_number) == ("",) * 4
    assert stored.custom_fields == {} and str(stored.total) == "19.00" and stored.shipping_country == "FR"
    assert [line.custom_fields for line in OrderLine.objects.filter(order=stored)] == [{}]
    assert "ann" not in str(list(Event.objects.filter(contact=contact).values_list("data", flat=True))).lower()

    # Bob, and the other company's Ann, are untouched.
    assert Event.objects.get(pk=kept).data["first_name"] == "Bob"
    bob_order = Order.objects.get(external_id="O-2")
    assert bob_order.shipping_address == "12 Rue de la Paix" and bob_order.custom_fields
    other = Event.objects.get(pk=elsewhere.json()["event_id"])
    assert other.data["email"] == PERSON["email"] and other.data["first_name"] == "Ann"
