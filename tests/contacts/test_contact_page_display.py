"""How the contact pages show things: nested properties as key paths (selectors.property_items),
and form errors where the user is looking (on top of the form, all at once, and beside each field)."""

import pytest

from contacts.selectors import property_items
from tests.conftest import html
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_property_items_are_readable_key_paths():
    properties = {
        "plan": "gold",
        "address": {"city": "Lyon", "geo": {"lat": 45.76, "lng": 4.83}},
        "kids": [{"name": "Ann", "age": 7}, {"name": "Bo"}],
        "colours": ["teal", "navy"],
        "active": True,
        "nothing": None,
        "empty": {},
        "none_yet": [],
    }
    assert property_items(properties) == [
        ("plan", "gold"),
        ("address.city", "Lyon"),
        ("address.geo.lat", "45.76"),
        ("address.geo.lng", "4.83"),
        ("kids[0].name", "Ann"),
        ("kids[0].age", "7"),
        ("kids[1].name", "Bo"),
        ("colours", "teal, navy"),
        ("active", "Yes"),
        ("nothing", "—"),
        ("empty", "(empty)"),
        ("none_yet", "(empty list)"),
    ]
    assert property_items({}) == []


def test_contact_page_shows_nested_properties_as_key_paths_not_python_reprs(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com", properties={"a": {"b": 1}, "tags": ["x"]})
    page = html(marketer_client.get(f"/contacts/{contact.pk}/"))
    properties = page.split('id="properties"')[1].split("</section>")[0]
    assert "<dt>a.b</dt><dd>1</dd>" in properties and "<dt>tags</dt><dd>x</dd>" in properties
    assert "{" not in properties and "[&#x27;" not in properties


def test_new_contact_errors_are_on_top_of_the_page_all_at_once_and_beside_the_fields(marketer_client, company):
    for n in range(30):
        ContactFactory(company=company, email=f"c{n}@example.com")

    response = marketer_client.post("/contacts/", {"email": "not-an-email", "phone": "12", "first_name": "x" * 151})

    assert response.status_code == 400
    page = html(response)
    # The form with its errors comes before the contact table, not 1300 px below it.
    assert page.index('id="contact-create-form"') < page.index('id="contact-table"')
    assert page.count('id="contact-create-form"') == 1
    summary = page.split('class="message error form-errors"')[1].split("</div>")[0]
    assert '<a href="#id_first_name">First name</a>: Ensure this value has at most 150 characters' in summary
    first_name_field = page.split('name="first_name"')[1].split("</div>")[0]
    assert "at most 150 characters" in first_name_field


def test_the_form_own_errors_and_the_service_errors_are_listed_together(marketer_client, company):
    """The form refuses the long name; the service's rules still judge the email in the same answer."""
    page = html(marketer_client.post("/contacts/", {"email": "not-an-email", "last_name": "x" * 151}))
    summary = page.split('class="message error form-errors"')[1].split("</div>")[0]
    assert '<a href="#id_last_name">Last name</a>' in summary
    assert '<a href="#id_email">Email</a>' in summary and "is not a valid email address" in summary
    email_field = page.split('name="email"')[1].split("</div>")[0]
    assert "is not a valid email address" in email_field
    assert page.index("form-errors") < page.index('id="contact-table"')


def test_a_valid_page_keeps_the_new_contact_form_below_the_table(marketer_client, company):
    page = html(marketer_client.get("/contacts/"))
    assert page.index('id="contact-table"') < page.index('id="contact-create-form"')
    assert "form-errors" not in page


def test_the_edit_form_lists_its_errors_on_top(marketer_client, company):
    contact = ContactFactory(company=company, email="ada@example.com")
    page = html(marketer_client.post(f"/contacts/{contact.pk}/edit/", {"email": "nope", "phone": "12"}))
    summary = page.split('class="message error form-errors"')[1].split("</div>")[0]
    assert page.index("form-errors") < page.index('name="email"')
    assert '<a href="#id_email">Email</a>' in summary
