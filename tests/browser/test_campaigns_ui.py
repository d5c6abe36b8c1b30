"""A campaign from start to report in a real browser: a marketer writes it, picks its list (the live
recipient count follows the ticks), previews it as a contact, sends it, watches the progress reach
"Sent" while a real Celery worker delivers it to a real SMTP server on loopback, a recipient opens
it and clicks its link, and the report shows those figures with its chart drawn. At a laptop's and
a phone's width the pages are never wider than the window."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus
from salloq.core.models import Role
from tests.contacts.conftest import smtp_sink  # noqa: F401 - the fixture
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.browser

# The recipient's mail client (the test browser's own "HeadlessChrome" is rightly taken for a robot).
MAIL_CLIENT = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.0"}
NO_HORIZONTAL_SCROLL = "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"


@pytest.fixture
def customers(company):
    contact_list = ContactListFactory(company=company, name="Customers")
    for n, name in enumerate(("Ann", "Bob", "Cleo")):
        contact = ContactFactory(company=company, email=f"customer{n}@example.com", first_name=name)
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    return contact_list


def tracked_paths(message) -> tuple[str, str]:
    """The open pixel's and the first tracked link's paths in a received message's HTML part."""
    body = message.get_body(preferencelist=("html",)).get_content()
    links = [urlsplit(url).path for url in re.findall(r'href="([^"]+)"', body) if "/t/" in url]
    pixels = [urlsplit(url).path for url in re.findall(r'<img[^>]+src="([^"]+)"', body) if "/t/" in url]
    assert links and pixels, "the message has no tracked link or open pixel"
    return pixels[0], links[0]


def test_create_send_and_read_the_report(
    page,
    log_in,
    member,
    customers,
    company,
    smtp_sink,  # noqa: F811 - the imported fixture
    celery_worker_thread,
    browser_errors,
    screenshot,  # noqa: F811
):
    log_in(member(Role.MARKETER))
    page.goto(reverse("campaigns:campaigns"))
    page.get_by_role("link", name="New campaign").click()
    page.locator("#id_name").fill("Winter sale")
    page.locator("#id_subject").fill('Warm up, {{ contact.first_name|default:"friend" }}')
    page.locator("#id_preview_text").fill("Everything at half price")
    page.locator("#id_content").fill(
        '<h1>Hello {{ contact.first_name|default:"there" }}</h1>'
        '<p><a href="https://shop.example/winter">Shop now</a></p>'
    )
    expect(page.locator("#audience-count")).to_contain_text("Choose a list")
    page.locator("#fieldset-lists").get_by_label("Customers").check()
    expect(page.locator("#audience-count")).to_contain_text("3 recipients")
    screenshot("editor")
    page.get_by_role("button", name="Create campaign").click()
    page.wait_for_url(re.compile(r"/campaigns/\d+/$"))
    campaign = Campaign.objects.for_company(company).get(name="Winter sale")

    # The preview as Ann: her name in the subject and in the sandboxed email.
    page.get_by_role("link", name="Preview").click()
    page.get_by_label("Preview as").select_option(label="customer0@example.com")
    expect(page.locator("#preview-subject")).to_have_text("Warm up, Ann")
    frame = page.locator("#preview-frame")
    assert frame.get_attribute("sandbox") == ""
    expect(page.frame_locator("#preview-frame").locator("h1")).to_have_text("Hello Ann")

    # Send now; the status card polls itself until the worker has delivered to all three.
    page.goto(reverse("campaigns:campaign_detail", args=[campaign.pk]))
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Send now").click()
    expect(page.locator("#campaign-status .badge")).to_have_text("Sent", timeout=30_000)
    expect(page.locator("#progress-sent")).to_have_text("3")
    messages = smtp_sink.wait_for(3)
    assert sorted(m["To"] for m in messages) == [f"customer{n}@example.com" for n in range(3)]
    assert {m["Subject"] for m in messages} == {"Warm up, Ann", "Warm up, Bob", "Warm up, Cleo"}

    # Ann opens and clicks, a while after delivery (a click within seconds is a link scanner's).
    CampaignRecipient.objects.filter(campaign=campaign).update(sent_at=timezone.now() - timedelta(minutes=5))
    ann = next(m for m in messages if m["To"] == "customer0@example.com")
    pixel, link = tracked_paths(ann)
    assert page.request.get(pixel, headers=MAIL_CLIENT).status == 200
    click = page.request.get(link, headers=MAIL_CLIENT, max_redirects=0)
    assert click.status == 302 and click.headers["location"] == "https://shop.example/winter"

    page.get_by_role("link", name="Report").click()
    expect(page.locator("#stat-sent")).to_have_text("3")
    expect(page.locator("#stat-opens")).to_have_text("1")
    expect(page.locator("#stat-clicks")).to_have_text("1")
    expect(page.locator("#report-links")).to_contain_text("https://shop.example/winter")
    expect(page.locator("#timeline-chart")).to_have_attribute("data-drawn", "true")
    screenshot("report-laptop")
    assert page.evaluate(NO_HORIZONTAL_SCROLL)

    page.set_viewport_size({"width": 390, "height": 844})
    for url in (
        reverse("campaigns:campaign_report", args=[campaign.pk]),
        reverse("campaigns:campaign_detail", args=[campaign.pk]),
        reverse("campaigns:campaigns"),
        reverse("campaigns:campaign_create"),
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert page.evaluate(NO_HORIZONTAL_SCROLL), f"{url} scrolls sideways at 390 px"
        screenshot("phone-" + url.strip("/").replace("/", "-"))
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT
    assert browser_errors == []
