"""Dashboard: renaming, editing and deleting custom fields; duplicating a segment."""

import pytest

from contacts.models import CustomField, CustomFieldValue, Segment
from contacts.segments import services as segment_services
from salloq.core.models import Role
from tests.conftest import html
from tests.factories import ContactFactory, CustomFieldFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def rule_fields(segment) -> list[str]:
    segment.refresh_from_db()
    return [rule["field"] for rule in segment.definition["rules"]]


def test_rename_a_field_and_the_segments_that_use_it(marketer_client, company):
    shoe = CustomFieldFactory(company=company, name="Shoe size", field_type="number")
    ContactFactory(company=company, email="ada@example.com", fields={"Shoe size": 38})
    segment = segment_services.segment_create(
        company=company,
        name="Small feet",
        definition={
            "operator": "and",
            "rules": [{"field": "fields.Shoe size", "comparison": "less_than", "value": 40}],
        },
    )

    response = marketer_client.post(f"/contacts/fields/{shoe.pk}/edit/", {"name": "Shoe size (EU)"}, follow=True)

    assert response.status_code == 200
    assert "Renamed the field Shoe size to Shoe size (EU)." in html(response)
    shoe.refresh_from_db()
    assert shoe.name == "Shoe size (EU)"
    assert rule_fields(segment) == ["fields.Shoe size (EU)"]
    # The segment still finds its contact under the new name.
    from contacts import segments

    assert segments.segment_contacts(company, Segment.objects.get().definition).count() == 1


def test_rename_to_a_taken_name_is_a_conflict_with_a_clear_message(marketer_client, company):
    CustomFieldFactory(company=company, name="Shoe size", field_type="number")
    colour = CustomFieldFactory(company=company, name="Colour")

    response = marketer_client.post(f"/contacts/fields/{colour.pk}/edit/", {"name": "Shoe size"})

    assert response.status_code == 409
    assert "A field named &#x27;Shoe size&#x27; already exists." in html(response)
    colour.refresh_from_db()
    assert colour.name == "Colour"


@pytest.mark.parametrize(("name", "message"), [("   ", "This field is required."), ("x" * 101, "at most 100")])
def test_rename_checks_the_name_as_creation_does(marketer_client, company, name, message):
    colour = CustomFieldFactory(company=company, name="Colour")

    response = marketer_client.post(f"/contacts/fields/{colour.pk}/edit/", {"name": name})

    assert response.status_code == 400
    assert message in html(response)
    colour.refresh_from_db()
    assert colour.name == "Colour"


def test_a_choice_field_keeps_the_choices_contacts_hold(marketer_client, company):
    size = CustomFieldFactory(company=company, name="Size", field_type="choice", choices=["S", "M", "L"])
    ContactFactory(company=company, email="ada@example.com", fields={"Size": "M"})

    refused = marketer_client.post(f"/contacts/fields/{size.pk}/edit/", {"name": "Size", "choices": "S\nL\nXL"})
    accepted = marketer_client.post(f"/contacts/fields/{size.pk}/edit/", {"name": "Size", "choices": "S\nM\nL\nXL"})

    assert refused.status_code == 400
    assert "Contacts hold &#x27;M&#x27;" in html(refused)
    assert accepted.status_code == 302
    size.refresh_from_db()
    assert size.choices == ["S", "M", "L", "XL"]


def test_delete_states_the_values_and_segments_that_go_before_deleting(marketer_client, company):
    shoe = CustomFieldFactory(company=company, name="Shoe size", field_type="number")
    other = CustomFieldFactory(company=company, name="Colour")
    ContactFactory(company=company, email="a@example.com", fields={"Shoe size": 38, "Colour": "red"})
    ContactFactory(company=company, email="b@example.com", fields={"Shoe size": 42})
    ContactFactory(company=company, email="c@example.com")
    segment_services.segment_create(
        company=company,
        name="Big feet",
        definition={
            "operator": "and",
            "rules": [{"field": "fields.Shoe size", "comparison": "greater_than", "value": 40}],
        },
    )

    page = html(marketer_client.get(f"/contacts/fields/{shoe.pk}/delete/"))

    assert '<strong id="field-value-count">2 values</strong>' in page
    assert "Big feet" in page
    assert CustomField.objects.filter(pk=shoe.pk).exists()

    response = marketer_client.post(f"/contacts/fields/{shoe.pk}/delete/", follow=True)

    assert "Deleted the field Shoe size and 2 contact values." in html(response)
    assert not CustomField.objects.filter(pk=shoe.pk).exists()
    assert list(CustomFieldValue.objects.values_list("field_id", flat=True)) == [other.pk]


def test_field_pages_are_for_marketers_of_the_company(client, company, other_company):
    theirs = CustomFieldFactory(company=other_company, name="Theirs")
    mine = CustomFieldFactory(company=company, name="Mine")
    client.force_login(MembershipFactory(company=company, role=Role.VIEWER).user)

    assert client.get(f"/contacts/fields/{mine.pk}/edit/").status_code == 403
    assert client.post(f"/contacts/fields/{mine.pk}/delete/").status_code == 403
    assert CustomField.objects.filter(pk=mine.pk).exists()

    client.force_login(MembershipFactory(company=company, role=Role.MARKETER).user)
    assert client.get(f"/contacts/fields/{theirs.pk}/edit/").status_code == 404
    assert client.post(f"/contacts/fields/{theirs.pk}/delete/").status_code == 404
    assert CustomField.objects.filter(pk=theirs.pk).exists()


def test_field_table_links_edit_and_delete_for_marketers(marketer_client, company):
    colour = CustomFieldFactory(company=company, name="Colour")

    page = html(marketer_client.get("/contacts/fields/"))

    assert f'href="/contacts/fields/{colour.pk}/edit/"' in page
    assert f'href="/contacts/fields/{colour.pk}/delete/"' in page


# --- Segments ---------------------------------------------------------------------------------

DEFINITION = {"operator": "and", "rules": [{"field": "status", "comparison": "equals", "value": "subscribed"}]}


def test_duplicate_a_segment_as_copy_of_with_a_unique_name(marketer_client, company):
    original = segment_services.segment_create(company=company, name="VIP", definition=DEFINITION, description="d")

    first = marketer_client.post(f"/contacts/segments/{original.pk}/duplicate/")
    second = marketer_client.post(f"/contacts/segments/{original.pk}/duplicate/")

    copies = list(Segment.objects.exclude(pk=original.pk).order_by("pk"))
    assert [c.name for c in copies] == ["Copy of VIP", "Copy of VIP (2)"]
    assert all(c.definition == DEFINITION and c.description == "d" for c in copies)
    assert first["Location"] == f"/contacts/segments/{copies[0].pk}/"
    assert second.status_code == 302


def test_duplicate_of_another_companys_segment_is_404_and_viewers_are_refused(client, company, other_company):
    theirs = segment_services.segment_create(company=other_company, name="Theirs", definition=DEFINITION)
    mine = segment_services.segment_create(company=company, name="Mine", definition=DEFINITION)
    client.force_login(MembershipFactory(company=company, role=Role.MARKETER).user)
    assert client.post(f"/contacts/segments/{theirs.pk}/duplicate/").status_code == 404

    client.force_login(MembershipFactory(company=company, role=Role.VIEWER).user)
    assert client.post(f"/contacts/segments/{mine.pk}/duplicate/").status_code == 403
    assert Segment.objects.count() == 2


def test_segment_list_offers_duplicate(marketer_client, company):
    segment = segment_services.segment_create(company=company, name="VIP", definition=DEFINITION)

    page = html(marketer_client.get("/contacts/segments/"))

    assert f'action="/contacts/segments/{segment.pk}/duplicate/"' in page
