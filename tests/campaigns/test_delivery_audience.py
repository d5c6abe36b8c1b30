"""Who a campaign goes to: list and segment members who may be mailed, minus every exclusion, each
once, snapshotted into recipient rows by one INSERT ... SELECT when sending starts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import audience, delivery
from campaigns.models import CampaignRecipient, CampaignStatus, RecipientStatus
from contacts import services
from contacts.models import Contact, ContactStatus, MembershipStatus
from tests.campaigns.conftest import make_campaign
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory, SegmentFactory

pytestmark = pytest.mark.django_db

ANNS = {"operator": "and", "rules": [{"field": "first_name", "comparison": "equals", "value": "Ann"}]}


def member(contact_list, email: str, status=MembershipStatus.SUBSCRIBED, **contact_data) -> Contact:
    contact = ContactFactory(company=contact_list.company, email=email, **contact_data)
    ListMembershipFactory(contact_list=contact_list, contact=contact, status=status)
    return contact


def emails(contacts) -> set[str]:
    return set(contacts.values_list("email", flat=True))


def list_audience(company, contact_list, **more) -> set[str]:
    return emails(audience.audience_contacts(company, list_ids=[contact_list.pk], **more))


def test_subscribed_list_members_are_the_audience_and_pending_or_departed_members_are_not(company):
    news = ContactListFactory(company=company, name="News")
    member(news, "in@example.com")
    member(news, "pending@example.com", MembershipStatus.PENDING)
    member(news, "left@example.com", MembershipStatus.UNSUBSCRIBED)
    ContactFactory(company=company, email="elsewhere@example.com")
    assert list_audience(company, news) == {"in@example.com"}


@pytest.mark.parametrize(
    "make_unmailable",
    [
        pytest.param(lambda c: Contact.objects.filter(pk=c.pk).update(status=ContactStatus.UNSUBSCRIBED), id="unsub"),
        pytest.param(lambda c: Contact.objects.filter(pk=c.pk).update(status=ContactStatus.BOUNCED), id="bounced"),
        pytest.param(lambda c: services.suppression_add(company=c.company, email=c.email), id="blacklisted"),
        pytest.param(lambda c: services.contact_erase(contact=c), id="erased"),
        pytest.param(lambda c: Contact.objects.filter(pk=c.pk).update(email=""), id="no-email"),
    ],
)
def test_contacts_who_may_not_be_mailed_are_left_out_of_lists_and_segments(company, make_unmailable):
    news = ContactListFactory(company=company)
    kept = member(news, "kept@example.com", first_name="Ann")
    gone = member(news, "gone@example.com", first_name="Ann")
    make_unmailable(gone)
    anns = SegmentFactory(company=company, definition=ANNS)
    assert emails(audience.audience_contacts(company, list_ids=[news.pk])) == {kept.email}
    assert emails(audience.audience_contacts(company, segment_ids=[anns.pk])) == {kept.email}


def test_segment_matches_join_list_members_each_once(company):
    news = ContactListFactory(company=company)
    member(news, "both@example.com", first_name="Ann")
    member(news, "list-only@example.com", first_name="Bob")
    ContactFactory(company=company, email="segment-only@example.com", first_name="Ann")
    ContactFactory(company=company, email="neither@example.com", first_name="Bob")
    anns = SegmentFactory(company=company, definition=ANNS)
    found = audience.audience_contacts(company, list_ids=[news.pk], segment_ids=[anns.pk])
    assert sorted(found.values_list("email", flat=True)) == [
        "both@example.com",
        "list-only@example.com",
        "segment-only@example.com",
    ]
    assert audience.audience_count(company, list_ids=[news.pk], segment_ids=[anns.pk]) == 3


@pytest.mark.parametrize("status", list(MembershipStatus))
def test_anyone_on_an_excluded_list_is_left_out_whatever_their_status_there(company, status):
    news = ContactListFactory(company=company, name="News")
    customers = ContactListFactory(company=company, name="Customers")
    member(news, "reader@example.com")
    customer = member(news, "customer@example.com")
    ListMembershipFactory(contact_list=customers, contact=customer, status=status)
    assert list_audience(company, news, excluded_list_ids=[customers.pk]) == {"reader@example.com"}


def test_members_of_an_excluded_segment_are_left_out(company):
    news = ContactListFactory(company=company)
    member(news, "ann@example.com", first_name="Ann")
    member(news, "bob@example.com", first_name="Bob")
    anns = SegmentFactory(company=company, definition=ANNS)
    assert list_audience(company, news, excluded_segment_ids=[anns.pk]) == {"bob@example.com"}


def test_another_companys_lists_and_segments_match_nobody(company, other_company):
    theirs = ContactListFactory(company=other_company)
    member(theirs, "theirs@example.com")
    their_segment = SegmentFactory(company=other_company)
    assert audience.audience_count(company, list_ids=[theirs.pk], segment_ids=[their_segment.pk]) == 0
    ours = ContactListFactory(company=company)
    member(ours, "ours@example.com")
    # Nor does their list, given as an exclusion, reach into ours.
    assert list_audience(company, ours, excluded_list_ids=[theirs.pk]) == {"ours@example.com"}


def test_no_list_and_no_segment_is_nobody(company):
    ContactFactory(company=company)
    assert audience.audience_count(company) == 0


def test_a_segment_whose_rules_no_longer_compile_is_an_error_naming_the_field(company):
    broken = SegmentFactory(company=company, definition={"operator": "and", "rules": [{"field": "field:Gone"}]})
    with pytest.raises(Exception) as raised:
        audience.audience_count(company, segment_ids=[broken.pk])
    assert "segments" in raised.value.message_dict


def snapshot_queries(company, size: int) -> list[str]:
    contact_list = ContactListFactory(company=company, name=f"List of {size}")
    contacts = [ContactFactory(company=company, email=f"c{size}-{n}@example.com") for n in range(size)]
    for contact in contacts:
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    campaign = make_campaign(company, lists=[contact_list])
    with CaptureQueriesContext(connection) as queries:
        assert audience.snapshot_recipients(campaign) == size
    return [q["sql"] for q in queries.captured_queries]


def test_the_snapshot_is_one_insert_select_whatever_the_audience_size(company):
    small, large = snapshot_queries(company, 3), snapshot_queries(company, 60)
    inserts = [sql for sql in large if sql.startswith("INSERT")]
    assert len(inserts) == 1 and "SELECT" in inserts[0]
    assert len(small) == len(large)


def test_starting_writes_one_pending_row_per_audience_contact_and_the_campaign_state(company, monkeypatch):
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)
    news = ContactListFactory(company=company)
    ann = member(news, "ann@example.com", first_name="Ann")
    member(news, "pending@example.com", MembershipStatus.PENDING)
    anns = SegmentFactory(company=company, definition=ANNS)
    campaign = delivery.send_campaign(campaign=make_campaign(company, lists=[news], segments=[anns]))
    assert campaign.status == CampaignStatus.SENDING and campaign.started_at and campaign.recipient_count == 1
    assert campaign.frozen_source
    row = CampaignRecipient.objects.get(campaign=campaign)
    assert (row.contact_id, row.email, row.status, row.attempts) == (ann.pk, ann.email, RecipientStatus.PENDING, 0)
