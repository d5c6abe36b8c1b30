"""The company switcher in a real browser, on the page that used to break it: a contact with two
lists (its `memberships` once replaced the user's companies and left a blank switcher that led
to a 403)."""

import pytest
from playwright.sync_api import expect

from contacts import services
from salloq.core.models import Role
from tests.factories import CompanyFactory, ContactFactory, ContactListFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def test_switcher_on_a_contact_with_two_lists_lands_on_the_other_company_contacts(
    live_server, page, log_in, company, browser_errors, screenshot
):
    second = CompanyFactory(name="Second Shop")
    user = UserFactory(username="mia")
    MembershipFactory(company=company, user=user, role=Role.MARKETER)
    MembershipFactory(company=second, user=user, role=Role.VIEWER)
    ada = ContactFactory(company=company, email="ada@example.com", first_name="Ada", last_name="Lovelace")
    for name in ("Weekly", "Monthly"):
        services.list_subscribe(contact=ada, contact_list=ContactListFactory(company=company, name=name))
    ContactFactory(company=second, email="bob@second.example", first_name="Bob")

    log_in(user)
    page.goto(f"/contacts/{ada.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    expect(page.locator("#contact-lists tbody tr")).to_have_count(2)

    switcher = page.get_by_label("Company")
    expect(switcher.locator("option")).to_have_text(["Acme Shop", "Second Shop"])
    expect(switcher).to_have_value(str(company.pk))
    screenshot("contact-with-two-lists")

    switcher.select_option(label="Second Shop")  # app.js submits the form on change

    expect(page).to_have_url(f"{live_server.url}/contacts/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    expect(page.get_by_label("Company")).to_have_value(str(second.pk))
    rows = page.locator("#contact-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("bob@second.example")
    expect(page.locator(".who")).to_contain_text("Viewer")
    screenshot("after-switch")
    assert browser_errors == []
