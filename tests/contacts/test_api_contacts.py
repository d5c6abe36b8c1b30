"""The contacts API (the Salloq Marketing API): upsert, list, read, replace, change, erase, export."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts import services
from contacts.models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactStatus,
    FieldType,
    KeyInformation,
    ListMembership,
    MembershipStatus,
)
from contacts.services import ConsentContext
from events.models import Event
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db

# The Salloq Marketing API, "JavaScript Example - Create Contact": the body exactly as the example sends it.
SEED_JAVASCRIPT_CONTACT = {
    "email": "john@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "tags": ["newsletter", "customer"],
    "properties": {"signup_source": "website", "interests": "electronics"},
}

# The Salloq Marketing API, "Create or update a contact (upsert)": its phone "+1-555-0123" is not a valid number.
SEED_CONTACT_EXAMPLE = {
    "email": "john@example.com",
    "first_name": "John",
    "last_name": "Doe",
    "phone": "+1-555-0123",
    "external_id": "CUST-12345",
    "source": "ecommerce",
    "tags": ["vip", "newsletter"],
    "properties": {"favorite_category": "Electronics", "last_purchase_date": "2024-01-15"},
}

CONTACT_KEYS = {
    "contact_id",
    "email",
    "external_id",
    "phone",
    "phone_valid",
    "first_name",
    "last_name",
    "lang",
    "source",
    "status",
    "tags",
    "properties",
    "fields",
    "lists",
    "commerce",
    "erased_at",
    "created_at",
    "updated_at",
}


def assert_validation_error(response, *fields):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error", "code", "message", "details"}
    assert body["code"] == 400 and body["error"] == "Validation failed"
    for field in fields:
        assert field in body["details"], body["details"]
        assert all(isinstance(message, str | dict) for message in body["details"][field])
    return body["details"]


def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"a": value}
    return value


# --- Upsert ---------------------------------------------------------------------------------------


def test_seed_javascript_example_creates_then_updates_the_contact(api, company):
    created = api.post("/api/contacts", SEED_JAVASCRIPT_CONTACT)
    assert created.status_code == 201
    body = created.json()
    assert set(body) == CONTACT_KEYS  # no "warnings" when there are none
    assert body["email"] == "john@example.com"
    assert (body["first_name"], body["last_name"]) == ("John", "Doe")
    assert body["tags"] == ["newsletter", "customer"]
    assert body["properties"] == {"signup_source": "website", "interests": "electronics"}
    assert body["status"] == "subscribed" and body["lists"] == [] and body["fields"] == {}

    again = api.post("/api/contacts", SEED_JAVASCRIPT_CONTACT)
    assert again.status_code == 200
    assert again.json()["contact_id"] == body["contact_id"]
    assert Contact.objects.for_company(company).count() == 1


def test_seed_contact_example_is_saved_with_its_phone_kept_as_given_and_a_warning(api, company):
    """An optional value that cannot be normalized never loses the record (SALESmanago's rule)."""
    response = api.post("/api/contacts", SEED_CONTACT_EXAMPLE)
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["phone"], body["phone_valid"]) == ("+1-555-0123", False)
    assert (body["email"], body["external_id"], body["first_name"]) == ("john@example.com", "CUST-12345", "John")
    assert body["tags"] == ["vip", "newsletter"] and body["properties"]["favorite_category"] == "Electronics"
    [warning] = body["warnings"]
    assert warning.startswith("phone:") and "+1-555-0123" in warning and "SMS" in warning

    # A valid number later makes the phone usable again.
    fixed = api.post("/api/contacts", {"email": "john@example.com", "phone": "+1 (650) 253-0000"}).json()
    assert (fixed["phone"], fixed["phone_valid"]) == ("+16502530000", True) and "warnings" not in fixed


@pytest.mark.parametrize("phone", ["555-0123", "0", "12", "+1-555-0123", "not a phone at all"])
def test_a_phone_that_cannot_be_normalized_is_kept_with_a_warning_even_as_the_only_identifier(api, company, phone):
    """The Salloq Ecommerce API's customers carry phones such as "555-0123"; {"phone": "0"} is schema-valid."""
    for body in ({"phone": phone}, {"email": "shop@example.com", "phone": phone}):
        response = api.post("/api/contacts", body)
        assert response.status_code == 201, response.content
        assert (response.json()["phone"], response.json()["phone_valid"]) == (phone, False)
        assert response.json()["warnings"][0].startswith("phone:")
    # Never mailed by SMS: the mark is on the row for every reader.
    assert set(Contact.objects.for_company(company).values_list("phone_valid", flat=True)) == {False}


def test_a_patch_with_an_unusable_phone_keeps_the_change_and_warns(api, company):
    contact = ContactFactory(company=company, email="ann@example.com", phone="+33612345678")
    body = api.patch(f"/api/contacts/{contact.pk}", {"phone": "555-0123", "first_name": "Ann"}).json()
    assert (body["phone"], body["phone_valid"], body["first_name"]) == ("555-0123", False, "Ann")
    assert body["warnings"][0].startswith("phone:")
    body = api.patch(f"/api/contacts/{contact.pk}", {"phone": None}).json()
    assert (body["phone"], body["phone_valid"]) == ("", True)


def test_seed_contact_example_with_a_real_phone_is_created_in_e164(api, company):
    response = api.post("/api/contacts", {**SEED_CONTACT_EXAMPLE, "phone": "+1 (650) 253-0000"})
    assert response.status_code == 201
    body = response.json()
    assert body["phone"] == "+16502530000"
    assert body["external_id"] == "CUST-12345" and body["source"] == "ecommerce"
    assert body["tags"] == ["vip", "newsletter"]
    assert body["properties"]["favorite_category"] == "Electronics"


def test_upsert_finds_the_contact_by_normalized_email_and_merges_tags_and_properties(api, company):
    contact = ContactFactory(company=company, email="john@example.com", tags=["vip"], properties={"a": 1, "b": 2})
    response = api.post(
        "/api/contacts",
        {"email": " John@Example.COM ", "tags": ["newsletter", "vip"], "properties": {"b": 3, "c": 4}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["contact_id"] == contact.pk and body["email"] == "john@example.com"
    assert sorted(body["tags"]) == ["newsletter", "vip"]
    assert body["properties"] == {"a": 1, "b": 3, "c": 4}
    assert Contact.objects.for_company(company).count() == 1


def test_upsert_identifies_by_external_id_before_email(api, company):
    contact = ContactFactory(company=company, email="old@example.com", external_id="CUST-1")
    response = api.post("/api/contacts", {"external_id": "CUST-1", "email": "new@example.com"})
    assert response.status_code == 200
    assert response.json()["contact_id"] == contact.pk
    contact.refresh_from_db()
    assert contact.email == "new@example.com"


def test_upsert_ignores_unknown_top_level_keys(api, company):
    response = api.post("/api/contacts", {"email": "a@example.com", "favourite_colour": "blue", "owner": "x"})
    assert response.status_code == 201
    assert "favourite_colour" not in Contact.objects.for_company(company).get().properties


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": 42}, "email"),
        ({"email": "a" * 250 + "@example.com"}, "email"),
        ({"email": "a@example.com", "phone": 33612345678}, "phone"),
        ({"email": "a@example.com", "phone": "+" + "1" * 40}, "phone"),
        ({"email": "a@example.com", "status": "maybe"}, "status"),
        ({"email": "a@example.com", "tags": "vip"}, "tags"),
        ({"email": "a@example.com", "tags": [1, 2]}, "tags"),
        ({"email": "a@example.com", "tags": ["x" * 101]}, "tags"),
        ({"email": "a@example.com", "properties": ["x"]}, "properties"),
        ({"email": "a@example.com", "properties": {"note": "nul \x00 inside"}}, "properties.note"),
        ({"email": "a@example.com", "first_name": "x" * 151}, "first_name"),
        ({"email": "a@example.com", "first_name": 7}, "first_name"),
        ({"email": "a@example.com", "first_name": "nul\x00"}, "first_name"),
        ({"email": "a@example.com", "lang": "much-too-long-language"}, "lang"),
        ({"email": "a@example.com", "fields": "x"}, "fields"),
        ({"email": "a@example.com", "fields": {"age": "forty"}}, "fields.age"),
        ({"email": "a@example.com", "fields": {"age": {"nested": 1}}}, "fields.age"),
        ({"email": "a@example.com", "fields": {"nickname": ["a", "b"]}}, "fields.nickname"),
        ({"email": "a@example.com", "fields": {"age": "1e400"}}, "fields.age"),
        ({"email": "a@example.com", "fields": {"age": "NaN"}}, "fields.age"),
        ({"email": "a@example.com", "tags": [f"t{n}" for n in range(201)]}, "tags"),
        ({"email": "a@example.com", "properties": {"deep": _nested(25)}}, "properties"),
        ({"email": "a@example.com", "properties": {"big": "x" * 70_000}}, "properties"),
        ({"email": "a@example.com", "fields": {"birthday": "2024-02-30"}}, "fields.birthday"),
        ({"email": "a@example.com", "lists": [{"id": "abc"}]}, "lists[0].id"),
        ({"email": "a@example.com", "lists": [{"action": "unsubscribe"}]}, "lists[0]"),
        ({"email": "a@example.com", "lists": [{"id": 1, "action": "leave"}]}, "lists[0].action"),
        ({"email": "a@example.com", "lists": "Newsletter"}, "lists"),
        ({"email": "a@example.com", "consent": {"ip": "not an ip"}}, "consent.ip"),
        ({"first_name": "Nobody"}, "email"),
        ({}, "email"),
    ],
)
def test_every_invalid_upsert_is_a_400_naming_the_field_and_writes_nothing(api, company, body, field):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    services.custom_field_create(company=company, name="birthday", field_type=FieldType.DATE)
    services.custom_field_create(company=company, name="nickname", field_type=FieldType.TEXT)
    assert_validation_error(api.post("/api/contacts", body), field)
    assert not Contact.objects.for_company(company).exists()


def test_a_body_that_is_not_json_or_not_an_object_is_a_400(api):
    response = api.post("/api/contacts", "{not json", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == 400
    assert api.post("/api/contacts", [{"email": "a@example.com"}]).status_code == 400


def test_custom_fields_in_object_and_splio_list_form_are_typed(api, company):
    age = services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    services.custom_field_create(company=company, name="vip", field_type=FieldType.BOOLEAN)
    services.custom_field_create(company=company, name="birthday", field_type=FieldType.DATE)
    first = api.post("/api/contacts", {"email": "a@example.com", "fields": {"age": 41, "vip": True}})
    assert first.json()["fields"] == {"age": 41, "vip": True}
    second = api.post(
        "/api/contacts",
        {
            "email": "a@example.com",
            "fields": [{"id": age.pk, "value": "42.5"}, {"name": "birthday", "value": "1990-02-03"}],
        },
    )
    assert second.status_code == 200
    assert second.json()["fields"] == {"age": 42.5, "vip": True, "birthday": "1990-02-03"}


def test_lists_in_the_upsert_subscribe_by_id_or_name_and_unsubscribe_with_action(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    vip = services.contact_list_create(company=company, name="VIP")
    body = api.post("/api/contacts", {"email": "a@example.com", "lists": [{"id": news.pk}, {"name": "VIP"}]}).json()
    assert {(row["list_id"], row["name"], row["status"]) for row in body["lists"]} == {
        (news.pk, "Newsletter", "subscribed"),
        (vip.pk, "VIP", "subscribed"),
    }
    body = api.post("/api/contacts", {"email": "a@example.com", "lists": [{"id": vip.pk, "action": "unsubscribe"}]})
    membership = ListMembership.objects.get(contact_list=vip)
    assert membership.status == MembershipStatus.UNSUBSCRIBED and membership.unsubscribed_at is not None


def test_unsubscribed_contact_is_not_resubscribed_without_consent_but_is_with_it(api, company):
    contact = ContactFactory(company=company, email="ann@example.com")
    services.contact_unsubscribe_all(contact=contact)

    refused = api.post("/api/contacts", {"email": "ann@example.com", "status": "subscribed"})
    assert refused.status_code == 200
    assert refused.json()["status"] == "unsubscribed"
    assert "consent" in refused.json()["warnings"][0]
    assert ConsentRecord.objects.filter(contact=contact, action=ConsentAction.RESUBSCRIBE_REFUSED).exists()

    consent = {"source": "checkout form", "ip": "203.0.113.7", "user_agent": "Mozilla/5.0 (shop)"}
    accepted = api.post("/api/contacts", {"email": "ann@example.com", "status": "subscribed", "consent": consent})
    assert accepted.json()["status"] == "subscribed" and "warnings" not in accepted.json()
    record = ConsentRecord.objects.filter(contact=contact, action=ConsentAction.SUBSCRIBED).latest("id")
    assert (record.source, record.ip_address, record.user_agent) == (
        "checkout form",
        "203.0.113.7",
        "Mozilla/5.0 (shop)",
    )


def test_blacklisted_address_is_created_unsubscribed_and_only_consent_lifts_it(api, company):
    services.suppression_add(company=company, email="ann@example.com", reason="complaint")
    created = api.post("/api/contacts", {"email": "ann@example.com"})
    assert created.status_code == 201
    assert created.json()["status"] == "unsubscribed" and "blacklisted" in created.json()["warnings"][0]

    again = api.post("/api/contacts", {"email": "ann@example.com", "status": "subscribed"})
    assert again.json()["status"] == "unsubscribed"
    assert api.get("/api/blacklist/ann@example.com").status_code == 200

    lifted = api.post(
        "/api/contacts", {"email": "ann@example.com", "status": "subscribed", "consent": {"source": "signup"}}
    )
    assert lifted.json()["status"] == "subscribed"
    assert api.get("/api/blacklist/ann@example.com").status_code == 404


def test_upsert_without_consent_records_the_api_call_as_the_source(api, company):
    response = api.post("/api/contacts", {"email": "a@example.com"}, headers={"User-Agent": "shop-sync/2.1"})
    record = ConsentRecord.objects.get(contact_id=response.json()["contact_id"])
    assert (record.action, record.source, record.ip_address, record.user_agent) == (
        ConsentAction.SUBSCRIBED,
        "api",
        "127.0.0.1",
        "shop-sync/2.1",
    )


# --- List and read -------------------------------------------------------------------------------


def test_list_filters_by_status_list_search_and_tag(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    ann = ContactFactory(company=company, email="ann@example.com", first_name="Ann", tags=["vip"])
    bob = ContactFactory(company=company, email="bob@example.com", first_name="Bob", last_name="Stone")
    cy = ContactFactory(company=company, email="cy@shop.test", status="bounced")
    services.list_subscribe(contact=bob, contact_list=news)

    def ids(query):
        response = api.get("/api/contacts", query)
        assert response.status_code == 200, response.content
        return {row["contact_id"] for row in response.json()["contacts"]}

    assert ids({}) == {ann.pk, bob.pk, cy.pk}
    assert ids({"status": "bounced"}) == {cy.pk}
    assert ids({"status": ""}) == {ann.pk, bob.pk, cy.pk}
    assert ids({"list_id": news.pk}) == {bob.pk}
    assert ids({"search": "stone"}) == {bob.pk}
    assert ids({"search": "EXAMPLE.com"}) == {ann.pk, bob.pk}
    assert ids({"tag": "vip"}) == {ann.pk}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"status": "maybe"}, "status"),
        ({"list_id": "abc"}, "list_id"),
        ({"list_id": "1.5"}, "list_id"),
        ({"list_id": str(10**30)}, "list_id"),
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"include_erased": "maybe"}, "include_erased"),
    ],
)
def test_list_rejects_bad_parameters_naming_them(api, query, field):
    assert_validation_error(api.get("/api/contacts", query), field)


def test_list_paginates_with_bounds(api, company):
    for n in range(5):
        ContactFactory(company=company, email=f"c{n}@example.com")
    page = api.get("/api/contacts", {"per_page": 2, "page": 3}).json()
    assert len(page["contacts"]) == 1
    assert page["pagination"] == {"page": 3, "per_page": 2, "total": 5, "total_pages": 3}
    assert api.get("/api/contacts", {"per_page": 2, "page": 9}).json()["contacts"] == []
    assert len(api.get("/api/contacts", {"per_page": 100}).json()["contacts"]) == 5


def test_list_costs_the_same_queries_for_2_or_12_rich_contacts(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)

    def add(n):
        contact = ContactFactory(company=company, email=f"c{n}@example.com", tags=["a", "b"], fields={"age": n})
        services.list_subscribe(contact=contact, contact_list=news)

    def queries():
        with CaptureQueriesContext(connection) as captured:
            response = api.get("/api/contacts", {"per_page": 100})
        assert response.status_code == 200
        return len(captured), response.json()

    api.get("/api/")  # the key is looked up and cached by the first request
    for n in range(2):
        add(n)
    few, _ = queries()
    for n in range(2, 12):
        add(n)
    many, body = queries()
    assert many == few == 4  # count, page, field values, memberships
    assert len(body["contacts"]) == 12
    assert all(row["tags"] == ["a", "b"] and row["lists"][0]["name"] == "Newsletter" for row in body["contacts"])


def test_get_one_contact_shows_everything_the_api_knows(api, company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    news = services.contact_list_create(company=company, name="Newsletter")
    contact = ContactFactory(
        company=company,
        email="ann@example.com",
        first_name="Ann",
        tags=["vip"],
        properties={"k": "v"},
        fields={"age": 30},
    )
    services.list_subscribe(contact=contact, contact_list=news)
    body = api.get(f"/api/contacts/{contact.pk}").json()
    assert set(body) == CONTACT_KEYS
    assert body["fields"] == {"age": 30} and body["tags"] == ["vip"] and body["properties"] == {"k": "v"}
    assert body["lists"] == [{"list_id": news.pk, "name": "Newsletter", "status": "subscribed"}]
    assert api.get("/api/contacts/999999").status_code == 404
    assert api.get("/api/contacts/not-a-number").status_code == 404


# --- PUT / PATCH -----------------------------------------------------------------------------------


def test_put_replaces_attributes_properties_and_tags(api, company):
    contact = ContactFactory(
        company=company,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        phone="+33612345678",
        tags=["vip", "old"],
        properties={"a": 1},
    )
    response = api.put(
        f"/api/contacts/{contact.pk}", {"email": "ann@example.com", "first_name": "Anna", "tags": ["new"]}
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Anna", "", "")
    assert body["tags"] == ["new"] and body["properties"] == {}
    assert body["status"] == "subscribed"


def test_put_needs_an_identifier(api, company):
    contact = ContactFactory(company=company, email="ann@example.com")
    assert_validation_error(api.put(f"/api/contacts/{contact.pk}", {"first_name": "Ann"}), "email")
    contact.refresh_from_db()
    assert contact.email == "ann@example.com"


def test_patch_changes_only_what_is_given(api, company):
    contact = ContactFactory(
        company=company,
        email="ann@example.com",
        first_name="Ann",
        phone="+33612345678",
        tags=["vip"],
        properties={"a": 1},
    )
    response = api.patch(f"/api/contacts/{contact.pk}", {"last_name": "Lee", "properties": {"b": 2}})
    body = response.json()
    assert (body["first_name"], body["last_name"], body["phone"]) == ("Ann", "Lee", "+33612345678")
    assert body["tags"] == ["vip"] and body["properties"] == {"a": 1, "b": 2}

    body = api.patch(f"/api/contacts/{contact.pk}", {"tags": ["x", "y"], "phone": None}).json()
    assert body["tags"] == ["x", "y"] and body["phone"] == ""


def test_patch_cannot_take_another_contacts_email_or_external_id(api, company):
    ContactFactory(company=company, email="taken@example.com", external_id="EXT-1")
    contact = ContactFactory(company=company, email="ann@example.com")
    # A conflict with another row, not invalid input (tests/contacts/test_api_conflicts.py).
    taken_email = api.patch(f"/api/contacts/{contact.pk}", {"email": "Taken@example.com"})
    assert taken_email.status_code == 409 and "email" in taken_email.json()["details"]
    taken_id = api.patch(f"/api/contacts/{contact.pk}", {"external_id": "EXT-1"})
    assert taken_id.status_code == 409 and "external_id" in taken_id.json()["details"]
    contact.refresh_from_db()
    assert (contact.email, contact.external_id) == ("ann@example.com", None)


def test_patch_resubscribe_needs_consent(api, company):
    contact = ContactFactory(company=company, email="ann@example.com")
    services.contact_unsubscribe_all(contact=contact)
    refused = api.patch(f"/api/contacts/{contact.pk}", {"status": "subscribed"}).json()
    assert refused["status"] == "unsubscribed" and refused["warnings"]
    accepted = api.patch(f"/api/contacts/{contact.pk}", {"status": "subscribed", "consent": {"source": "preferences"}})
    assert accepted.json()["status"] == "subscribed"


def test_patch_validates_like_the_upsert(api, company):
    contact = ContactFactory(company=company, email="ann@example.com")
    assert_validation_error(api.patch(f"/api/contacts/{contact.pk}", {"phone": 33612345678}), "phone")
    assert_validation_error(api.patch(f"/api/contacts/{contact.pk}", {"email": None}), "email")
    assert_validation_error(api.patch(f"/api/contacts/{contact.pk}", {"tags": "vip"}), "tags")


# --- Erase and export ------------------------------------------------------------------------------


def test_delete_erases_personal_data_and_keeps_anonymized_events(api, company):
    news = services.contact_list_create(company=company, name="Newsletter")
    contact = ContactFactory(
        company=company,
        email="ann@example.com",
        first_name="Ann",
        phone="+33612345678",
        external_id="C-1",
        tags=["vip"],
    )
    services.list_subscribe(contact=contact, contact_list=news)
    services.key_information_upsert(contact=contact, numeric=[{"name": "Shoe size", "value": 39}])
    event = Event.objects.create(company=company, contact=contact, event_type="order_placed", value="49.90")

    response = api.delete(f"/api/contacts/{contact.pk}")
    assert response.status_code == 200
    assert response.json() == {"contact_id": contact.pk, "erased": True}

    contact.refresh_from_db()
    assert (contact.email, contact.phone, contact.external_id, contact.first_name) == ("", "", None, "")
    assert contact.erased_at is not None and contact.status == ContactStatus.UNSUBSCRIBED
    assert contact.tags == [] and not KeyInformation.objects.filter(contact=contact).exists()
    assert not ListMembership.objects.filter(contact=contact).exists()
    event.refresh_from_db()
    assert event.contact_id == contact.pk  # activity stays countable, now anonymous

    assert contact.pk not in {row["contact_id"] for row in api.get("/api/contacts").json()["contacts"]}
    listed = api.get("/api/contacts", {"include_erased": "true"}).json()["contacts"]
    assert [row["email"] for row in listed if row["contact_id"] == contact.pk] == [""]  # audit: anonymized


def test_an_erased_contact_is_unknown_to_the_api(api, company):
    """Splio: after DELETE the contact is unknown (404 everywhere); the person coming back is a new contact."""
    news = services.contact_list_create(company=company, name="Newsletter")
    contact = ContactFactory(company=company, email="ann@example.com", first_name="Ann", external_id="C-1")
    services.list_subscribe(contact=contact, contact_list=news)
    services.contact_unsubscribe_all(contact=contact)
    assert api.delete(f"/api/contacts/{contact.pk}").status_code == 200

    path = f"/api/contacts/{contact.pk}"
    for response in (
        api.get(path),
        api.put(path, {"email": "ann@example.com"}),
        api.patch(path, {"email": "ann@example.com"}),
        api.get(f"{path}/export"),
        api.delete(path),
        api.post("/api/key-information/upsert", {"contactId": contact.pk, "keyInformation": {"text": []}}),
        api.get("/api/key-information", {"contactId": contact.pk}),
    ):
        assert response.status_code == 404, (response.request, response.content)
        assert response.json()["code"] == 404
    added = api.post(f"/api/lists/{news.pk}/members", {"contact_ids": [contact.pk]}).json()["results"]
    assert added[0]["status"] == "error"

    contact.refresh_from_db()
    assert (contact.email, contact.external_id, contact.first_name) == ("", None, "")
    assert contact.erased_at is not None

    # The old address (and external id) upserted again: a new contact, freshly subscribed.
    again = api.post("/api/contacts", {"email": "ann@example.com", "external_id": "C-1"})
    assert again.status_code == 201 and again.json()["contact_id"] != contact.pk
    assert again.json()["status"] == "subscribed" and again.json()["lists"] == []
    bulk = api.post("/api/contacts/bulk", {"contacts": [{"email": "ann@example.com", "first_name": "Ann"}]}).json()
    assert bulk["results"][0]["contact_id"] == again.json()["contact_id"]
    contact.refresh_from_db()
    assert contact.email == "" and contact.erased_at is not None


def test_an_erased_contact_cannot_be_revived_through_the_services(company):
    """The dashboard and any other caller: a change to an erased row is refused, the row stays anonymous."""
    from django.core.exceptions import ValidationError

    contact = ContactFactory(company=company, email="ann@example.com")
    services.contact_erase(contact=contact)
    with pytest.raises(ValidationError):
        services.contact_update(contact=contact, data={"email": "ann@example.com"})
    contact.refresh_from_db()
    assert contact.email == "" and contact.erased_at is not None


def test_export_holds_everything_stored_about_the_contact(api, company):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    letters = services.contact_list_create(company=company, name="Letters")
    contact = ContactFactory(
        company=company,
        email="ann@example.com",
        first_name="Ann",
        tags=["vip"],
        properties={"k": "v"},
        fields={"age": 30},
    )
    services.list_subscribe(
        contact=contact, contact_list=letters, consent=ConsentContext(source="form", ip_address="198.51.100.2")
    )
    services.key_information_upsert(
        contact=contact, numeric=[{"name": "Shoe size", "value": 39}], text=[{"name": "Color", "value": "black"}]
    )
    services.suppression_add(company=company, email="ann@example.com", reason="asked")
    Event.objects.create(company=company, contact=contact, event_type="order_placed", data={"order_id": "O-1"})

    response = api.get(f"/api/contacts/{contact.pk}/export")
    assert response.status_code == 200
    export = response.json()
    assert export["contact"]["first_name"] == "Ann" and export["contact"]["fields"] == {"age": 30}
    assert export["contact"]["tags"] == ["vip"] and export["contact"]["properties"] == {"k": "v"}
    assert [(k["name"], k["value"]) for k in export["key_information"]] == [("Color", "black"), ("Shoe size", 39)]
    [membership] = export["lists"]
    assert membership["name"] == "Letters" and membership["status"] == "subscribed" and membership["subscribed_at"]
    assert {"subscribed", "blacklisted"} <= {record["action"] for record in export["consent"]}
    form = next(record for record in export["consent"] if record["source"] == "form")
    assert form["ip_address"] == "198.51.100.2" and form["list_name"] == "Letters"
    assert [(e["event_type"], e["data"]) for e in export["events"]] == [("order_placed", {"order_id": "O-1"})]
    assert export["blacklist"]["reason"] == "asked"
    assert export["exported_at"]


def test_erasure_leaves_no_personal_data_in_what_the_export_would_hold(company):
    from contacts.selectors import contact_export

    contact = ContactFactory(company=company, email="ann@example.com", first_name="Ann", tags=["vip"])
    Event.objects.create(company=company, contact=contact, event_type="product_viewed")
    services.contact_erase(contact=contact)
    export = contact_export(contact=contact)
    assert export.contact.email == "" and export.contact.tags == []
    assert export.memberships == [] and export.key_information == [] and export.blacklist_entry is None
    assert all(record.ip_address is None and record.user_agent == "" for record in export.consent_records)
    assert len(export.events) == 1


@pytest.mark.postgres
def test_tag_filter_is_served_by_the_gin_index(company):
    """`has_tag` is jsonb containment on PostgreSQL, which the contact_tags GIN index answers; the
    `?tag=` filter itself is case-insensitive like a segment's tag rule (issue 10)."""
    from contacts.filters import ContactFilterSet
    from contacts.tags import has_tag

    services.contact_upsert(company=company, data={"email": "t@example.com", "tags": ["vip", "Gold"]})
    queryset = ContactFilterSet({"tag": "Gold"}, queryset=Contact.objects.for_company(company)).qs
    assert list(queryset.values_list("email", flat=True)) == ["t@example.com"]
    assert ContactFilterSet({"tag": "gold"}, queryset=Contact.objects.for_company(company)).qs.exists()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a tiny table: make the planner show it can
        sql, params = Contact.objects.filter(has_tag("Gold")).order_by().query.sql_with_params()
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "contact_tags" in plan, plan


def test_an_unknown_custom_field_or_list_is_skipped_with_a_warning_and_the_rest_is_saved(api, company, other_company):
    theirs = services.contact_list_create(company=other_company, name="Theirs", double_opt_in=False)
    response = api.post(
        "/api/contacts",
        {
            "email": "typo@example.com",
            "first_name": "Ann",
            "fields": [{"name": "Shoe size", "value": 42}, {"id": 999_999, "value": "x"}],
            "lists": [{"name": "Newsleter"}, {"id": theirs.pk}],
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["first_name"] == "Ann" and body["fields"] == {} and body["lists"] == []
    assert body["warnings"] == [
        "fields: no custom field named 'Shoe size'; its value was not stored (see POST /api/fields).",
        "fields: no custom field id 999999; its value was not stored (see POST /api/fields).",
        "lists[0]: no list with name 'Newsleter'; skipped (see GET /api/lists).",
        f"lists[1]: no list with id {theirs.pk}; skipped (see GET /api/lists).",
    ]
    assert not ListMembership.objects.filter(contact_list=theirs).exists()


def test_a_value_no_custom_field_could_hold_is_refused_even_for_an_unknown_field(api, company):
    """The schema's field values are scalars: an object or list is a 400 naming it, known field or not."""
    for value in ({}, [1]):
        response = api.post("/api/contacts", {"email": "shape@example.com", "fields": {"Shoe size": value}})
        assert response.status_code == 400, response.content
        assert "fields.Shoe size" in response.json()["details"]
    assert not Contact.objects.for_company(company).filter(email="shape@example.com").exists()


def test_a_number_smaller_than_a_columns_precision_is_stored_as_zero_not_refused(api, company):
    api.post("/api/contacts", {"email": "tiny@example.com"})
    response = api.post(
        "/api/key-information/upsert",
        {"email": "tiny@example.com", "keyInformation": {"numeric": [{"name": "score", "value": 9.5e-35}]}},
    )
    assert response.status_code in (200, 201), response.content
    stored = api.get("/api/key-information?email=tiny@example.com&name=score").json()["keyInformation"]
    assert float(stored[0]["value"]) == 0
