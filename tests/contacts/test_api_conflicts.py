"""A write refused only because another row already holds a unique value is a 409 Conflict."""

import pytest

from contacts import services
from contacts.models import Contact
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def assert_conflict(response, field, message):
    assert response.status_code == 409, response.content
    assert response.json() == {"error": "Conflict", "code": 409, "message": message, "details": {field: [message]}}


@pytest.mark.parametrize("method", ["patch", "put"])
def test_taking_another_contacts_email_is_a_conflict(api, company, method):
    ContactFactory(company=company, email="ann@example.com")
    bob = ContactFactory(company=company, email="bob@example.com", first_name="Bob")
    response = getattr(api, method)(f"/api/contacts/{bob.pk}", {"email": "ANN@example.com"})
    assert_conflict(response, "email", "Another contact of this company already has this email.")
    bob.refresh_from_db()
    assert bob.email == "bob@example.com" and bob.first_name == "Bob"


def test_taking_another_contacts_external_id_is_a_conflict(api, company):
    ContactFactory(company=company, email="ann@example.com", external_id="CUST-1")
    bob = ContactFactory(company=company, email="bob@example.com")
    response = api.patch(f"/api/contacts/{bob.pk}", {"external_id": "CUST-1"})
    assert_conflict(response, "external_id", "Another contact of this company already has this external_id.")


def test_an_upsert_whose_external_id_and_email_name_two_contacts_is_a_conflict(api, company):
    ContactFactory(company=company, email="ann@example.com", external_id="CUST-1")
    ContactFactory(company=company, email="bob@example.com")
    # Found by external_id (Ann), then asked to take Bob's address.
    response = api.post("/api/contacts", {"external_id": "CUST-1", "email": "bob@example.com"})
    assert_conflict(response, "email", "Another contact of this company already has this email or external_id.")
    assert Contact.objects.get(external_id="CUST-1").email == "ann@example.com"


def test_a_conflict_together_with_invalid_input_is_a_400(api, company):
    services.contact_list_create(company=company, name="Taken")
    response = api.post("/api/lists", {"name": "Taken", "reminder_after_days": 0})
    assert response.status_code == 400 and "reminder_after_days" in response.json()["details"]


def test_conflicts_are_documented_on_the_operations_that_can_answer_them(client):
    import yaml

    spec = yaml.safe_load(client.get("/api/schema/").content)
    for path, method in [
        ("/api/contacts/", "post"),
        ("/api/contacts/{id}/", "put"),
        ("/api/contacts/{id}/", "patch"),
        ("/api/lists/", "post"),
        ("/api/lists/{id}/", "put"),
        ("/api/lists/{id}/", "patch"),
        ("/api/fields/", "post"),
    ]:
        assert "409" in spec["paths"][path][method]["responses"], (method, path)
