"""Every write goes through a service: the API's list PUT/PATCH/DELETE and member additions, segment
writes; and a body's list references cost one query however many there are."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import bulk, services
from contacts.api import views
from contacts.consent_policy import ConsentContext
from contacts.models import ConsentRecord, Contact, ContactList, ListMembership, MembershipStatus, Segment
from contacts.segments import services as segment_services
from tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db

FRESH = ConsentContext(source="test", fresh=True)


@pytest.fixture
def calls(monkeypatch):
    """Wraps the named services (the real ones still run) and records each call's keyword arguments."""
    recorded: list[tuple[str, dict]] = []

    def spy(module, name):
        real = getattr(module, name)

        def wrapper(**kwargs):
            recorded.append((name, kwargs))
            return real(**kwargs)

        monkeypatch.setattr(module, name, wrapper)

    return spy, recorded


def test_the_api_changes_and_deletes_a_list_through_the_services(api, company, calls):
    spy, recorded = calls
    spy(services, "contact_list_update")
    spy(services, "contact_list_delete")
    contact_list = ContactListFactory(company=company, name="News")

    assert api.put(f"/api/lists/{contact_list.pk}", {"name": "Weekly"}).status_code == 200
    assert api.patch(f"/api/lists/{contact_list.pk}", {"description": "Fridays"}).status_code == 200
    assert api.delete(f"/api/lists/{contact_list.pk}").json() == {"list_id": contact_list.pk, "deleted": True}

    assert [name for name, _ in recorded] == ["contact_list_update", "contact_list_update", "contact_list_delete"]
    assert recorded[0][1]["data"]["name"] == "Weekly"
    assert recorded[1][1]["data"] == {"description": "Fridays"}
    assert not ContactList.objects.filter(pk=contact_list.pk).exists()


def test_the_api_refuses_a_blank_list_name_through_the_service(api, company):
    """contact_list_update's own rule (a name is stripped and needed) answers a PATCH."""
    contact_list = ContactListFactory(company=company, name="News")
    response = api.patch(f"/api/lists/{contact_list.pk}", {"name": "   "})
    assert response.status_code == 400 and "name" in response.json()["details"]
    contact_list.refresh_from_db()
    assert contact_list.name == "News"


def test_the_api_adds_members_through_the_service(api, company, calls):
    spy, recorded = calls
    spy(views, "contact_list_add_members")  # the view imported the name: patched where it is looked up
    contact_list = ContactListFactory(company=company, name="News")
    known = ContactFactory(company=company, email="known@example.com")

    response = api.post(
        f"/api/lists/{contact_list.pk}/members", {"contact_ids": [known.pk], "emails": ["new@example.com"]}
    )

    assert response.status_code == 200, response.content
    assert [name for name, _ in recorded] == ["contact_list_add_members"]
    assert recorded[0][1]["contact_ids"] == [known.pk] and recorded[0][1]["emails"] == ["new@example.com"]
    assert [row["status"] for row in response.json()["results"]] == ["subscribed", "subscribed"]


def test_adding_members_gives_one_result_per_item_in_order(company):
    contact_list = ContactListFactory(company=company, name="News")
    known = ContactFactory(company=company, email="known@example.com")
    erased = ContactFactory(company=company, email="gone@example.com")
    services.contact_erase(contact=erased)
    left = ContactFactory(company=company, email="left@example.com")
    services.list_subscribe(contact=left, contact_list=contact_list)
    services.list_unsubscribe(contact=left, contact_list=contact_list)
    other = ContactFactory(company=ContactListFactory().company, email="theirs@example.com")

    results = bulk.contact_list_add_members(
        contact_list=contact_list,
        contact_ids=[known.pk, erased.pk, other.pk, left.pk],
        emails=["new@example.com", "not an address"],
        consent=ConsentContext(source="test"),
    )

    assert [result.given for result in results] == [
        {"contact_id": known.pk},
        {"contact_id": erased.pk},
        {"contact_id": other.pk},
        {"contact_id": left.pk},
        {"email": "new@example.com"},
        {"email": "not an address"},
    ]
    assert [result.status for result in results] == ["subscribed", None, None, "unsubscribed", "subscribed", None]
    assert results[1].errors == {"contact_ids": [f"No contact with id {erased.pk}."]}
    assert results[2].errors == {"contact_ids": [f"No contact with id {other.pk}."]}
    assert results[3].warnings, "a contact who left stays out without fresh consent, and is told so"
    assert "email" in results[5].errors and results[5].contact_id is None
    new = Contact.objects.get(company=company, email="new@example.com")
    assert results[4].contact_id == new.pk
    assert set(
        ListMembership.objects.filter(contact_list=contact_list, status=MembershipStatus.SUBSCRIBED).values_list(
            "contact_id", flat=True
        )
    ) == {known.pk, new.pk}


def test_adding_members_with_fresh_consent_brings_back_who_left(company):
    contact_list = ContactListFactory(company=company, name="News")
    left = ContactFactory(company=company, email="left@example.com")
    services.list_subscribe(contact=left, contact_list=contact_list)
    services.list_unsubscribe(contact=left, contact_list=contact_list)

    (result,) = bulk.contact_list_add_members(
        contact_list=contact_list, contact_ids=[left.pk], emails=[], consent=FRESH
    )

    assert result.status == MembershipStatus.SUBSCRIBED and not result.warnings
    assert ConsentRecord.objects.filter(contact=left, contact_list=contact_list, action="subscribed").count() == 2


def test_the_api_writes_segments_through_the_segment_services(api, company, calls):
    spy, recorded = calls
    for name in ("segment_create", "segment_update", "segment_delete"):
        spy(segment_services, name)
    definition = {"operator": "and", "rules": []}

    created = api.post("/api/segments", {"name": "All", "definition": definition})
    assert created.status_code == 201, created.content
    segment_id = created.json()["segment_id"]
    assert api.patch(f"/api/segments/{segment_id}", {"name": "Everyone"}).status_code == 200
    assert api.delete(f"/api/segments/{segment_id}").status_code in (200, 204)

    assert [name for name, _ in recorded] == ["segment_create", "segment_update", "segment_delete"]
    assert not Segment.objects.filter(pk=segment_id).exists()


def _list_queries(captured) -> list[str]:
    return [query["sql"] for query in captured.captured_queries if 'FROM "contacts_contactlist"' in query["sql"]]


@pytest.mark.parametrize("path", ["/api/contacts", "/api/contacts/bulk"])
def test_a_body_s_list_references_cost_one_query(api, company, path):
    lists = [ContactListFactory(company=company, name=f"List {n}") for n in range(6)]
    refs = [{"id": contact_list.pk} for contact_list in lists[:3]] + [{"name": lst.name} for lst in lists[3:]]
    contact = {"email": "many@example.com", "lists": refs}
    body = {"contacts": [contact, {**contact, "email": "more@example.com"}]} if path.endswith("bulk") else contact

    with CaptureQueriesContext(connection) as captured:
        response = api.post(path, body)

    assert response.status_code in (200, 201), response.content
    assert len(_list_queries(captured)) == 1, _list_queries(captured)
    assert ListMembership.objects.filter(contact__email="many@example.com").count() == 6
