"""An Outbox message in a real browser: the email's HTML is shown with its own styles, in a sandbox
where its scripts never run and nothing it names is fetched (no open pixel, no remote image)."""

import re

import pytest
from django.core.mail import EmailMultiAlternatives
from django.core.signals import request_started
from django.urls import reverse
from playwright.sync_api import expect

from campaigns.mailcatcher import feedback_id, outbox_message_store
from salloq.core.models import Role
from tests.factories import CompanyFactory, MembershipFactory

pytestmark = pytest.mark.browser

EMAIL_HTML = """<!DOCTYPE html>
<html><head><style>.headline { color: rgb(200, 0, 0); }</style></head>
<body>
  <h1 class="headline" style="font-style: italic">Summer sale</h1>
  <p>Everything 30 % off.</p>
  <img id="pixel" src="{site}/t/o/opened.gif" width="1" height="1" alt="">
  <img id="remote" src="https://images.example.com/banner.png" alt="banner">
  <script>document.body.setAttribute("data-script-ran", "yes"); parent.document.title = "owned";</script>
  <a id="sale" href="https://shop.example/sale" target="_blank">Shop now</a>
  <a id="tracked" href="{site}/t/c/clicked">Tracked link</a>
  <form action="{site}/t/c/posted" method="post"><button id="post">Post</button></form>
</body></html>"""


@pytest.fixture
def served(live_server):
    """Paths the live server was asked for. The email's open pixel points at it, as a real campaign's
    does (SITE_URL): what reached it is what the browser fetched (Playwright's request events miss
    the sandboxed frame's)."""
    paths: list[str] = []

    def record(environ, **kwargs):
        paths.append(environ["PATH_INFO"])

    request_started.connect(record, weak=False)
    yield paths
    request_started.disconnect(record)


def test_the_email_html_shows_styled_and_inert(live_server, served, page, log_in, browser_errors, screenshot):
    company = CompanyFactory(name="Acme Shop")
    member = MembershipFactory(company=company, role=Role.VIEWER).user
    email = EmailMultiAlternatives(
        subject="Summer sale",
        body="Summer sale: everything 30 % off.",
        from_email="Acme Shop <news@acme.example>",
        to=["ann@example.com"],
        headers={"Feedback-ID": feedback_id(company_id=company.pk, kind="campaign", reference=3)},
    )
    email.attach_alternative(EMAIL_HTML.replace("{site}", live_server.url), "text/html")
    message = outbox_message_store(
        raw=email.message().as_bytes(), mail_from="b@acme.example", recipients=["ann@example.com"]
    )

    log_in(member)
    page.goto(reverse("campaigns:outbox"))
    page.get_by_role("link", name="Summer sale").click()
    expect(page).to_have_url(re.compile(rf"/campaigns/outbox/{message.pk}/$"))
    page.wait_for_load_state("networkidle")

    email_frame = page.frame_locator('iframe[title="The email\'s HTML"]')
    headline = email_frame.locator(".headline")
    expect(headline).to_have_text("Summer sale")
    expect(headline).to_have_css("color", "rgb(200, 0, 0)")  # its <style> applies
    expect(headline).to_have_css("font-style", "italic")  # and its inline styles
    expect(email_frame.locator("body")).not_to_have_attribute("data-script-ran", "yes")
    assert page.title() != "owned"
    # Its links and forms go nowhere: a tracked link clicked here would count a click.
    email_frame.locator("#tracked").click()
    email_frame.locator("#sale").click()
    email_frame.locator("#post").click()
    page.wait_for_timeout(500)
    expect(page).to_have_url(re.compile(rf"/campaigns/outbox/{message.pk}/$"))
    assert len(page.context.pages) == 1
    expect(headline).to_have_text("Summer sale")  # and the email is still shown
    assert f"/campaigns/outbox/{message.pk}/" in served
    assert [path for path in served if path.startswith("/t/")] == []
    expect(page.locator("#outbox-text")).to_contain_text("Summer sale: everything 30 % off.")
    screenshot("outbox-message")

    # The only complaints are the browser refusing what the email asked for: images, script, links, form.
    assert browser_errors, "the refusals should be reported"
    refusals = r"violates the following Content Security Policy directive|^console error: Blocked .* sandboxed"
    unexpected = [line for line in browser_errors if not re.search(refusals, line)]
    assert unexpected == []
