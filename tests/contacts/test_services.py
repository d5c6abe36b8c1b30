"""contacts.services: the upsert rules every entry point (API, bulk, import, dashboard) shares."""

import pytest
from django.core.exceptions import ValidationError

from contacts import services
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactStatus, FieldType, KeyInformation
from contacts.services import ConsentContext

pytestmark = pytest.mark.django_db


def upsert(company, **data):
    return services.contact_upsert(company=company, data=data)


def test_upsert_creates_then_updates_by_normalized_email(company):
    first = upsert(company, email=" John@Example.COM ", first_name="John")
    assert first.created and first.contact.email == "john@example.com"
    second = upsert(company, email="john@example.com", last_name="Doe")
    assert not second.created and second.contact.pk == first.contact.pk
    contact = Contact.objects.get(pk=first.contact.pk)
    assert (contact.first_name, contact.last_name) == ("John", "Doe")


def test_upsert_prefers_external_id_and_can_change_email(company):
    original = upsert(company, email="old@example.com", external_id="CUST-1").contact
    moved = upsert(company, email="new@example.com", external_id="CUST-1")
    assert not moved.created and moved.contact.pk == original.pk
    assert Contact.objects.get(pk=original.pk).email == "new@example.com"


def test_upsert_merges_tags_and_properties(company):
    upsert(company, email="a@example.com", tags=["vip", "newsletter"], properties={"a": 1, "b": 2})
    result = upsert(company, email="a@example.com", tags=["newsletter", "customer"], properties={"b": 3})
    contact = result.contact
    assert sorted(contact.tags) == ["customer", "newsletter", "vip"]
    assert contact.properties == {"a": 1, "b": 3}


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "a@example.com", "phone": 33612345678}, "phone"),
        ({"email": "a@example.com", "status": "maybe"}, "status"),
        ({"email": "a@example.com", "tags": "vip"}, "tags"),
        ({"email": "a@example.com", "properties": ["x"]}, "properties"),
        ({"first_name": "Nobody"}, "email"),
    ],
)
def test_upsert_rejects_bad_input_naming_the_field(company, data, field):
    with pytest.raises(ValidationError) as excinfo:
        services.contact_upsert(company=company, data=data)
    assert field in excinfo.value.message_dict
    assert not Contact.objects.exists()


def test_phone_is_normalized_to_e164(company):
    contact = upsert(company, email="p@example.com", phone="0033 6 12 34 56 78").contact
    assert contact.phone == "+33612345678"


def test_unsubscribed_contact_is_not_resubscribed_without_fresh_consent(company):
    contact = upsert(company, email="u@example.com", status="unsubscribed").contact
    result = upsert(company, email="u@example.com", status="subscribed")
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.UNSUBSCRIBED
    assert result.warnings and "consent" in result.warnings[0]
    assert ConsentRecord.objects.filter(contact=contact, action=ConsentAction.RESUBSCRIBE_REFUSED).exists()

    fresh = ConsentContext(source="signup form", ip_address="198.51.100.4", fresh=True)
    services.contact_upsert(company=company, data={"email": "u@example.com", "status": "subscribed"}, consent=fresh)
    assert Contact.objects.get(pk=contact.pk).status == ContactStatus.SUBSCRIBED
    record = ConsentRecord.objects.filter(contact=contact, action=ConsentAction.SUBSCRIBED).first()
    assert record.ip_address == "198.51.100.4" and record.source == "signup form"


def test_blacklisted_address_is_created_unsubscribed_and_never_mailable(company):
    services.suppression_add(company=company, email="Spam@Example.com", reason="complaint")
    result = upsert(company, email="spam@example.com")
    assert result.contact.status == ContactStatus.UNSUBSCRIBED and result.warnings
    assert not Contact.objects.for_company(company).mailable().filter(pk=result.contact.pk).exists()


def test_custom_fields_are_typed_and_validated(company):
    services.custom_field_create(company=company, name="shoe_size", field_type=FieldType.NUMBER)
    services.custom_field_create(company=company, name="tier", field_type=FieldType.CHOICE, choices=["gold", "silver"])
    contact = upsert(company, email="f@example.com", fields={"shoe_size": "42.5", "tier": "gold"}).contact
    values = {v.field.name: v.value for v in contact.field_values.select_related("field")}
    assert values["shoe_size"] == pytest.approx(42.5) and values["tier"] == "gold"
    with pytest.raises(ValidationError) as excinfo:
        upsert(company, email="f@example.com", fields=[{"name": "tier", "value": "bronze"}])
    assert "fields.tier" in excinfo.value.message_dict


def test_key_information_upsert_and_set_as_null(company):
    contact = upsert(company, email="k@example.com").contact
    services.key_information_upsert(
        contact=contact,
        numeric=[{"name": "Shoe size", "value": 13}],
        text=[{"name": "Preferred color", "value": "black"}],
    )
    services.key_information_upsert(contact=contact, set_as_null=["Preferred color", "Favorite brand"])
    values = {k.name: k.value for k in KeyInformation.objects.filter(contact=contact)}
    assert values == {"Shoe size": 13, "Preferred color": None, "Favorite brand": None}


def test_other_company_with_same_email_is_a_different_contact(company, other_company):
    ours = upsert(company, email="same@example.com", first_name="Ours").contact
    theirs = upsert(other_company, email="same@example.com", first_name="Theirs").contact
    assert ours.pk != theirs.pk
    assert Contact.objects.get(pk=ours.pk).first_name == "Ours"


def test_erase_wipes_personal_data_and_keeps_the_row(company):
    from events.models import Event

    contact = upsert(company, email="e@example.com", first_name="Eve", phone="+33612345678", tags=["vip"]).contact
    Event.objects.create(company=company, contact=contact, event_type="order_placed", value=10)
    services.contact_erase(contact=contact)
    erased = Contact.objects.get(pk=contact.pk)
    assert (erased.email, erased.first_name, erased.phone, erased.erased_at is not None) == ("", "", "", True)
    assert erased.tags == []
    assert Event.objects.filter(contact=erased).count() == 1
