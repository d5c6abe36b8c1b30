"""The lists API: CRUD with member counts, members listed, added (with double opt-in) and unsubscribed."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactList, ListMembership, MembershipStatus
from contacts.services import ConsentContext
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

FRESH = ConsentContext(source="test", fresh=True)


def assert_validation_error(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 400 and field in body["details"], body
    return body["details"][field]


# --- CRUD ------------------------------------------------------------------------------------------


def test_create_list_then_read_update_and_delete_it(api, company):
    created = api.post("/api/lists", {"name": "Newsletter", "description": "Weekly"})
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Newsletter" and body["description"] == "Weekly"
    assert body["double_opt_in"] is False and body["reminder_after_days"] is None
    assert body["members"] == {"subscribed": 0, "pending": 0, "unsubscribed": 0}
    list_id = body["list_id"]

    assert api.get(f"/api/lists/{list_id}").json() == body
    put = api.put(f"/api/lists/{list_id}", {"name": "Weekly news", "double_opt_in": True, "reminder_after_days": 3})
    assert put.status_code == 200
    assert (put.json()["name"], put.json()["double_opt_in"], put.json()["reminder_after_days"]) == (
        "Weekly news",
        True,
        3,
    )
    patch = api.patch(f"/api/lists/{list_id}", {"description": ""})
    assert patch.json()["description"] == "" and patch.json()["name"] == "Weekly news"

    deleted = api.delete(f"/api/lists/{list_id}")
    assert deleted.status_code == 200 and deleted.json() == {"list_id": list_id, "deleted": True}
    assert not ContactList.objects.filter(pk=list_id).exists()
    assert api.get(f"/api/lists/{list_id}").status_code == 404


def test_new_lists_follow_the_company_double_opt_in_default(api, company):
    company.double_opt_in_default = True
    company.save()
    assert api.post("/api/lists", {"name": "Confirmed"}).json()["double_opt_in"] is True
    assert api.post("/api/lists", {"name": "Open", "double_opt_in": False}).json()["double_opt_in"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": 5}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "A", "double_opt_in": "yes"}, "double_opt_in"),
        ({"name": "A", "reminder_after_days": 0}, "reminder_after_days"),
        ({"name": "A", "reminder_after_days": "3"}, "reminder_after_days"),
    ],
)
def test_invalid_list_is_a_400_naming_the_field(api, company, body, field):
    services.contact_list_create(company=company, name="Taken")
    assert_validation_error(api.post("/api/lists", body), field)
    assert ContactList.objects.for_company(company).count() == 1


def test_renaming_onto_another_list_name_is_a_conflict(api, company):
    services.contact_list_create(company=company, name="Taken")
    mine = services.contact_list_create(company=company, name="Mine")
    for method in (api.patch, api.put):
        response = method(f"/api/lists/{mine.pk}", {"name": "Taken"})
        assert response.status_code == 409, response.content
        assert response.json() == {
            "error": "Conflict",
            "code": 409,
            "message": "A list named 'Taken' already exists.",
            "details": {"name": ["A list named 'Taken' already exists."]},
        }
    assert api.patch(f"/api/lists/{mine.pk}", {"name": "Mine"}).status_code == 200  # its own name is fine
    mine.refresh_from_db()
    assert mine.name == "Mine"


def test_creating_a_list_with_a_taken_name_is_a_conflict(api, company):
    services.contact_list_create(company=company, name="Taken")
    response = api.post("/api/lists", {"name": "Taken", "description": "again"})
    assert response.status_code == 409, response.content
    assert response.json()["error"] == "Conflict" and response.json()["details"] == {
        "name": ["A list named 'Taken' already exists."]
    }
    assert ContactList.objects.for_company(company).count() == 1


def test_list_page_counts_members_per_status_in_constant_queries(api, company):
    def add_list(n):
        contact_list = services.contact_list_create(company=company, name=f"List {n}")
        ann, bob, cy = (ContactFactory(company=company, email=f"{who}{n}@example.com") for who in ("ann", "bob", "cy"))
        services.list_subscribe(contact=ann, contact_list=contact_list)
        services.list_subscribe(contact=bob, contact_list=contact_list)
        services.list_subscribe(contact=cy, contact_list=contact_list)
        services.list_unsubscribe(contact=cy, contact_list=contact_list)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = api.get("/api/lists")
        return len(captured), response.json()

    api.get("/api/")  # the key is looked up and cached by the first request
    add_list(0)
    few, _ = queries()
    for n in range(1, 6):
        add_list(n)
    many, body = queries()
    assert many == few == 2  # count and page
    assert body["pagination"]["total"] == 6
    assert all(row["members"] == {"subscribed": 2, "pending": 0, "unsubscribed": 1} for row in body["lists"])


# --- Members ---------------------------------------------------------------------------------------


def test_add_members_by_id_and_email_with_a_result_per_item(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann = ContactFactory(company=company, email="ann@example.com")
    response = api.post(
        f"/api/lists/{news.pk}/members",
        {"contact_ids": [ann.pk, 999_999], "emails": ["new@example.com", "not-an-email", "ANN@example.com"]},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert results[0] == {"contact_id": ann.pk, "status": "subscribed"}
    assert results[1]["status"] == "error" and "contact_ids" in results[1]["errors"]
    new = Contact.objects.for_company(company).get(email="new@example.com")
    assert results[2] == {"email": "new@example.com", "contact_id": new.pk, "status": "subscribed"}
    assert results[3]["status"] == "error" and results[3]["contact_id"] is None and "email" in results[3]["errors"]
    assert results[4] == {"email": "ANN@example.com", "contact_id": ann.pk, "status": "subscribed"}
    assert set(ListMembership.objects.filter(contact_list=news).values_list("contact_id", flat=True)) == {
        ann.pk,
        new.pk,
    }


def test_double_opt_in_list_leaves_new_members_pending(api, company):
    confirmed = services.contact_list_create(company=company, name="Confirmed", double_opt_in=True)
    ann = ContactFactory(company=company, email="ann@example.com")
    results = api.post(f"/api/lists/{confirmed.pk}/members", {"contact_ids": [ann.pk]}).json()["results"]
    assert results == [{"contact_id": ann.pk, "status": "pending"}]
    assert ListMembership.objects.get(contact_list=confirmed).status == MembershipStatus.PENDING
    assert api.get(f"/api/lists/{confirmed.pk}").json()["members"]["pending"] == 1


def test_a_member_who_left_rejoins_only_with_consent(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann = ContactFactory(company=company, email="ann@example.com")
    services.list_subscribe(contact=ann, contact_list=news)
    services.list_unsubscribe(contact=ann, contact_list=news)

    refused = api.post(f"/api/lists/{news.pk}/members", {"contact_ids": [ann.pk]}).json()["results"][0]
    assert refused["status"] == "unsubscribed" and "consent" in refused["warnings"][0]
    consent = {"source": "preference center", "ip": "2001:db8::1"}
    rejoined = api.post(f"/api/lists/{news.pk}/members", {"contact_ids": [ann.pk], "consent": consent})
    assert rejoined.json()["results"][0]["status"] == "subscribed"
    record = ConsentRecord.objects.filter(contact=ann, action=ConsentAction.SUBSCRIBED).latest("id")
    assert (record.source, record.ip_address, record.contact_list_id) == ("preference center", "2001:db8::1", news.pk)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "contact_ids"),
        ({"contact_ids": []}, "contact_ids"),
        ({"contact_ids": "1"}, "contact_ids"),
        ({"contact_ids": ["1"]}, "contact_ids"),
        ({"contact_ids": list(range(1, 1002))}, "contact_ids"),
        ({"emails": [3]}, "emails"),
        ({"emails": ["a@example.com"], "consent": "yes"}, "consent"),
    ],
)
def test_add_members_rejects_a_bad_envelope(api, company, body, field):
    news = services.contact_list_create(company=company, name="Newsletter")
    assert_validation_error(api.post(f"/api/lists/{news.pk}/members", body), field)
    assert not ListMembership.objects.exists()


def test_members_are_listed_with_status_and_timestamps_filtered_and_paginated(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann = ContactFactory(company=company, email="ann@example.com", first_name="Ann")
    bob = ContactFactory(company=company, email="bob@example.com")
    services.list_subscribe(contact=ann, contact_list=news)
    services.list_subscribe(contact=bob, contact_list=news)
    services.list_unsubscribe(contact=bob, contact_list=news)

    page = api.get(f"/api/lists/{news.pk}/members").json()
    assert page["pagination"]["total"] == 2
    by_id = {row["contact_id"]: row for row in page["members"]}
    assert by_id[ann.pk]["email"] == "ann@example.com" and by_id[ann.pk]["first_name"] == "Ann"
    assert by_id[ann.pk]["status"] == "subscribed" and by_id[ann.pk]["subscribed_at"]
    assert by_id[bob.pk]["status"] == "unsubscribed" and by_id[bob.pk]["unsubscribed_at"]

    only = api.get(f"/api/lists/{news.pk}/members", {"status": "unsubscribed"}).json()["members"]
    assert [row["contact_id"] for row in only] == [bob.pk]
    assert len(api.get(f"/api/lists/{news.pk}/members", {"per_page": 1, "page": 2}).json()["members"]) == 1
    assert_validation_error(api.get(f"/api/lists/{news.pk}/members", {"status": "gone"}), "status")
    assert_validation_error(api.get(f"/api/lists/{news.pk}/members", {"per_page": 500}), "per_page")


def test_removing_a_member_unsubscribes_and_keeps_the_membership(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann, bob = (
        ContactFactory(company=company, email="ann@example.com"),
        ContactFactory(company=company, email="bob@example.com"),
    )
    services.list_subscribe(contact=ann, contact_list=news)

    response = api.delete(f"/api/lists/{news.pk}/members/{ann.pk}")
    assert response.status_code == 200
    assert response.json()["status"] == "unsubscribed" and response.json()["unsubscribed_at"]
    membership = ListMembership.objects.get(contact_list=news, contact=ann)
    assert membership.status == MembershipStatus.UNSUBSCRIBED and membership.unsubscribed_at
    assert ConsentRecord.objects.filter(contact=ann, action=ConsentAction.UNSUBSCRIBED, contact_list=news).exists()
    assert api.delete(f"/api/lists/{news.pk}/members/{bob.pk}").status_code == 404  # not a member
    assert api.delete(f"/api/lists/{news.pk}/members/999999").status_code == 404


def test_deleting_a_list_keeps_its_contacts(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann = ContactFactory(company=company, email="ann@example.com")
    services.list_subscribe(contact=ann, contact_list=news, consent=FRESH)
    api.delete(f"/api/lists/{news.pk}")
    assert Contact.objects.filter(pk=ann.pk).exists()
    assert api.get(f"/api/contacts/{ann.pk}").json()["lists"] == []
