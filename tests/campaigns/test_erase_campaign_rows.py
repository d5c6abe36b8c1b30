"""GDPR erase reaches campaigns: an erased contact's address and user agents leave the campaign's
recipient and activity rows, which stay (without them) so the campaign's figures still add up."""

import pytest

from campaigns import delivery
from campaigns.models import ActivityKind, CampaignActivity, CampaignRecipient
from contacts import services
from tests.campaigns.conftest import make_campaign
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db


def test_erasing_a_contact_blanks_its_address_on_every_campaign_row_and_keeps_the_counts(company):
    news = ContactListFactory(company=company, name="News")
    erased, kept = (ContactFactory(company=company, email=email) for email in ("gone@example.com", "kept@example.com"))
    for contact in (erased, kept):
        ListMembershipFactory(contact_list=news, contact=contact)
    campaign = delivery.send_campaign(campaign=make_campaign(company, lists=[news]))
    row = CampaignRecipient.objects.get(campaign=campaign, contact=erased)
    CampaignActivity.objects.create(campaign=campaign, recipient=row, kind=ActivityKind.OPEN, user_agent="Mozilla/5.0")

    services.contact_erase(contact=erased)

    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.count() == 2
    assert set(rows.values_list("email", flat=True)) == {"", "kept@example.com"}
    assert CampaignActivity.objects.get(recipient=row).user_agent == ""
    assert not CampaignRecipient.objects.filter(email="gone@example.com").exists()
