"""The campaigns models in the Django admin: every list and a campaign's page render for staff, a
campaign links to its recipients' filtered list, and the sending records cannot be changed there."""

import pytest
from django.urls import reverse

from campaigns.models import (
    ActivityKind,
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    EmailTemplate,
    OutboxMessage,
    SendRateBucket,
)
from tests.conftest import html
from tests.factories import ContactListFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def sent_campaign(company):
    template = EmailTemplate.objects.create(company=company, name="Plain", html="<div>{{ content }}</div>")
    campaign = Campaign.objects.create(company=company, name="Spring sale", template=template, recipient_count=1)
    campaign.lists.set([ContactListFactory(company=company, name="Newsletter")])
    link = CampaignLink.objects.create(campaign=campaign, url="https://shop.example/", position=1)
    recipient = CampaignRecipient.objects.create(campaign=campaign, email="ann@example.com", status="sent")
    CampaignActivity.objects.create(campaign=campaign, recipient=recipient, kind=ActivityKind.CLICK, link=link)
    SendRateBucket.objects.create(company=company, tokens=3)
    OutboxMessage.objects.create(company=company, subject="Hello", recipients="ann@example.com", raw=b"x")
    return campaign


def test_every_campaigns_admin_list_renders(admin_client, sent_campaign):
    for model in (
        "campaign",
        "emailtemplate",
        "campaignrecipient",
        "campaignlink",
        "campaignactivity",
        "sendratebucket",
        "outboxmessage",
    ):
        response = admin_client.get(reverse(f"admin:campaigns_{model}_changelist"))
        assert response.status_code == 200, model
    assert "Spring sale" in html(admin_client.get(reverse("admin:campaigns_campaign_changelist") + "?q=spring"))


def test_a_campaign_page_shows_its_audience_links_and_recipients_link(admin_client, sent_campaign):
    page = html(admin_client.get(reverse("admin:campaigns_campaign_change", args=[sent_campaign.pk])))
    assert "Lists: Newsletter" in page
    assert "https://shop.example/" in page
    recipients = reverse("admin:campaigns_campaignrecipient_changelist") + f"?campaign__id__exact={sent_campaign.pk}"
    assert f'href="{recipients}"' in page
    assert "ann@example.com" in html(admin_client.get(recipients))


def test_only_the_name_changes_and_sending_records_are_read_only(admin_client, sent_campaign):
    url = reverse("admin:campaigns_campaign_change", args=[sent_campaign.pk])
    response = admin_client.post(
        url,
        {
            "name": "Renamed",
            "subject": "Sneaky",
            "links-TOTAL_FORMS": "1",
            "links-INITIAL_FORMS": "1",
            "links-MIN_NUM_FORMS": "0",
            "links-MAX_NUM_FORMS": "1000",
            "links-0-id": sent_campaign.links.get().pk,
            "links-0-campaign": sent_campaign.pk,
        },
    )
    assert response.status_code == 302
    sent_campaign.refresh_from_db()
    assert sent_campaign.name == "Renamed" and sent_campaign.subject == ""
    assert admin_client.get(reverse("admin:campaigns_campaign_add")).status_code == 403
    recipient = sent_campaign.recipients.get()
    assert (
        admin_client.post(
            reverse("admin:campaigns_campaignrecipient_change", args=[recipient.pk]), {"status": "pending"}
        ).status_code
        == 403
    )
    recipient.refresh_from_db()
    assert recipient.status == "sent"
