"""Custom fields, key information (SALESmanago API v3), the blacklist (Splio Data API 1.9), scopes and
tenant isolation."""

import pytest

from contacts import services
from contacts.models import ConsentAction, ConsentRecord, Contact, CustomField, FieldType, KeyInformation, Suppression
from salloq.core.models import Scope
from tests.conftest import make_api_client
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def assert_validation_error(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "code", "message", "details"} and body["code"] == 400
    assert field in body["details"], body["details"]


# --- Custom fields ---------------------------------------------------------------------------------


def test_fields_are_listed_splio_style_and_defined(api, company):
    assert api.get("/api/fields").json() == {"fields": []}
    created = api.post("/api/fields", {"name": "size", "type": "choice", "choices": ["S", "M", "L"]})
    assert created.status_code == 201
    size = created.json()
    assert size == {"id": size["id"], "name": "size", "type": "choice", "choices": ["S", "M", "L"]}
    age = api.post("/api/fields", {"name": "age", "type": "number", "choices": ["ignored"]}).json()
    assert age["choices"] == []
    assert api.get("/api/fields").json() == {"fields": [size, age]}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "text"}, "name"),
        ({"name": "x", "type": "colour"}, "type"),
        ({"name": "x"}, "type"),
        ({"name": "x", "type": "choice"}, "choices"),
        ({"name": "x", "type": "choice", "choices": "S,M"}, "choices"),
        ({"name": "x" * 101, "type": "text"}, "name"),
    ],
)
def test_invalid_field_definitions_are_400s_naming_the_field(api, company, body, field):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    assert_validation_error(api.post("/api/fields", body), field)
    assert CustomField.objects.for_company(company).count() == 1


def test_a_field_name_already_defined_is_a_conflict(api, company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    response = api.post("/api/fields", {"name": "age", "type": "text"})
    assert response.status_code == 409, response.content
    assert response.json() == {
        "error": "Conflict",
        "code": 409,
        "message": "A field named 'age' already exists.",
        "details": {"name": ["A field named 'age' already exists."]},
    }
    assert CustomField.objects.for_company(company).get().field_type == FieldType.NUMBER


# --- Key information (SALESmanago API v3) --------------------------------------------------------------------

SEED_KEY_INFORMATION = {
    "owner": "salesmanago.user@yourcompany.com",
    "email": "name@example.com",
    "keyInformation": {
        "numeric": [{"name": "Shoe size", "value": 13}],
        "text": [{"name": "Preferred color", "value": "black"}, {"name": "Preferred price", "value": "$50 - $99"}],
    },
    "setAsNull": ["Favorite brand", "Number of shoes"],
}


def test_seed_key_information_upsert_then_get_all_or_one(api, company):
    person = ContactFactory(company=company, email="name@example.com")
    response = api.post("/api/key-information/upsert", SEED_KEY_INFORMATION)
    assert response.status_code == 200
    expected = [
        {"name": "Preferred color", "value": "black"},
        {"name": "Preferred price", "value": "$50 - $99"},
        {"name": "Shoe size", "value": 13},
    ]
    assert response.json() == {"contactId": person.pk, "keyInformation": expected}

    assert api.get("/api/key-information", {"contactId": person.pk}).json()["keyInformation"] == expected
    one = api.get("/api/key-information", {"email": "Name@Example.com", "name": "Shoe size"}).json()
    assert one == {"contactId": person.pk, "keyInformation": [{"name": "Shoe size", "value": 13}]}


def test_set_as_null_clears_a_value(api, company):
    person = ContactFactory(company=company, email="ann@example.com")
    services.key_information_upsert(contact=person, numeric=[{"name": "Shoe size", "value": 42.5}])
    assert api.get("/api/key-information", {"contactId": person.pk}).json()["keyInformation"] == [
        {"name": "Shoe size", "value": 42.5}
    ]
    body = api.post(
        "/api/key-information/upsert", {"contactId": person.pk, "keyInformation": {}, "setAsNull": ["Shoe size"]}
    ).json()
    assert body["keyInformation"] == []
    entry = KeyInformation.objects.get(contact=person, name="Shoe size")
    assert entry.numeric_value is None and entry.text_value is None


def test_key_information_of_an_unknown_contact_is_a_404(api, company):
    body = {"email": "nobody@example.com", "keyInformation": {"text": [{"name": "a", "value": "b"}]}}
    assert api.post("/api/key-information/upsert", body).status_code == 404
    assert api.get("/api/key-information", {"email": "nobody@example.com"}).status_code == 404
    assert api.get("/api/key-information", {"contactId": 999999}).json()["code"] == 404
    # An address the schema's pattern refuses is refused, not looked up (salloq.core.emails).
    refused = api.get("/api/key-information", {"email": "not an address"})
    assert refused.status_code == 400 and "email" in refused.json()["details"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"keyInformation": {}}, "email"),
        ({"email": "ann@example.com", "contactId": 1, "keyInformation": {}}, "contactId"),
        ({"email": "ann@example.com"}, "keyInformation"),
        ({"email": "ann@example.com", "keyInformation": {"numeric": [{"name": "a", "value": "13"}]}}, "keyInformation"),
        ({"email": "ann@example.com", "keyInformation": {"numeric": [{"name": "a", "value": 1e30}]}}, "keyInformation"),
        ({"email": "ann@example.com", "keyInformation": {"text": [{"name": "a", "value": 5}]}}, "keyInformation"),
        ({"email": "ann@example.com", "keyInformation": {"text": [{"name": " ", "value": "x"}]}}, "keyInformation"),
        (
            {"email": "ann@example.com", "keyInformation": {"text": [{"name": "a", "value": "x" * 256}]}},
            "keyInformation",
        ),
        ({"email": "ann@example.com", "keyInformation": {}, "setAsNull": [f"k{n}" for n in range(21)]}, "setAsNull"),
        ({"contactId": "one", "keyInformation": {}}, "contactId"),
    ],
)
def test_invalid_key_information_is_a_400_naming_the_field(api, company, body, field):
    person = ContactFactory(company=company, email="ann@example.com")
    assert_validation_error(api.post("/api/key-information/upsert", body), field)
    assert not KeyInformation.objects.filter(contact=person).exists()


def test_key_information_get_takes_email_and_contact_id_together_when_they_name_one_contact(api, company):
    person = ContactFactory(company=company, email="ann@example.com")
    other = ContactFactory(company=company, email="bob@example.com")
    services.key_information_upsert(contact=person, numeric=None, text=[{"name": "color", "value": "black"}])
    both = api.get("/api/key-information", {"contactId": person.pk, "email": "Ann@Example.com"})
    assert both.status_code == 200, both.content
    assert both.json() == {"contactId": person.pk, "keyInformation": [{"name": "color", "value": "black"}]}
    mismatch = api.get("/api/key-information", {"contactId": other.pk, "email": "ann@example.com"})
    assert mismatch.status_code == 404 and mismatch.json()["code"] == 404


def test_key_information_get_needs_an_identifier(api, company):
    person = ContactFactory(company=company, email="ann@example.com")
    assert_validation_error(api.get("/api/key-information"), "email")
    assert_validation_error(api.get("/api/key-information", {"contactId": "x"}), "contactId")
    assert_validation_error(api.get("/api/key-information", {"contactId": person.pk, "email": ""}), "email")
    assert_validation_error(api.get("/api/key-information", {"contactId": person.pk, "name": ""}), "name")


# --- Blacklist (Splio Data API 1.9) --------------------------------------------------------------------------


def test_blacklist_check_add_and_remove(api, company):
    missing = api.get("/api/blacklist/ann@example.com")
    assert missing.status_code == 404
    assert missing.json() == {"error": "Not Found", "code": 404, "message": "email not blacklisted."}

    added = api.put("/api/blacklist/ann@example.com", {"reason": "complaint"})
    assert added.status_code == 201
    assert added.json()["email"] == "ann@example.com" and added.json()["blacklisted"] is True
    # Already there; Splio Data API 1.9's PUT carries no body at all.
    assert api.put("/api/blacklist/ann@example.com", "", content_type="").status_code == 200

    checked = api.get("/api/blacklist/ANN@example.com")
    assert checked.status_code == 200
    assert checked.json()["reason"] == "complaint" and checked.json()["created_at"]

    removed = api.delete("/api/blacklist/ann@example.com")
    assert removed.status_code == 200 and removed.json() == {"email": "ann@example.com", "blacklisted": False}
    assert api.get("/api/blacklist/ann@example.com").status_code == 404
    assert api.delete("/api/blacklist/ann@example.com").status_code == 404


def test_blacklist_takes_url_encoded_addresses_and_post(api, company):
    assert api.post("/api/blacklist/john%2Btag%40example.com", {"reason": "bounce"}).status_code == 201
    assert Suppression.objects.for_company(company).get().email == "john+tag@example.com"
    assert api.get("/api/blacklist/john+tag@example.com").status_code == 200
    assert api.get("/api/blacklist/john%2Btag%40example.com/").status_code == 200
    assert api.get("/api/blacklist/john%20tag%40example.com").status_code == 404


def test_blacklisting_needs_a_valid_address(api, company):
    assert_validation_error(api.put("/api/blacklist/not-an-address"), "email")
    assert_validation_error(api.put("/api/blacklist/ann@example.com", {"reason": 5}), "reason")
    assert not Suppression.objects.exists()


def test_a_blacklisted_contact_is_never_mailable_and_the_change_is_recorded(api, company):
    person = ContactFactory(company=company, email="ann@example.com")
    assert Contact.objects.for_company(company).mailable().filter(pk=person.pk).exists()
    api.put("/api/blacklist/ann@example.com", {"reason": "asked by phone"})
    assert not Contact.objects.for_company(company).mailable().filter(pk=person.pk).exists()
    assert ConsentRecord.objects.get(contact=person, action=ConsentAction.BLACKLISTED).note == "asked by phone"
    api.delete("/api/blacklist/ann@example.com")
    assert Contact.objects.for_company(company).mailable().filter(pk=person.pk).exists()


# --- Scopes ----------------------------------------------------------------------------------------


def test_a_read_key_reads_but_cannot_write(company):
    person = ContactFactory(company=company, email="ann@example.com")
    news = services.contact_list_create(company=company, name="Newsletter")
    reader = make_api_client(company, scopes=[Scope.CONTACTS_READ])
    for path in (
        "/api/contacts",
        f"/api/contacts/{person.pk}",
        f"/api/contacts/{person.pk}/export",
        "/api/lists",
        f"/api/lists/{news.pk}/members",
        "/api/fields",
        f"/api/key-information?contactId={person.pk}",
    ):
        assert reader.get(path).status_code == 200, path
    assert reader.get("/api/blacklist/ann@example.com").status_code == 404  # read allowed: simply not listed
    writes = [
        ("post", "/api/contacts", {"email": "b@example.com"}),
        ("put", f"/api/contacts/{person.pk}", {"email": "ann@example.com"}),
        ("patch", f"/api/contacts/{person.pk}", {"first_name": "X"}),
        ("delete", f"/api/contacts/{person.pk}", None),
        ("post", "/api/contacts/bulk", {"contacts": [{"email": "b@example.com"}]}),
        ("post", "/api/lists", {"name": "New"}),
        ("patch", f"/api/lists/{news.pk}", {"name": "X"}),
        ("delete", f"/api/lists/{news.pk}", None),
        ("post", f"/api/lists/{news.pk}/members", {"contact_ids": [person.pk]}),
        ("post", "/api/fields", {"name": "age", "type": "number"}),
        ("post", "/api/key-information/upsert", {"contactId": person.pk, "keyInformation": {}}),
        ("put", "/api/blacklist/ann@example.com", None),
        ("delete", "/api/blacklist/ann@example.com", None),
    ]
    for method, path, body in writes:
        response = getattr(reader, method)(path, body)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"] == "Insufficient scope"
    person.refresh_from_db()
    assert person.first_name == "" and person.erased_at is None
    assert Contact.objects.for_company(company).count() == 1


def test_a_key_without_contact_scopes_cannot_read_contacts(company):
    campaigns_only = make_api_client(company, scopes=[Scope.CAMPAIGNS_READ])
    assert campaigns_only.get("/api/contacts").status_code == 403
    assert campaigns_only.get("/api/lists").status_code == 403


# --- Tenant isolation ------------------------------------------------------------------------------


@pytest.fixture
def ours(company):
    """A company's contact, list, membership, key information and blacklist entry."""
    person = ContactFactory(company=company, email="ann@example.com", first_name="Ann")
    news = services.contact_list_create(company=company, name="Newsletter")
    services.list_subscribe(contact=person, contact_list=news)
    services.key_information_upsert(contact=person, text=[{"name": "Color", "value": "black"}])
    services.suppression_add(company=company, email="blocked@example.com")
    return person, news


def test_another_company_gets_404_for_every_one_of_our_objects(other_api, ours):
    person, news = ours
    requests = [
        ("get", f"/api/contacts/{person.pk}", None),
        ("put", f"/api/contacts/{person.pk}", {"email": "x@example.com"}),
        ("patch", f"/api/contacts/{person.pk}", {"first_name": "Mallory"}),
        ("delete", f"/api/contacts/{person.pk}", None),
        ("get", f"/api/contacts/{person.pk}/export", None),
        ("get", f"/api/lists/{news.pk}", None),
        ("put", f"/api/lists/{news.pk}", {"name": "Stolen"}),
        ("patch", f"/api/lists/{news.pk}", {"name": "Stolen"}),
        ("delete", f"/api/lists/{news.pk}", None),
        ("get", f"/api/lists/{news.pk}/members", None),
        ("post", f"/api/lists/{news.pk}/members", {"contact_ids": [person.pk]}),
        ("delete", f"/api/lists/{news.pk}/members/{person.pk}", None),
        ("get", f"/api/key-information?contactId={person.pk}", None),
        ("get", "/api/key-information?email=ann@example.com", None),
        ("post", "/api/key-information/upsert", {"contactId": person.pk, "keyInformation": {}, "setAsNull": ["Color"]}),
        ("post", "/api/key-information/upsert", {"email": "ann@example.com", "keyInformation": {}}),
        ("get", "/api/blacklist/blocked@example.com", None),
        ("delete", "/api/blacklist/blocked@example.com", None),
    ]
    for method, path, body in requests:
        response = getattr(other_api, method)(path, body)
        assert response.status_code == 404, (method, path, response.content)
        assert response.json()["code"] == 404

    person.refresh_from_db()
    assert person.first_name == "Ann" and person.erased_at is None
    assert news.memberships.get().status == "subscribed"
    assert KeyInformation.objects.get(contact=person).text_value == "black"
    assert Suppression.objects.filter(company=person.company, email="blocked@example.com").exists()
    assert not ConsentRecord.objects.filter(contact=person, action=ConsentAction.UNSUBSCRIBED).exists()


def test_another_company_cannot_reach_our_rows_through_its_own_objects(other_api, other_company, ours):
    person, news = ours
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    result = other_api.post(f"/api/lists/{theirs.pk}/members", {"contact_ids": [person.pk]}).json()["results"][0]
    assert result["status"] == "error"
    assert not theirs.memberships.exists()

    upsert = other_api.post("/api/contacts", {"email": "ann@example.com", "lists": [{"id": news.pk}]})
    # Another company's list is no list of ours: skipped with a warning, never joined.
    assert upsert.status_code == 201 and upsert.json()["lists"] == []
    assert upsert.json()["contact_id"] != person.pk
    assert upsert.json()["warnings"] == [f"lists[0]: no list with id {news.pk}; skipped (see GET /api/lists)."]
    updated = other_api.post("/api/contacts", {"email": "ann@example.com", "first_name": "Other Ann"})
    assert updated.status_code == 200 and updated.json()["contact_id"] == upsert.json()["contact_id"]
    person.refresh_from_db()
    assert person.first_name == "Ann"


def test_lists_never_show_another_companys_rows(api, other_api, other_company, ours):
    person, news = ours
    services.contact_upsert(company=other_company, data={"email": "rival@example.com"})
    services.contact_list_create(company=other_company, name="Rival list")
    services.custom_field_create(company=other_company, name="rival_field", field_type=FieldType.TEXT)

    assert {row["email"] for row in other_api.get("/api/contacts").json()["contacts"]} == {"rival@example.com"}
    assert {row["name"] for row in other_api.get("/api/lists").json()["lists"]} == {"Rival list"}
    assert {f["name"] for f in other_api.get("/api/fields").json()["fields"]} == {"rival_field"}
    assert other_api.get("/api/contacts", {"list_id": news.pk}).json()["contacts"] == []
    assert {row["email"] for row in api.get("/api/contacts").json()["contacts"]} == {"ann@example.com"}
    assert api.get("/api/fields").json() == {"fields": []}
