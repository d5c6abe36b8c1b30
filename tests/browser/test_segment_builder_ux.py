"""The segment builder in a real browser: "Property…" puts the cursor in the key it asks for, and a date
picked in the calendar lands in the field as YYYY-MM-DD, the format its placeholder names."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from contacts.models import Contact
from salloq.core.models import Role
from tests.browser.test_segments_ui import builder_action, rule
from tests.factories import ContactFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def test_property_asks_for_its_key_and_a_picked_date_is_typed_in_the_hinted_format(
    live_server, page, log_in, company, browser_errors
):
    marketer = MembershipFactory(company=company, user=UserFactory(username="mo"), role=Role.MARKETER).user
    ContactFactory(company=company, email="old@example.com", created_at=timezone.now() - timedelta(days=400))
    ContactFactory(company=company, email="new@example.com", properties={"plan": "pro"})
    log_in(marketer)
    page.goto("/contacts/segments/new/")
    live = page.locator("#segment-count")
    expect(live).to_have_text("2")

    with builder_action(page):
        rule(page, 1, "status", "equals").get_by_label("Field of rule 1").select_option("properties")
    key = page.get_by_label("Property key of rule 1")
    expect(key).to_be_focused()
    expect(page.locator("#segment-row-1 .segment-row-errors")).to_contain_text("Enter the property key")
    expect(page.locator("#segment-live")).not_to_contain_text("Unknown field")
    page.keyboard.type("plan", delay=30)  # straight into the key: the cursor is there
    expect(page.locator("#segment-row-1 .segment-row-errors")).to_be_empty()
    with builder_action(page):
        rule(page, 1, "properties", "equals").get_by_label("Comparison of rule 1").select_option("is_set")
    expect(key).to_have_value("plan")
    expect(live).to_have_text("1")

    with builder_action(page):
        rule(page, 1, "properties", "is_set").get_by_label("Field of rule 1").select_option("created_at")
    with builder_action(page):
        rule(page, 1, "created_at", "is_set").get_by_label("Comparison of rule 1").select_option("before")
    row = rule(page, 1, "created_at", "before")
    date = row.get_by_label("Value of rule 1", exact=True)
    expect(date).to_have_attribute("placeholder", "YYYY-MM-DD")
    picker_button = row.get_by_role("button", name="Pick a date for value of rule 1")
    expect(picker_button).to_be_visible()  # app.js shows it
    picker_button.click()  # opens the browser's picker; headless, the pick is made on its input below
    cutoff = (timezone.now() - timedelta(days=30)).date().isoformat()
    row.locator(".segment-date-picker").fill(cutoff)
    expect(date).to_have_value(cutoff)
    expect(live).to_have_text("1")  # the old contact only
    expect(page.locator("#segment-preview")).to_contain_text("old@example.com")
    assert Contact.objects.for_company(company).count() == 2
    assert browser_errors == []
