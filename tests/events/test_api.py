"""POST /api/events, POST /api/events/batch, GET /api/events, GET /api/contacts/{id}/events."""

import json
from decimal import Decimal

import pytest

from contacts.models import Contact, ContactStatus
from events.models import Event, EventSource
from tests.conftest import make_api_client

pytestmark = pytest.mark.django_db

REQUIRED = {
    "customer_created": {"email": "jane@example.com", "first_name": "Jane", "last_name": "Smith"},
    "order_placed": {"order_id": "ORD-1", "email": "jane@example.com", "total": 149.99},
    "order_completed": {"order_id": "ORD-1", "email": "jane@example.com"},
    "cart_abandoned": {"email": "jane@example.com", "cart_total": 20.5, "items": [{"product_id": "P", "price": 20.5}]},
    "product_viewed": {"email": "jane@example.com", "product_id": "PROD-1", "product_name": "Headphones"},
    "subscription_created": {"email": "jane@example.com", "subscription_id": "SUB-1", "plan": "gold"},
    "subscription_cancelled": {"email": "jane@example.com", "subscription_id": "SUB-1"},
}


def track(api, body, **headers):
    return api.post("/api/events", json.dumps(body), headers=headers or None)


def assert_refused(response, *paths):
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["code"], body["error"]) == (400, "Validation failed")
    for path in paths:
        assert path in body["details"], body


@pytest.mark.parametrize("event_type", REQUIRED)
def test_each_documented_type_is_stored_with_its_required_data(api, company, event_type):
    response = track(api, {"event_type": event_type, "event_data": REQUIRED[event_type]})
    assert response.status_code == 201, response.content
    body = response.json()
    event = Event.objects.get(pk=body["event_id"])
    assert (event.company_id, event.event_type, event.contact_id) == (company.pk, event_type, body["contact_id"])
    assert event.data == REQUIRED[event_type]


@pytest.mark.parametrize(
    ("event_type", "field"), [(event_type, field) for event_type, data in REQUIRED.items() for field in data]
)
def test_each_required_field_missing_is_a_400_naming_it(api, event_type, field):
    data = {name: value for name, value in REQUIRED[event_type].items() if name != field}
    assert_refused(track(api, {"event_type": event_type, "event_data": data}), f"event_data.{field}")
    assert not Event.objects.exists()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ({**REQUIRED["order_placed"], "total": "a lot"}, "event_data.total"),
        ({**REQUIRED["order_placed"], "total": True}, "event_data.total"),
        ({**REQUIRED["order_placed"], "email": "not-an-email"}, "event_data.email"),
        ({**REQUIRED["order_placed"], "order_id": {"id": 1}}, "event_data.order_id"),
        ({**REQUIRED["order_placed"], "items": [1, 2]}, "event_data.items"),
        ({**REQUIRED["order_placed"], "items": [{"price": "x"}]}, "event_data.items[0].price"),
    ],
)
def test_a_mistyped_field_is_a_400_naming_it(api, data, path):
    assert_refused(track(api, {"event_type": "order_placed", "event_data": data}), path)


def test_cart_items_must_be_a_list_of_objects(api):
    data = {**REQUIRED["cart_abandoned"], "items": "two socks"}
    assert_refused(track(api, {"event_type": "cart_abandoned", "event_data": data}), "event_data.items")


def test_money_is_exact(api):
    response = track(api, {"event_type": "order_placed", "event_data": {**REQUIRED["order_placed"], "total": 0.1}})
    event = Event.objects.get(pk=response.json()["event_id"])
    assert event.value == Decimal("0.10")
    # 1234567890.07 is not exactly representable as a float; the JSON text is what counts.
    response = api.post(
        "/api/events",
        '{"event_type": "order_placed", "event_data": {"order_id": "B", "email": "a@example.com", '
        '"total": 1234567890.07}}',
    )
    assert Event.objects.get(pk=response.json()["event_id"]).value == Decimal("1234567890.07")


def test_a_custom_event_type_is_accepted_and_a_bad_name_refused(api):
    data = {"email": "jane@example.com", "tier": "gold"}
    response = track(api, {"event_type": "loyalty_tier_changed", "event_data": data})
    assert response.status_code == 201, response.content
    assert Event.objects.get(pk=response.json()["event_id"]).data == data
    assert_refused(track(api, {"event_type": "Loyalty Tier!", "event_data": data}), "event_type")
    assert_refused(track(api, {"event_type": "x" * 65, "event_data": data}), "event_type")


def test_an_event_needs_a_contact(api):
    assert_refused(
        track(api, {"event_type": "loyalty_tier_changed", "event_data": {"tier": "gold"}}), "event_data.email"
    )


def test_an_upper_case_external_event_carries_details_parameters_value_and_currency(api):
    data = {
        "email": "jane@example.com",
        "details": "Store 5",
        "parameters": {"aisle": 3},
        "value": 12.5,
        "currency": "EUR",
    }
    response = track(api, {"event_type": "PURCHASE", "event_data": data})
    assert response.status_code == 201, response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert (event.event_type, event.value, event.source, event.data) == ("PURCHASE", Decimal("12.50"), "external", data)
    assert_refused(
        track(api, {"event_type": "CART", "event_data": {**data, "currency": "euro"}}), "event_data.currency"
    )


def test_the_salesmanago_v3_sample_body_is_accepted_as_sent(api):
    # SALESmanago API v3's sample, comments removed (JSON has none).
    body = {
        "apiKey": "550e8400-e29b-41d4-a716-446655440000",
        "apiSecret": "s3cr3t_v4lu3",
        "contact": {"email": "customer@example.com"},
        "event": {
            "type": "LOCATION_ENTRY",
            "details": "Downtown Flagship Store",
            "parameters": {"lat": 52.2297, "lon": 21.0122, "radius": "100m"},
        },
    }
    response = track(api, body)
    assert response.status_code == 201, response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert event.event_type == "LOCATION_ENTRY" and event.source == EventSource.EXTERNAL
    assert event.data["parameters"] == {"lat": 52.2297, "lon": 21.0122, "radius": "100m"}
    assert "s3cr3t_v4lu3" not in json.dumps(event.data) and event.contact.email == "customer@example.com"
    purchase = {
        "contact": {"email": "customer@example.com"},
        "event": {"type": "PURCHASE", "value": 99.99, "currency": "PLN"},
    }
    response = track(api, purchase)
    assert Event.objects.get(pk=response.json()["event_id"]).value == Decimal("99.99")
    assert_refused(track(api, {"contact": {}, "event": {"type": "purchase"}}), "contact.email", "event.type")


def test_the_contact_is_found_by_email_else_customer_id_and_created_with_the_names(api, company):
    known = Contact.objects.create(company=company, email="known@example.com", external_id="CUST-1")
    by_email = track(
        api, {"event_type": "order_completed", "event_data": {"order_id": 1, "email": "KNOWN@example.com"}}
    )
    assert by_email.json()["contact_id"] == known.pk
    by_id = track(api, {"event_type": "loyalty_points", "event_data": {"customer_id": "CUST-1", "points": 5}})
    assert by_id.json()["contact_id"] == known.pk
    created = track(
        api,
        {
            "event_type": "customer_created",
            "event_data": {"email": "new@example.com", "first_name": "Ann", "last_name": "Lee", "customer_id": "C-9"},
        },
    )
    assert created.status_code == 201
    contact = Contact.objects.get(pk=created.json()["contact_id"])
    assert (contact.email, contact.first_name, contact.last_name, contact.external_id) == (
        "new@example.com",
        "Ann",
        "Lee",
        "C-9",
    )


def test_names_fill_in_what_the_contact_lacks_and_never_overwrite(api, company):
    contact = Contact.objects.create(company=company, email="a@example.com", first_name="Anna")
    data = {"email": "a@example.com", "first_name": "Ann", "last_name": "Berg"}
    track(api, {"event_type": "customer_created", "event_data": data})
    contact.refresh_from_db()
    assert (contact.first_name, contact.last_name) == ("Anna", "Berg")


def test_an_event_never_resubscribes_an_unsubscribed_contact(api, company):
    contact = Contact.objects.create(company=company, email="gone@example.com", status=ContactStatus.UNSUBSCRIBED)
    response = track(
        api,
        {"event_type": "customer_created", "event_data": {**REQUIRED["customer_created"], "email": "gone@example.com"}},
    )
    assert response.status_code == 201
    contact.refresh_from_db()
    assert contact.status == ContactStatus.UNSUBSCRIBED


def test_a_retry_with_the_idempotency_key_returns_the_same_event(api):
    body = {"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}
    first = track(api, body, **{"Idempotency-Key": "abc-1"})
    again = track(api, body, **{"Idempotency-Key": "abc-1"})
    other = track(api, body, **{"Idempotency-Key": "abc-2"})
    assert first.status_code == again.status_code == other.status_code == 201
    assert again.json()["event_id"] == first.json()["event_id"] != other.json()["event_id"]
    assert (first.json()["duplicate"], again.json()["duplicate"]) == (False, True)
    assert Event.objects.count() == 2
    assert_refused(track(api, body, **{"Idempotency-Key": "has space"}), "Idempotency-Key")


@pytest.mark.parametrize(
    ("event_type", "data"),
    [
        ("order_placed", REQUIRED["order_placed"]),
        ("subscription_cancelled", REQUIRED["subscription_cancelled"]),
        ("page_liked", {"email": "jane@example.com", "event_id": "E-77"}),
    ],
)
def test_a_retry_by_natural_key_counts_once(api, event_type, data):
    first = track(api, {"event_type": event_type, "event_data": data})
    again = track(api, {"event_type": event_type, "event_data": data})
    assert again.status_code == first.status_code == 201
    assert again.json()["event_id"] == first.json()["event_id"]
    assert Event.objects.count() == 1


def test_events_without_a_key_are_each_stored(api):
    body = {"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}
    assert track(api, body).json()["event_id"] != track(api, body).json()["event_id"]


def test_the_write_scope_is_needed_and_the_read_scope_reads(company):
    reader = make_api_client(company, scopes=["events:read"])
    writer = make_api_client(company, scopes=["events:write"])
    body = {"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}
    assert track(reader, body).status_code == 403
    assert track(writer, body).status_code == 201
    assert writer.get("/api/events").status_code == 403
    assert reader.get("/api/events").json()["pagination"]["total"] == 1


# --- Batch ------------------------------------------------------------------------------------------


def test_a_batch_answers_each_item_in_order_and_a_bad_one_sinks_nothing(api):
    events = [
        {"event_type": "order_placed", "event_data": {**REQUIRED["order_placed"], "order_id": "A"}},
        {"event_type": "order_placed", "event_data": {**REQUIRED["order_placed"], "total": "nope", "order_id": "B"}},
        {"event_type": "order_placed", "event_data": {**REQUIRED["order_placed"], "order_id": "A"}},
        {"event_type": "wishlist_added", "event_data": {"email": "x@example.com"}},
    ]
    response = api.post("/api/events/batch", json.dumps({"events": events}))
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == [201, 400, 201, 201]
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert "event_data.total" in body["results"][1]["errors"]
    assert body["results"][2]["event_id"] == body["results"][0]["event_id"] and body["results"][2]["duplicate"]
    assert (body["created"], body["duplicates"], body["failed"]) == (2, 1, 1)
    assert Event.objects.count() == 2


def test_an_item_the_parser_refuses_is_that_items_error_only(api):
    body = (
        '{"events": [{"event_type": "x_y", "event_data": {"email": "a@example.com", "n": 1e400}}, '
        + json.dumps({"event_type": "x_y", "event_data": {"email": "b@example.com"}})
        + "]}"
    )
    response = api.post("/api/events/batch", body)
    assert [r["status"] for r in response.json()["results"]] == [400, 201]


def test_a_batch_of_1001_is_refused_whole_and_1000_accepted(api):
    item = {"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}
    assert_refused(api.post("/api/events/batch", json.dumps({"events": [item] * 1001})), "events")
    assert not Event.objects.exists()
    response = api.post("/api/events/batch", json.dumps({"events": [item] * 1000}))
    assert response.json()["created"] == 1000 and Event.objects.count() == 1000
    assert len({r["contact_id"] for r in response.json()["results"]}) == 1


def test_a_batch_costs_the_same_queries_for_10_or_200_items(api, django_assert_max_num_queries):
    def batch(n, offset):
        return json.dumps(
            {
                "events": [
                    {
                        "event_type": "order_placed",
                        "event_data": {"order_id": f"O{offset + i}", "email": f"c{offset + i}@example.com", "total": 1},
                    }
                    for i in range(n)
                ]
            }
        )

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as small:
        api.post("/api/events/batch", batch(10, 0))
    with CaptureQueriesContext(connection) as large:
        api.post("/api/events/batch", batch(200, 1000))
    assert len(large.captured_queries) <= len(small.captured_queries) + 2


def test_a_batch_with_an_idempotency_key_retries_once(api):
    events = [{"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}] * 3
    first = api.post("/api/events/batch", json.dumps({"events": events}), headers={"Idempotency-Key": "batch-7"})
    again = api.post("/api/events/batch", json.dumps({"events": events}), headers={"Idempotency-Key": "batch-7"})
    ids = [r["event_id"] for r in first.json()["results"]]
    assert len(set(ids)) == 3 and [r["event_id"] for r in again.json()["results"]] == ids
    assert again.json()["duplicates"] == 3 and Event.objects.count() == 3


# --- Reading ----------------------------------------------------------------------------------------


def test_the_list_filters_by_type_contact_email_and_time(api, company):
    track(
        api,
        {"event_type": "order_placed", "event_data": REQUIRED["order_placed"], "occurred_at": "2024-01-10T10:00:00Z"},
    )
    track(
        api,
        {
            "event_type": "product_viewed",
            "event_data": {**REQUIRED["product_viewed"], "email": "b@example.com"},
            "occurred_at": "2024-02-10T10:00:00+01:00",
        },
    )
    jane = Contact.objects.get(email="jane@example.com")

    def types(**query):
        response = api.get("/api/events", query)
        assert response.status_code == 200, response.content
        return [event["event_type"] for event in response.json()["events"]]

    assert types() == ["product_viewed", "order_placed"]
    assert types(event_type="order_placed") == ["order_placed"]
    assert types(contact_id=jane.pk) == ["order_placed"]
    assert types(email="B@example.com") == ["product_viewed"]
    assert types(since="2024-02-01T00:00:00Z") == ["product_viewed"]
    assert types(until="2024-02-01T00:00:00Z") == ["order_placed"]
    body = api.get("/api/events", {"per_page": 1}).json()
    assert body["pagination"] == {"page": 1, "per_page": 1, "total": 2, "total_pages": 2}
    event = body["events"][0]
    assert (
        event["value"] is None
        and event["source"] == "api"
        and event["contact_id"] == Contact.objects.get(email="b@example.com").pk
    )
    assert types(email="") == ["product_viewed", "order_placed"]  # empty: no filter
    assert_refused(api.get("/api/events", {"since": "yesterday"}), "since")
    assert_refused(api.get("/api/events", {"until": "2024-13-01T00:00:00Z"}), "until")
    assert_refused(api.get("/api/events", {"since": "0001-01-01T00:00:00+23:59"}), "since")
    assert_refused(api.get("/api/events", {"contact_id": "x"}), "contact_id")


def test_a_contacts_events_are_its_timeline(api, company):
    first = track(api, {"event_type": "order_placed", "event_data": REQUIRED["order_placed"]}).json()
    track(api, {"event_type": "product_viewed", "event_data": {**REQUIRED["product_viewed"], "email": "z@example.com"}})
    response = api.get(f"/api/contacts/{first['contact_id']}/events")
    assert response.status_code == 200
    assert [event["event_id"] for event in response.json()["events"]] == [first["event_id"]]
    assert response.json()["events"][0]["value"] == "149.99"
    assert api.get("/api/contacts/999999/events").status_code == 404
    assert api.get("/api/contacts/99999999999999999999999/events").status_code == 404


# --- Tenant isolation -------------------------------------------------------------------------------


def test_another_companys_events_and_contacts_are_invisible(api, other_api, company, other_company):
    mine = track(api, {"event_type": "order_placed", "event_data": REQUIRED["order_placed"]}).json()
    theirs = track(other_api, {"event_type": "order_placed", "event_data": REQUIRED["order_placed"]}).json()
    # The same order id and email in another company is another event and another contact.
    assert theirs["event_id"] != mine["event_id"] and theirs["contact_id"] != mine["contact_id"]
    assert Contact.objects.get(pk=theirs["contact_id"]).company_id == other_company.pk
    assert [e["event_id"] for e in api.get("/api/events").json()["events"]] == [mine["event_id"]]
    assert api.get("/api/events", {"contact_id": theirs["contact_id"]}).json()["events"] == []
    assert api.get(f"/api/contacts/{theirs['contact_id']}/events").status_code == 404
    batch = other_api.post(
        "/api/events/batch",
        json.dumps({"events": [{"event_type": "order_placed", "event_data": REQUIRED["order_placed"]}]}),
    )
    assert batch.json()["results"][0]["event_id"] == theirs["event_id"]
    # An Idempotency-Key is the company's own: the same key elsewhere is another event.
    body = {"event_type": "product_viewed", "event_data": REQUIRED["product_viewed"]}
    assert (
        track(api, body, **{"Idempotency-Key": "k"}).json()["event_id"]
        != track(other_api, body, **{"Idempotency-Key": "k"}).json()["event_id"]
    )


# --- Found by the live schemathesis run -----------------------------------------------------------


def test_an_offset_postgresql_cannot_hold_is_taken_and_stored_in_utc(api):
    """RFC 3339 allows offsets up to 23:59; PostgreSQL refuses beyond 15:59 (it was a 500)."""
    body = {
        "event_type": "page_viewed",
        "event_data": {"email": "far@example.com"},
        "occurred_at": "2024-01-15T10:00:00-20:00",
    }
    response = api.post("/api/events", body)
    assert response.status_code == 201, response.content
    event = Event.objects.get(pk=response.json()["event_id"])
    assert event.occurred_at.isoformat() == "2024-01-16T06:00:00+00:00"
    listed = api.get("/api/events", {"since": "2024-01-15T10:00:00-20:00", "until": "1931-10-08t06:40:10.08-20:00"})
    assert listed.status_code == 200, listed.content
    assert listed.json()["events"] == []


@pytest.mark.parametrize("key", ["a b", None, 42])
def test_a_bad_idempotency_key_in_the_body_is_a_400_even_with_the_header(api, key):
    body = {"event_type": "page_viewed", "event_data": {"email": "k@example.com"}, "idempotency_key": key}
    response = api.post("/api/events", body, headers={"Idempotency-Key": "good-key"})
    assert response.status_code == 400
    assert "idempotency_key" in response.json()["details"]
    assert not Event.objects.exists()


@pytest.mark.parametrize("path", ["/api/events", "/api/events/batch", "/api/contacts/bulk", "/api/contacts"])
def test_options_describes_the_endpoint_instead_of_failing(api, path):
    """OPTIONS on a view that checks its body without a serializer was a 500."""
    response = api.request("OPTIONS", path, {"events": [None]})
    assert response.status_code == 200, response.content
    assert response.json()["name"]


def test_a_total_just_below_the_limit_is_stored_without_overflowing_the_cents_column(api):
    """999999999999.9999 rounds half-even to 10**12, past numeric(14, 2): it was a 500."""
    body = {
        "event_type": "order_placed",
        "event_data": {"order_id": "big", "email": "b@example.com", "total": 999999999999.9999},
    }
    response = api.post("/api/events", body)
    assert response.status_code == 201, response.content
    assert Event.objects.get(pk=response.json()["event_id"]).value == Decimal("999999999999.99")


def test_occurred_at_null_is_a_400_not_now(api):
    body = {"event_type": "page_viewed", "event_data": {"email": "n@example.com"}, "occurred_at": None}
    response = api.post("/api/events", body)
    assert response.status_code == 400 and "occurred_at" in response.json()["details"]
