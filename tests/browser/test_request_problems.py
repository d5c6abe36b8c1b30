"""An htmx request that fails says so in the page's problem area (base.html, static/js/app.js) and
leaves the table that asked in place, so the next search still swaps it: a statement cut off by
WEB_STATEMENT_TIMEOUT_MS (the server's own message), a server error, a refusal (a generic message
for the status) and a server that cannot be reached."""

import re

import pytest
from playwright.sync_api import expect

from contacts.views import contacts as contact_views
from salloq.core.models import Membership, Role
from tests.core.test_statement_timeout import TableLock
from tests.factories import ContactFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


@pytest.fixture
def contacts_page(live_server, page, log_in, company):
    membership = MembershipFactory(company=company, user=UserFactory(username="vic"), role=Role.VIEWER)
    for email in ("ada@example.com", "grace@example.com", "alan@example.org"):
        ContactFactory(company=company, email=email)
    log_in(membership.user)
    page.goto("/contacts/")
    expect(page.locator("#contact-table tbody tr")).to_have_count(3)
    return page


def _search(page, text: str):
    """Type a search and wait for the server's answer to it (whatever its status)."""
    field = page.locator("#contact-search")
    field.fill("")
    with page.expect_response(lambda r: f"search={text}" in r.url) as answer:
        field.press_sequentially(text, delay=20)
    return answer.value


@pytest.mark.postgres
def test_a_search_cut_off_by_the_statement_limit_shows_the_servers_message_and_keeps_the_table(
    contacts_page, settings, browser_errors, screenshot
):
    page = contacts_page
    problem = page.locator("#request-problem")
    rows = page.locator("#contact-table tbody tr")
    expect(page.locator("#request-problem-box")).to_be_hidden()
    settings.WEB_STATEMENT_TIMEOUT_MS = 300

    with TableLock():
        answer = _search(page, "ada")
    assert answer.status == 503

    expect(problem).to_be_visible()
    expect(problem).to_contain_text("Too slow")
    expect(problem).to_contain_text("Simplify the request")
    expect(rows).to_have_count(3)  # the table as it was, still there for the next swap
    expect(page).to_have_url(re.compile(r"/contacts/$"))  # no history entry for the request that failed
    screenshot("timeout-message")

    answer = _search(page, "grace")
    assert answer.status == 200
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("grace@example.com")
    expect(page.locator("#request-problem-box")).to_be_hidden()  # the next success clears it
    # The browser logs the failed load itself; nothing else went wrong (no script error).
    assert [e for e in browser_errors if "status of 503" not in e] == []


def test_a_server_error_a_refusal_and_no_connection_each_say_so_and_leave_the_table(
    contacts_page, company, monkeypatch, browser_errors, screenshot
):
    page = contacts_page
    problem = page.locator("#request-problem")
    table = page.locator("#contact-table")
    shown = table.inner_html()

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    # Sorting by email (a link: no form field loses focus and sends its own change).
    with monkeypatch.context() as patch:
        patch.setattr(contact_views, "sort_contacts", broken)
        with page.expect_response(lambda r: "sort=email" in r.url) as answer:
            page.get_by_role("link", name="Email").click()
        assert answer.value.status == 500
    expect(problem).to_contain_text("Something went wrong on our side (error 500)")
    expect(problem).not_to_contain_text("boom")
    assert table.inner_html() == shown  # the table as it was, still there for the next swap
    screenshot("server-error-message")
    page.get_by_role("button", name="Dismiss").click()
    expect(page.locator("#request-problem-box")).to_be_hidden()

    page.route("**/contacts/?search=*", lambda route: route.abort())
    field = page.locator("#contact-search")
    with page.expect_event("requestfailed", lambda r: "search=gr" in r.url):
        field.press_sequentially("gr", delay=20)
    expect(problem).to_contain_text("The server could not be reached")
    assert table.inner_html() == shown
    page.unroute("**/contacts/?search=*")

    # Removed from the company while the page is open: the next search is refused.
    Membership.objects.filter(company=company).delete()
    field.fill("")
    with page.expect_response(lambda r: "search=al" in r.url) as answer:
        field.press_sequentially("al", delay=20)
    assert answer.value.status == 403
    expect(problem).to_contain_text("You are not allowed to do this")
    assert table.inner_html() == shown
    # The browser and htmx log each failure themselves; nothing else went wrong (no script error).
    expected = r"status of (500|403)|ERR_FAILED|Response Status Error Code (500|403)|htmx:(sendError|afterRequest)"
    assert [e for e in browser_errors if not re.search(expected, e)] == []
