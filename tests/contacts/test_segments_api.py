"""The segments API: CRUD, count, preview, the unsaved-definition count, errors, scopes and tenant isolation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from contacts import services
from contacts.models import CustomField, Segment
from events.models import Event
from tests.conftest import make_api_client

pytestmark = pytest.mark.django_db

SUBSCRIBED = {"operator": "and", "rules": [{"field": "status", "comparison": "equals", "value": "subscribed"}]}
RECENT_BUYERS = {
    "operator": "and",
    "rules": [
        {"field": "status", "comparison": "equals", "value": "subscribed"},
        {"field": "events.order_placed.count", "comparison": "greater_than", "value": 0, "within_last_days": 30},
    ],
}


@pytest.fixture
def shoppers(company):
    """Five subscribed contacts, two of whom ordered this month, and one unsubscribed buyer."""
    contacts = []
    for n in range(5):
        contact = services.contact_upsert(
            company=company, data={"email": f"shopper{n}@example.com", "first_name": f"Shopper {n}"}
        ).contact
        contacts.append(contact)
    gone = services.contact_upsert(
        company=company, data={"email": "gone@example.com", "status": "unsubscribed"}
    ).contact
    for contact in (contacts[0], contacts[3], gone):
        Event.objects.create(
            company=company, contact=contact, event_type="order_placed", value=Decimal("42.00"),
            occurred_at=timezone.now() - timedelta(days=3),
        )  # fmt: skip
    return contacts


def create(api, name="Recent buyers", definition=RECENT_BUYERS, **extra):
    return api.post("/api/segments", {"name": name, "definition": definition, **extra})


def test_create_read_list_update_delete(api, company, shoppers):
    response = create(api, description="Ordered in the last 30 days")
    assert response.status_code == 201, response.content
    body = response.json()
    segment_id = body["segment_id"]
    assert body["name"] == "Recent buyers"
    assert body["description"] == "Ordered in the last 30 days"
    assert body["definition"] == RECENT_BUYERS
    assert body["created_at"] and body["updated_at"]
    assert Segment.objects.for_company(company).get(pk=segment_id).definition == RECENT_BUYERS

    assert api.get(f"/api/segments/{segment_id}").json() == body
    listing = api.get("/api/segments").json()
    assert listing["segments"] == [body]
    assert listing["pagination"] == {"page": 1, "per_page": 20, "total": 1, "total_pages": 1}

    replaced = api.put(f"/api/segments/{segment_id}", {"name": "Everyone subscribed", "definition": SUBSCRIBED})
    assert replaced.status_code == 200, replaced.content
    assert replaced.json()["description"] == ""  # PUT replaces: what is left out is cleared
    assert replaced.json()["definition"] == SUBSCRIBED

    patched = api.patch(f"/api/segments/{segment_id}", {"description": "All of them"})
    assert patched.status_code == 200
    assert (patched.json()["name"], patched.json()["description"]) == ("Everyone subscribed", "All of them")

    assert api.delete(f"/api/segments/{segment_id}").status_code == 204
    assert api.get(f"/api/segments/{segment_id}").status_code == 404
    assert not Segment.objects.filter(pk=segment_id).exists()


def test_count_and_preview(api, shoppers):
    segment_id = create(api).json()["segment_id"]
    assert api.get(f"/api/segments/{segment_id}/count").json() == {"segment_id": segment_id, "count": 2}

    preview = api.get(f"/api/segments/{segment_id}/preview").json()
    assert preview["segment_id"] == segment_id and preview["count"] == 2
    ids = {shoppers[0].pk, shoppers[3].pk}
    assert {c["contact_id"] for c in preview["contacts"]} == ids
    first = next(c for c in preview["contacts"] if c["contact_id"] == shoppers[0].pk)
    assert first == {
        "contact_id": shoppers[0].pk,
        "email": "shopper0@example.com",
        "first_name": "Shopper 0",
        "last_name": "",
        "status": "subscribed",
    }

    everyone = api.post("/api/segments", {"name": "All", "definition": {"operator": "and", "rules": []}})
    everyone_id = everyone.json()["segment_id"]
    one = api.get(f"/api/segments/{everyone_id}/preview?limit=1").json()
    assert one["count"] == 6 and len(one["contacts"]) == 1
    assert len(api.get(f"/api/segments/{everyone_id}/preview?limit=100").json()["contacts"]) == 6


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1", "2.5"])
def test_preview_limit_out_of_range_is_a_400_naming_it(api, shoppers, limit):
    segment_id = create(api).json()["segment_id"]
    response = api.get(f"/api/segments/{segment_id}/preview?limit={limit}")
    assert response.status_code == 400
    assert list(response.json()["details"]) == ["limit"]


def test_count_an_unsaved_definition(api, shoppers):
    response = api.post("/api/segments/count", {"definition": RECENT_BUYERS})
    assert response.status_code == 200
    assert response.json() == {"count": 2}
    assert api.post("/api/segments/count", {"definition": {"operator": "or", "rules": []}}).json() == {"count": 0}


def test_invalid_rules_are_400s_that_name_each_rule(api, shoppers):
    definition = {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {
                "operator": "or",
                "rules": [
                    {"field": "email", "comparison": "greater_than", "value": 5},
                    {"field": "shoe_size", "comparison": "equals", "value": 42},
                    {"field": "created_at", "comparison": "before", "value": "last tuesday"},
                ],
            },
        ],
    }
    for response in (
        create(api, definition=definition),
        api.post("/api/segments/count", {"definition": definition}),
    ):
        assert response.status_code == 400
        body = response.json()
        assert body["error"] == "Validation failed" and body["code"] == 400
        assert set(body["details"]) == {
            "definition.rules[1].rules[0].comparison",
            "definition.rules[1].rules[1].field",
            "definition.rules[1].rules[2].value",
        }
        assert "does not apply to email" in body["details"]["definition.rules[1].rules[0].comparison"][0]
        assert "definition.rules[1].rules[0].comparison" in body["message"]
    assert not Segment.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"definition": SUBSCRIBED}, "name"),
        ({"name": "   ", "definition": SUBSCRIBED}, "name"),
        ({"name": 5, "definition": SUBSCRIBED}, "name"),
        ({"name": "x" * 201, "definition": SUBSCRIBED}, "name"),
        ({"name": "A"}, "definition"),
        ({"name": "A", "definition": None}, "definition"),
        ({"name": "A", "definition": []}, "definition"),
        ({"name": "A", "definition": {"operator": "and"}}, "definition.rules"),
        ({"name": "A", "definition": SUBSCRIBED, "description": 7}, "description"),
    ],
)
def test_bad_segment_input_is_a_400_naming_the_field(api, payload, field):
    response = api.post("/api/segments", payload)
    assert response.status_code == 400, response.content
    assert field in response.json()["details"]


def test_a_taken_name_is_a_409(api, shoppers):
    create(api, name="Buyers")
    other = create(api, name="Others", definition=SUBSCRIBED).json()["segment_id"]
    for response in (create(api, name="Buyers"), api.patch(f"/api/segments/{other}", {"name": " Buyers "})):
        assert response.status_code == 409
        assert response.json() == {
            "error": "Conflict",
            "code": 409,
            "message": "A segment named 'Buyers' already exists.",
            "details": {"name": ["A segment named 'Buyers' already exists."]},
        }
    # Renaming a segment to its own name is no conflict.
    assert api.patch(f"/api/segments/{other}", {"name": "Others"}).status_code == 200


def test_a_saved_segment_whose_custom_field_is_gone_says_which_rule(api, company, shoppers):
    services.custom_field_create(company=company, name="Tier", field_type="text")
    definition = {"operator": "and", "rules": [{"field": "fields.Tier", "comparison": "equals", "value": "gold"}]}
    segment_id = create(api, definition=definition).json()["segment_id"]
    assert api.get(f"/api/segments/{segment_id}/count").json()["count"] == 0
    CustomField.objects.for_company(company).filter(name="Tier").delete()
    for path in ("count", "preview"):
        response = api.get(f"/api/segments/{segment_id}/{path}")
        assert response.status_code == 400
        assert response.json()["details"] == {
            "definition.rules[0].field": ["No custom field named 'Tier' (see GET /api/fields)."]
        }
    assert api.get(f"/api/segments/{segment_id}").status_code == 200  # still readable, and fixable
    assert api.patch(f"/api/segments/{segment_id}", {"definition": SUBSCRIBED}).status_code == 200


def test_another_company_gets_404_on_every_segment_endpoint(api, other_api, shoppers):
    segment_id = create(api).json()["segment_id"]
    assert other_api.get("/api/segments").json()["segments"] == []
    for method, path, body in (
        ("get", f"/api/segments/{segment_id}", None),
        ("put", f"/api/segments/{segment_id}", {"name": "Stolen", "definition": SUBSCRIBED}),
        ("patch", f"/api/segments/{segment_id}", {"name": "Stolen"}),
        ("delete", f"/api/segments/{segment_id}", None),
        ("get", f"/api/segments/{segment_id}/count", None),
        ("get", f"/api/segments/{segment_id}/preview", None),
    ):
        response = getattr(other_api, method)(path, body)
        assert response.status_code == 404, (method, path)
        assert response.json()["code"] == 404
    segment = Segment.objects.get(pk=segment_id)
    assert segment.name == "Recent buyers"
    # The same name is free in another company.
    assert other_api.post("/api/segments", {"name": "Recent buyers", "definition": SUBSCRIBED}).status_code == 201


def test_rules_cannot_reach_into_another_company(api, other_api, company, other_company, shoppers):
    our_list = services.contact_list_create(company=company, name="Newsletter", double_opt_in=False)
    services.list_subscribe(contact=shoppers[0], contact_list=our_list)
    services.custom_field_create(company=company, name="Tier", field_type="text")

    # Their count of a rule on our list id matches nobody, exactly like a list id that does not exist.
    by_list = {"operator": "and", "rules": [{"field": "lists", "comparison": "equals", "value": our_list.pk}]}
    assert api.post("/api/segments/count", {"definition": by_list}).json() == {"count": 1}
    assert other_api.post("/api/segments/count", {"definition": by_list}).json() == {"count": 0}
    # Our custom field does not exist for them.
    by_field = {"operator": "and", "rules": [{"field": "fields.Tier", "comparison": "is_set"}]}
    response = other_api.post("/api/segments/count", {"definition": by_field})
    assert response.status_code == 400
    assert "definition.rules[0].field" in response.json()["details"]
    # And their segments only ever count their own contacts.
    assert other_api.post("/api/segments/count", {"definition": {"operator": "and", "rules": []}}).json() == {
        "count": 0
    }


def test_scopes(company, shoppers):
    reader = make_api_client(company, scopes=["contacts:read"])
    writer = make_api_client(company, scopes=["contacts:write"])
    outsider = make_api_client(company, scopes=["campaigns:read"])

    assert reader.get("/api/segments").status_code == 200
    # Counting a definition reads only: contacts:read is enough even though it is a POST.
    assert reader.post("/api/segments/count", {"definition": SUBSCRIBED}).status_code == 200
    denied = create(reader)
    assert denied.status_code == 403 and "contacts:write" in denied.json()["message"]

    created = create(writer, definition=SUBSCRIBED)
    assert created.status_code == 201
    assert writer.get("/api/segments").status_code == 403
    for response in (outsider.get("/api/segments"), outsider.post("/api/segments/count", {"definition": SUBSCRIBED})):
        assert response.status_code == 403
    assert reader.get(f"/api/segments/{created.json()['segment_id']}/count").json()["count"] == 5
