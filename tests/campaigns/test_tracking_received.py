"""Tracking through a message a real SMTP server received: the pixel, the tracked links and the
List-Unsubscribe URL the renderer put in it, opened, clicked and used with the test client, and
the report that follows."""

import re
from datetime import timedelta
from email import message_from_bytes, policy
from html import unescape
from urllib.parse import urlsplit

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from campaigns import audience, delivery
from campaigns.models import ActivityKind, CampaignActivity, CampaignLink, CampaignRecipient
from campaigns.selectors.stats import campaign_stats
from contacts.models import ContactStatus
from tests.campaigns.conftest import make_campaign
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFE_LINKS = "Mozilla/5.0 (compatible; Microsoft SafeLinks scanner)"
CONTENT = (
    '<p>Hello {{ contact.first_name|default:"there" }}</p>'
    '<p><a href="https://shop.example/sale?utm_source=mail&amp;size=m">The sale</a></p>'
    '<p><a href="https://shop.example/blog">Our blog</a></p>'
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    """The test runs the workers' loop itself, in this process."""
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)


def received_links(data: bytes) -> dict:
    message = message_from_bytes(data, policy=policy.default)
    html = message.get_body(preferencelist=("html",)).get_content()
    hrefs = [unescape(href) for href in re.findall(r'href="([^"]+)"', html)]
    pixels = [unescape(src) for src in re.findall(r'<img[^>]+src="([^"]+/t/o/[^"]+)"', html)]
    header = str(message["List-Unsubscribe"])
    return {
        "pixel": pixels,
        "clicks": [href for href in hrefs if "/t/c/" in href],
        "unsubscribe": re.search(r"<(https?://[^>]+)>", header).group(1),
        "footer_unsubscribe": [href for href in hrefs if "/t/u/" in href],
        "one_click": str(message["List-Unsubscribe-Post"]),
    }


def path_of(url: str) -> str:
    return urlsplit(url).path


def test_opens_clicks_and_one_click_unsubscribe_from_received_messages(company, counting_sink):
    readers = ContactListFactory(company=company, name="Readers")
    for n in range(3):
        ListMembershipFactory(
            contact_list=readers, contact=ContactFactory(company=company, email=f"reader{n}@example.com")
        )
    campaign = delivery.send_campaign(campaign=make_campaign(company, lists=[readers], content=CONTENT))
    delivery.send_campaign_batches(campaign_id=campaign.pk)
    messages = {item.to: received_links(item.data) for item in counting_sink.wait_for(3)}
    assert set(messages) == {f"reader{n}@example.com" for n in range(3)}
    sale, blog = CampaignLink.objects.filter(campaign=campaign).order_by("position")
    for links in messages.values():
        assert len(links["pixel"]) == 1 and len(links["clicks"]) == 2
        assert links["one_click"] == "List-Unsubscribe=One-Click"
        assert links["footer_unsubscribe"] == [links["unsubscribe"]]

    client = Client()
    # The readers read a few minutes after delivery (a click seconds after it is a scanner's).
    with time_machine.travel(timezone.now() + timedelta(minutes=5)):
        first = messages["reader0@example.com"]
        for _ in range(2):
            response = client.get(path_of(first["pixel"][0]), HTTP_USER_AGENT=BROWSER)
            assert response.status_code == 200 and response["Content-Type"] == "image/gif"
        for url, target in [
            (first["clicks"][0], sale.url),
            (first["clicks"][0], sale.url),
            (first["clicks"][1], blog.url),
        ]:
            response = client.get(path_of(url), HTTP_USER_AGENT=BROWSER)
            assert response.status_code == 302 and response["Location"] == target
        assert sale.url == "https://shop.example/sale?utm_source=mail&size=m"

        # The second reader's company runs every link through a scanner, then the reader clicks.
        second = messages["reader1@example.com"]
        for url in second["clicks"]:
            client.get(path_of(url), HTTP_USER_AGENT=SAFE_LINKS)
        client.head(path_of(second["clicks"][1]), HTTP_USER_AGENT=BROWSER)
        client.get(path_of(second["clicks"][1]), HTTP_USER_AGENT=BROWSER)

        # The third reader presses the mail client's Unsubscribe button: RFC 8058's POST.
        third = messages["reader2@example.com"]
        response = Client(enforce_csrf_checks=True).post(
            path_of(third["unsubscribe"]),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        assert response.status_code == 200

    unsubscribed = CampaignRecipient.objects.get(campaign=campaign, email="reader2@example.com")
    assert unsubscribed.unsubscribed_at is not None
    assert unsubscribed.contact.status == ContactStatus.UNSUBSCRIBED
    # ...and the next campaign to the same list leaves them out.
    next_audience = audience.audience_contacts(company, list_ids=[readers.pk])
    assert sorted(next_audience.values_list("email", flat=True)) == ["reader0@example.com", "reader1@example.com"]
    follow_up = delivery.send_campaign(campaign=make_campaign(company, lists=[readers], name="Follow-up"))
    assert set(CampaignRecipient.objects.filter(campaign=follow_up).values_list("email", flat=True)) == {
        "reader0@example.com",
        "reader1@example.com",
    }

    stats = campaign_stats(campaign)
    assert (stats["sent"], stats["unique_opens"], stats["total_opens"]) == (3, 1, 2)
    assert (stats["unique_clicks"], stats["total_clicks"], stats["machine_clicks"]) == (2, 4, 3)
    assert stats["unsubscribes"] == 1
    assert [(link["url"], link["unique_clicks"], link["total_clicks"]) for link in stats["links"]] == [
        (sale.url, 1, 2),
        (blog.url, 2, 2),
    ]
    assert CampaignActivity.objects.filter(campaign=campaign, kind=ActivityKind.UNSUBSCRIBE).count() == 1
