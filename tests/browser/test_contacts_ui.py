"""Contacts in a real browser: search-as-you-type swaps the table in place, then a contact is
unsubscribed from its page and the consent history shows it."""

import re

import pytest
from playwright.sync_api import expect

from contacts import services
from contacts.models import ConsentAction, ConsentRecord, Contact, ContactStatus
from salloq.core.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def test_search_narrows_the_table_and_unsubscribing_is_recorded(
    live_server, page, log_in, company, browser_errors, screenshot
):
    marketer = MembershipFactory(company=company, user=UserFactory(username="mia"), role=Role.MARKETER).user
    newsletter = services.contact_list_create(company=company, name="Newsletter")
    consent = services.ConsentContext(source="signup form", ip_address="198.51.100.7")
    people = [
        ("ada@example.com", "Ada", "Lovelace"),
        ("grace@example.com", "Grace", "Hopper"),
        ("alan@example.org", "Alan", "Turing"),
        ("katherine@example.com", "Katherine", "Johnson"),
    ]
    for email, first, last in people:
        person = services.contact_upsert(
            company=company,
            data={"email": email, "first_name": first, "last_name": last, "tags": ["vip"]},
            consent=consent,
        ).contact
        services.list_subscribe(contact=person, contact_list=newsletter, consent=consent)
    ada = Contact.objects.for_company(company).get(email="ada@example.com")

    log_in(marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Contacts", exact=True).click()
    expect(page).to_have_url(f"{live_server.url}/contacts/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Contacts")
    rows = page.locator("#contact-table tbody tr")
    expect(rows).to_have_count(4)
    screenshot("contacts-list")

    # A marker on the window survives htmx swaps and dies with a full page load.
    page.evaluate("window.__samePage = true")
    with page.expect_response(lambda r: "/contacts/?search=lov" in r.url) as searched:
        page.locator("#contact-search").press_sequentially("lov", delay=40)
    assert searched.value.request.headers.get("hx-request") == "true"
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ada@example.com")
    expect(page.locator("#contact-count")).to_contain_text("1 contact match")
    expect(page).to_have_url(re.compile(r"/contacts/\?search=lov$"))  # hx-push-url
    assert page.evaluate("window.__samePage") is True, "the search reloaded the page"

    rows.first.get_by_role("link", name="ada@example.com").click()
    expect(page).to_have_url(f"{live_server.url}/contacts/{ada.pk}/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ada Lovelace")
    expect(page.locator("#contact-status")).to_have_text("Subscribed")
    history = page.locator("#consent-history tbody tr")
    expect(history).to_have_count(2)
    screenshot("contact-detail")

    # data-confirm asks first (static/js/app.js); dismissing it sends nothing.
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Unsubscribe from all").click()
    expect(page.locator("#contact-status")).to_have_text("Subscribed")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Unsubscribe from all").click()

    expect(page.locator(".messages")).to_contain_text("Unsubscribed from everything.")
    expect(page.locator("#contact-status")).to_have_text("Unsubscribed")
    expect(history).to_have_count(3)
    newest = history.first
    expect(newest).to_contain_text("Unsubscribed")
    expect(newest).to_contain_text("all lists")
    expect(newest).to_contain_text("dashboard")
    expect(newest).to_contain_text("127.0.0.1")
    expect(page.locator(f"#membership-{newsletter.pk}")).to_contain_text("Unsubscribed")
    screenshot("contact-unsubscribed")

    ada.refresh_from_db()
    assert ada.status == ContactStatus.UNSUBSCRIBED
    record = ConsentRecord.objects.filter(contact=ada).first()
    assert (record.action, record.source) == (ConsentAction.UNSUBSCRIBED, "dashboard")
    assert "Chrome" in record.user_agent

    assert browser_errors == []
