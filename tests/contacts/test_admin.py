"""Django admin registrations of contacts and events: every changelist and change page opens."""

import pytest
from django.core.files.base import ContentFile

from contacts import services
from contacts.models import (
    ConsentRecord,
    Contact,
    ContactImport,
    ContactList,
    CustomField,
    ListMembership,
    Segment,
    Suppression,
)
from events.models import Event
from tests.conftest import html

pytestmark = pytest.mark.django_db


@pytest.fixture
def everything(company):
    """One row of every registered model, made the way the product makes them."""
    contact = services.contact_upsert(
        company=company,
        data={"email": "ada@example.com", "first_name": "Ada", "tags": ["vip"]},
        consent=services.ConsentContext(source="test", ip_address="192.0.2.1"),
    ).contact
    field = services.custom_field_create(company=company, name="Size", field_type="number")
    services.contact_set_fields(contact=contact, values={"Size": "38"})
    services.key_information_upsert(contact=contact, text=[{"name": "colour", "value": "teal"}])
    contact_list = services.contact_list_create(company=company, name="Newsletter")
    membership, _ = services.list_subscribe(contact=contact, contact_list=contact_list)
    suppression, _ = services.suppression_add(company=company, email="spam@example.com")
    segment = Segment.objects.create(company=company, name="VIPs", definition={"operator": "and", "rules": []})
    contact_import = ContactImport.objects.create(company=company, original_name="people.csv", total_rows=10)
    contact_import.file.save("people.csv", ContentFile(b"email\nada@example.com\n"), save=True)
    event = Event.objects.create(company=company, contact=contact, event_type="order_placed", value="12.50")
    return {
        "contact": contact,
        "customfield": field,
        "contactlist": contact_list,
        "listmembership": membership,
        "suppression": suppression,
        "consentrecord": ConsentRecord.objects.filter(contact=contact).first(),
        "segment": segment,
        "contactimport": contact_import,
        "event": event,
    }


def test_every_changelist_and_change_page_opens(admin_client, everything):
    for name, obj in everything.items():
        app = "events" if name == "event" else "contacts"
        changelist = admin_client.get(f"/admin/{app}/{name}/")
        assert changelist.status_code == 200, name
        change = admin_client.get(f"/admin/{app}/{name}/{obj.pk}/change/")
        assert change.status_code == 200, name


def test_changelist_search_and_filters_work(admin_client, everything, company):
    response = admin_client.get("/admin/contacts/contact/", {"q": "ada", "status__exact": "subscribed"})
    assert response.status_code == 200 and "ada@example.com" in html(response)
    response = admin_client.get("/admin/contacts/contact/", {"company__id__exact": company.pk})
    assert "ada@example.com" in html(response)


def test_contact_page_shows_its_inlines_and_consent_read_only(admin_client, everything):
    contact = everything["contact"]
    page = html(admin_client.get(f"/admin/contacts/contact/{contact.pk}/change/"))
    for inline in ["field_values", "key_information", "list_memberships"]:
        assert f'id="{inline}-group"' in page, inline
    consent = page.split('id="consent_records-group"')[1]
    assert "192.0.2.1" in consent and 'name="consent_records-0-action"' not in consent


def test_consent_records_and_imports_cannot_be_added_or_edited(admin_client, everything):
    record = everything["consentrecord"]
    assert admin_client.get("/admin/contacts/consentrecord/add/").status_code == 403
    admin_client.post(f"/admin/contacts/consentrecord/{record.pk}/change/", {"action": "unsubscribed"})
    record.refresh_from_db()
    assert record.action == "subscribed"
    assert admin_client.get("/admin/contacts/contactimport/add/").status_code == 403
    page = html(admin_client.get(f"/admin/contacts/contactimport/{everything['contactimport'].pk}/change/"))
    assert 'name="processed_rows"' not in page and 'name="total_rows"' not in page


def test_admin_contact_form_normalizes_like_the_services(admin_client, company):
    form = {
        "company": company.pk,
        "email": " Grace@Example.COM ",
        "external_id": "  ",
        "phone": "0033 6 12 34 56 78",
        "first_name": "Grace",
        "last_name": "",
        "lang": "",
        "source": "",
        "status": "subscribed",
        "properties": "{}",
        "tags": '[" vip ", "vip", "Gold"]',
    }
    for prefix in ["field_values", "key_information", "list_memberships", "consent_records"]:
        form[f"{prefix}-TOTAL_FORMS"] = "0"
        form[f"{prefix}-INITIAL_FORMS"] = "0"
    response = admin_client.post("/admin/contacts/contact/add/", form)
    assert response.status_code == 302, html(response)[:2000]
    contact = Contact.objects.get()
    assert (contact.email, contact.phone, contact.external_id) == ("grace@example.com", "+33612345678", None)
    assert contact.tags == ["vip", "Gold"]

    bad = admin_client.post("/admin/contacts/contact/add/", {**form, "email": "nope", "phone": "12"})
    assert bad.status_code == 200 and "is not a valid email address" in html(bad)
    assert Contact.objects.count() == 1


def test_admin_blacklist_form_normalizes_the_address(admin_client, company):
    response = admin_client.post(
        "/admin/contacts/suppression/add/", {"company": company.pk, "email": " Spam@Example.com", "reason": ""}
    )
    assert response.status_code == 302
    assert Suppression.objects.get().email == "spam@example.com"


def test_erase_action_erases_the_selected_contacts(admin_client, everything):
    contact = everything["contact"]
    response = admin_client.post(
        "/admin/contacts/contact/", {"action": "erase_contacts", "_selected_action": [contact.pk]}, follow=True
    )
    assert response.status_code == 200 and "Erased 1 contact(s)" in html(response)
    contact.refresh_from_db()
    assert contact.erased_at and contact.email == ""
    assert contact.tags == [] and not ListMembership.objects.exists()
    # Lists, fields and the events stay.
    assert ContactList.objects.exists() and CustomField.objects.exists() and Event.objects.count() == 1
