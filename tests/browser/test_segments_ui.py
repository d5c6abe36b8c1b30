"""Segments in a real browser: build rules with the htmx builder, watch the live count, save, find it listed."""

from contextlib import contextmanager

import pytest
from playwright.sync_api import expect

from contacts import services
from contacts.models import Segment
from salloq.core.models import Role
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


@contextmanager
def builder_action(page):
    """Do a builder action (add, remove, change a field or comparison), then wait until htmx has swapped
    in the new rows and wired them up: acting on them sooner would go unnoticed, as no person is that fast.
    Only the builder's own settle counts: a live-count swap still settling from an earlier step would
    otherwise end the wait before the new rows have their handlers."""
    # Wrapped in an object: evaluate_handle would otherwise wait for the promise right here.
    waiter = page.evaluate_handle(
        """() => ({settled: new Promise(done => {
            const onSettle = event => {
                if (event.target.id !== 'segment-builder') return;
                document.body.removeEventListener('htmx:afterSettle', onSettle);
                done();
            };
            document.body.addEventListener('htmx:afterSettle', onSettle);
        })})"""
    )
    yield
    waiter.evaluate("waiter => waiter.settled.then(() => true)")


def rule(page, number: int, field: str, comparison: str):
    """The builder row of rule `number` once the server has re-rendered it with this field and comparison."""
    row = page.locator(f'#segment-builder li[data-field="{field}"][data-comparison="{comparison}"]')
    expect(row.get_by_label(f"Field of rule {number}")).to_be_visible()
    return row


@pytest.fixture
def shop(company):
    for n in range(4):
        contact = services.contact_upsert(
            company=company, data={"email": f"fan{n}@example.com", "first_name": f"Fan {n}"}
        ).contact
        if n < 2:
            services.contact_add_tags(contact=contact, tags=["vip"])
    services.contact_upsert(company=company, data={"email": "gone@example.com", "status": "unsubscribed"})
    return company


def test_marketer_builds_a_segment_with_a_live_count(live_server, page, log_in, shop, browser_errors, screenshot):
    marketer = MembershipFactory(company=shop, user=UserFactory(username="maya"), role=Role.MARKETER).user
    log_in(marketer)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Segments").click()
    expect(page).to_have_url(f"{live_server.url}/contacts/segments/")
    expect(page.locator("#segment-table")).to_contain_text("No segments yet.")

    page.get_by_role("link", name="New segment").click()
    live = page.locator("#segment-count")
    expect(live).to_have_text("4")  # the starting rule: status is subscribed

    # A second rule: has the tag "vip". Changing the field re-renders the row with the tag comparisons.
    with builder_action(page):
        page.get_by_role("button", name="Add rule", exact=True).click()
    with builder_action(page):
        rule(page, 2, "email", "is_set").get_by_label("Field of rule 2").select_option("tags")
    with builder_action(page):
        rule(page, 2, "tags", "is_set").get_by_label("Comparison of rule 2").select_option("equals")
    value = rule(page, 2, "tags", "equals").get_by_label("Value of rule 2")
    value.fill("")
    value.press_sequentially("vip", delay=30)  # typing alone, no change event: keyup re-counts
    expect(live).to_have_text("2")
    expect(page.locator("#segment-preview")).to_contain_text("fan1@example.com")
    expect(page.locator("#segment-preview")).not_to_contain_text("fan3@example.com")

    # "Any of these rules": everyone subscribed again.
    page.get_by_label("Contacts who match").select_option("or")
    expect(live).to_have_text("4")
    page.get_by_label("Contacts who match").select_option("and")
    expect(live).to_have_text("2")

    # A rule that cannot be counted says which one and why, until it is fixed.
    with builder_action(page):
        page.get_by_role("button", name="Add rule", exact=True).click()
    with builder_action(page):
        rule(page, 3, "email", "is_set").get_by_label("Field of rule 3").select_option("events.count")
    # The count's comparisons: "is set" does not apply, so the row falls back to "is".
    row = rule(page, 3, "events.count", "equals")
    row.get_by_label("Event type of rule 3").fill("order_placed")
    with builder_action(page):
        row.get_by_label("Comparison of rule 3").select_option("greater_than")
    value = rule(page, 3, "events.count", "greater_than").get_by_label("Value of rule 3", exact=True)
    value.fill("1.5")
    value.press("Tab")
    message = "For greater_than on events.order_placed.count the value must be a whole number"
    expect(page.locator("#segment-live")).to_contain_text(f"Rule 3: {message}")
    expect(page.locator("#segment-row-3 .segment-row-errors")).to_contain_text(message)
    value.fill("0")
    value.press("Tab")
    expect(live).to_have_text("0")  # nobody ordered
    expect(page.locator("#segment-row-3 .segment-row-errors")).to_be_empty()
    with builder_action(page):
        page.get_by_role("button", name="Remove rule 3").click()
    expect(page.get_by_label("Field of rule 3")).to_have_count(0)
    expect(live).to_have_text("2")
    screenshot("builder")

    page.get_by_label("Name").fill("VIP fans")
    page.get_by_role("button", name="Save segment").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("VIP fans")
    segment = Segment.objects.for_company(shop).get()
    assert segment.definition == {
        "operator": "and",
        "rules": [
            {"field": "status", "comparison": "equals", "value": "subscribed"},
            {"field": "tags", "comparison": "equals", "value": "vip"},
        ],
    }
    expect(page).to_have_url(f"{live_server.url}/contacts/segments/{segment.pk}/")
    expect(live).to_have_text("2")

    # The list loads the count of each segment by itself.
    page.get_by_role("link", name="Segments").first.click()
    expect(page.locator(f"#segment-{segment.pk}")).to_contain_text("VIP fans")
    expect(page.locator(f"#segment-{segment.pk} .segment-count-cell")).to_have_text("2")

    assert browser_errors == []
