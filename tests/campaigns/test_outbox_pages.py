"""The Outbox pages: a company's caught messages, one message taken apart (headers, HTML in a
sandboxed iframe that loads nothing, text part) and its .eml download; another company's is a 404."""

import re
from html import unescape

import pytest
from django.core.mail import EmailMultiAlternatives
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from campaigns.mailcatcher import feedback_id, outbox_message_store
from campaigns.models import OutboxMessage
from campaigns.selectors.outbox import EMAIL_HTML_CSP, INERT_HEAD, MESSAGES_PER_PAGE
from tests.campaigns.test_outbox_catcher import MALFORMED
from tests.conftest import html

pytestmark = pytest.mark.django_db

EMAIL_HTML = (
    "<!DOCTYPE html><html><head><style>p { color: red }</style></head><body>"
    '<p style="font-weight: bold">Summer sale</p><img src="http://127.0.0.1:8000/t/o/abc.gif" alt="">'
    "<script>alert('from the email')</script></body></html>"
)


def received(company, *, subject: str = "Summer sale", to: str = "ann@example.com") -> OutboxMessage:
    """A message as the catcher stores it: a real multipart email's bytes, filed by its Feedback-ID."""
    email = EmailMultiAlternatives(
        subject=subject,
        body="Summer sale, text part: https://shop.example/sale",
        from_email="Acme Shop <news@acme.example>",
        to=[to],
        headers={"Feedback-ID": feedback_id(company_id=company.pk, kind="campaign", reference=9)},
    )
    email.attach_alternative(EMAIL_HTML, "text/html")
    return outbox_message_store(raw=email.message().as_bytes(), mail_from="bounce@acme.example", recipients=[to])


def srcdoc(page: str) -> str:
    match = re.search(r'<iframe sandbox="" srcdoc="([^"]*)"', page)
    assert match, "no sandboxed srcdoc iframe on the page"
    return unescape(match.group(1))


def test_the_outbox_lists_the_company_messages_only(viewer_client, company, other_company):
    ours = received(company, subject="Our summer sale", to="ann@example.com")
    received(other_company, subject="Their secret offer")
    outbox_message_store(raw=b"Subject: Nobody's\r\n\r\nbody\r\n", mail_from="", recipients=["x@example.com"])

    page = html(viewer_client.get(reverse("campaigns:outbox")))
    assert "Our summer sale" in page
    assert "ann@example.com" in page
    assert reverse("campaigns:outbox_message", args=[ours.pk]) in page
    assert "Their secret offer" not in page
    assert "Nobody" not in page


def test_a_message_page_shows_headers_the_html_inert_and_the_text(viewer_client, company):
    message = received(company)
    response = viewer_client.get(reverse("campaigns:outbox_message", args=[message.pk]))
    assert response.status_code == 200
    page = html(response)

    # The HTML is only ever inside the sandboxed iframe's srcdoc, with a policy that loads nothing.
    inner = srcdoc(page)
    assert inner.startswith(f'<!DOCTYPE html><meta http-equiv="Content-Security-Policy" content="{EMAIL_HTML_CSP}">')
    assert inner.startswith(f"<!DOCTYPE html>{INERT_HEAD}")
    assert "<script>alert('from the email')</script>" in inner
    assert "<script>alert" not in page
    assert "img-src data:" in EMAIL_HTML_CSP and "default-src 'none'" in EMAIL_HTML_CSP
    policy = response["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "script-src 'self';" in policy
    assert "http:" not in policy and "https:" not in policy
    assert "frame-src 'none'" in policy  # a link clicked in the email loads nothing into the iframe

    assert "Summer sale, text part: https://shop.example/sale" in page
    assert "Feedback-ID" in page and feedback_id(company_id=company.pk, kind="campaign", reference=9) in page
    assert "bounce@acme.example" in page


def test_the_raw_download_is_the_message_as_received(viewer_client, company):
    message = received(company)
    response = viewer_client.get(reverse("campaigns:outbox_message_raw", args=[message.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response["Content-Disposition"] == f'attachment; filename="outbox-{message.pk}.eml"'
    assert response.content == bytes(message.raw)


def test_another_company_message_is_a_404(viewer_client, other_company):
    theirs = received(other_company)
    nobodys = outbox_message_store(raw=b"Subject: x\r\n\r\ny\r\n", mail_from="", recipients=["x@example.com"])
    for message in (theirs, nobodys):
        for name in ("campaigns:outbox_message", "campaigns:outbox_message_raw"):
            assert viewer_client.get(reverse(name, args=[message.pk])).status_code == 404, name


def test_the_outbox_pages_through_its_messages(viewer_client, company):
    for number in range(MESSAGES_PER_PAGE + 1):
        received(company, subject=f"Message number {number:03}")
    first = html(viewer_client.get(reverse("campaigns:outbox")))
    assert "Message number 050" in first and "Message number 000" not in first
    assert "Page 1 of 2" in first
    second = viewer_client.get(reverse("campaigns:outbox"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert "HX-Request" in second["Vary"]
    assert "<html" not in html(second)  # the table partial alone
    assert "Message number 000" in html(second) and "Message number 001" not in html(second)


@pytest.mark.parametrize("raw", MALFORMED)
def test_a_malformed_message_still_has_a_page(viewer_client, company, raw):
    message = outbox_message_store(raw=raw, mail_from="", recipients=["ann@example.com"])
    OutboxMessage.objects.filter(pk=message.pk).update(company=company)
    response = viewer_client.get(reverse("campaigns:outbox_message", args=[message.pk]))
    assert response.status_code == 200
    assert viewer_client.get(reverse("campaigns:outbox_message_raw", args=[message.pk])).content == raw


def test_the_sidebar_links_the_outbox_only_while_the_catcher_runs(viewer_client, settings):
    outbox_link = f'href="{reverse("campaigns:outbox")}"'
    settings.MAIL_CATCHER = True
    assert outbox_link in html(viewer_client.get(reverse("dashboard")))
    settings.MAIL_CATCHER = False
    assert outbox_link not in html(viewer_client.get(reverse("dashboard")))


def test_the_outbox_list_costs_the_same_queries_for_many_messages(viewer_client, company):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get(reverse("campaigns:outbox")).status_code == 200
        return len(captured)

    received(company, subject="The first")
    one = queries()
    for number in range(30):
        received(company, subject=f"Message {number}")
    assert queries() == one
