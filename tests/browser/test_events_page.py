"""The Events page in a real browser: an event sent by a signed webhook while the page is open
appears without a reload (htmx polls the page's own table), under the strict CSP; the page holds at
390 px."""

import hashlib
import hmac
import json

import pytest
import requests
from playwright.sync_api import expect

from events.models import Event
from salloq.core.models import Role
from tests.factories import ContactFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.browser


def test_a_webhook_event_appears_on_the_open_events_page(
    live_server, page, log_in, company, browser_errors, screenshot
):
    user = UserFactory(username="vic")
    MembershipFactory(company=company, user=user, role=Role.VIEWER)
    jane = ContactFactory(company=company, email="jane@example.com")
    Event.objects.create(company=company, contact=jane, event_type="product_viewed", data={"product_id": "P-1"})

    log_in(user)
    page.goto("/events/")
    expect(page.locator("#event-list li")).to_have_count(1)

    body = json.dumps(
        {"event_type": "order_placed", "event_data": {"order_id": "ORD-LIVE", "email": "live@example.com", "total": 42}}
    ).encode()
    signature = hmac.new(company.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
    response = requests.post(
        f"{live_server.url}/api/webhook",
        data=body,
        headers={"Content-Type": "application/json", "X-Company-ID": str(company.pk), "X-Webhook-Signature": signature},
        timeout=10,
    )
    assert response.status_code == 201, response.text

    # No reload: the table asks for itself every 10 s.
    expect(page.locator("#event-list li").first).to_contain_text("live@example.com", timeout=25_000)
    expect(page.locator("#event-list li")).to_have_count(2)
    screenshot("after-webhook")

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert browser_errors == []
