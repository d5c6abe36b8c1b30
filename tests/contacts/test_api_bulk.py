"""POST /api/contacts/bulk: up to 1000 upserts, one result per item; a bad item never sinks the others."""

import pytest

from contacts import services
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactStatus

pytestmark = pytest.mark.django_db


def test_bulk_answers_one_result_per_item_in_order(api, company):
    existing = services.contact_upsert(company=company, data={"email": "ann@example.com", "tags": ["vip"]}).contact
    response = api.post(
        "/api/contacts/bulk",
        {
            "contacts": [
                {"email": "ANN@example.com", "tags": ["newsletter"]},
                {"email": "bob@example.com", "first_name": "Bob"},
                {"email": "not-an-email", "phone": "+1-555-0123"},
                {"email": "eve@example.com", "tags": "vip"},
                {"first_name": "No identifier"},
                {"email": "cy@example.com", "status": "maybe"},
                {"email": "dee@example.com", "properties": {"tier": "gold"}},
            ]
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["failed"]) == (2, 1, 4)
    results = body["results"]
    assert [(r["index"], r["status"]) for r in results] == [
        (0, "updated"),
        (1, "created"),
        (2, "error"),
        (3, "error"),
        (4, "error"),
        (5, "error"),
        (6, "created"),
    ]
    assert results[0]["contact_id"] == existing.pk and "errors" not in results[0]
    assert set(results[2]["errors"]) == {"email"} and results[2]["contact_id"] is None
    assert "tags" in results[3]["errors"]
    assert "email" in results[4]["errors"] and "status" in results[5]["errors"]

    existing.refresh_from_db()
    assert sorted(existing.tags) == ["newsletter", "vip"]
    bob = Contact.objects.for_company(company).get(email="bob@example.com")
    assert results[1]["contact_id"] == bob.pk and bob.first_name == "Bob"
    assert Contact.objects.for_company(company).get(pk=results[6]["contact_id"]).properties == {"tier": "gold"}
    assert Contact.objects.for_company(company).count() == 3


def test_bulk_items_that_do_not_fit_the_columns_fail_alone(api, company):
    results = api.post(
        "/api/contacts/bulk",
        {
            "contacts": [
                {"email": "ok@example.com"},
                {"email": "long@example.com", "first_name": "x" * 500},
                {"email": "lang@example.com", "lang": "much-too-long-language"},
                {"email": "nul@example.com", "last_name": "nul\x00"},
                {"email": "tags@example.com", "tags": ["x" * 101]},
            ]
        },
    ).json()["results"]
    assert [r["status"] for r in results] == ["created", "error", "error", "error", "error"]
    assert "first_name" in results[1]["errors"] and "lang" in results[2]["errors"]
    assert "last_name" in results[3]["errors"] and "tags" in results[4]["errors"]
    assert list(Contact.objects.for_company(company).values_list("email", flat=True)) == ["ok@example.com"]


def test_bulk_does_not_resubscribe_without_consent_but_does_with_it(api, company):
    ann = services.contact_upsert(company=company, data={"email": "ann@example.com"}).contact
    services.contact_unsubscribe_all(contact=ann)
    refused = api.post("/api/contacts/bulk", {"contacts": [{"email": "ann@example.com", "status": "subscribed"}]})
    assert refused.json()["results"][0]["warnings"]
    ann.refresh_from_db()
    assert ann.status == ContactStatus.UNSUBSCRIBED

    consent = {"source": "signup import", "ip": "192.0.2.10"}
    accepted = api.post(
        "/api/contacts/bulk",
        {"contacts": [{"email": "ann@example.com", "status": "subscribed"}], "consent": consent},
    )
    assert "warnings" not in accepted.json()["results"][0]
    ann.refresh_from_db()
    assert ann.status == ContactStatus.SUBSCRIBED
    record = ConsentRecord.objects.filter(contact=ann, action=ConsentAction.SUBSCRIBED).latest("id")
    assert (record.source, record.ip_address) == ("signup import", "192.0.2.10")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"contacts": []},
        {"contacts": {"email": "a@example.com"}},
        {"contacts": "a@example.com"},
        {"contacts": [{"email": "a@example.com"}, "b@example.com"]},
        {"contacts": [{"email": f"c{n}@example.com"} for n in range(1001)]},
        {"contacts": [{"email": "a@example.com"}], "consent": {"ip": "nope"}},
    ],
)
def test_bulk_rejects_a_bad_envelope_and_writes_nothing(api, company, body):
    response = api.post("/api/contacts/bulk", body)
    assert response.status_code == 400
    assert response.json()["code"] == 400 and set(response.json()["details"]) & {"contacts", "consent"}
    assert not Contact.objects.for_company(company).exists()


def test_bulk_takes_1000_contacts(api, company):
    items = [{"email": f"c{n}@example.com", "tags": ["import"]} for n in range(1000)]
    body = api.post("/api/contacts/bulk", {"contacts": items}).json()
    assert (body["created"], body["updated"], body["failed"]) == (1000, 0, 0)
    assert Contact.objects.for_company(company).count() == 1000


def test_bulk_never_touches_another_companys_contacts(api, other_api, company, other_company):
    theirs = services.contact_upsert(company=other_company, data={"email": "ann@example.com", "first_name": "Theirs"})
    result = api.post("/api/contacts/bulk", {"contacts": [{"email": "ann@example.com", "first_name": "Ours"}]})
    assert result.json()["results"][0]["status"] == "created"
    theirs.contact.refresh_from_db()
    assert theirs.contact.first_name == "Theirs"
