"""Sending a campaign through a real SMTP server on loopback: each recipient once, retries of
temporary refusals, permanent failures and bounces, contacts who became unmailable, pause, resume,
cancel, a mail server that cannot be reached, and test sends."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns import delivery, ratelimit, rendering, smtp
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, CampaignType, RecipientStatus
from contacts.models import Contact, ContactStatus
from salloq.core import mailserver
from salloq.core.models import MailServerState
from tests.campaigns.conftest import free_port, make_campaign, send_mail_to, start_counting_sink
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_enqueue(monkeypatch):
    """The tests run the workers' loop themselves, in this process."""
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)


@pytest.fixture(params=[False, True], ids=["one-command-a-time", "pipelining"])
def counting_sink(request, settings):
    """conftest's counting sink, with and without PIPELINING offered: every test here runs both."""
    sink, controller = start_counting_sink(pipelining=request.param)
    send_mail_to(settings, controller.port)
    try:
        yield sink
    finally:
        controller.stop()


@pytest.fixture
def newsletter(company):
    contact_list = ContactListFactory(company=company, name="Newsletter")
    for n in range(6):
        contact = ContactFactory(company=company, email=f"reader{n}@example.com", first_name=f"Reader{n}")
        ListMembershipFactory(contact_list=contact_list, contact=contact)
    return contact_list


def started(company, newsletter, **fields) -> Campaign:
    return delivery.send_campaign(campaign=make_campaign(company, lists=[newsletter], **fields))


def run(campaign: Campaign) -> None:
    delivery.send_campaign_batches(campaign_id=campaign.pk)
    campaign.refresh_from_db()


def rows(campaign: Campaign) -> dict[str, CampaignRecipient]:
    return {row.email: row for row in CampaignRecipient.objects.filter(campaign=campaign)}


def make_due(campaign: Campaign) -> None:
    CampaignRecipient.objects.filter(campaign=campaign, next_attempt_at__isnull=False).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )


def test_every_recipient_gets_one_copy_and_each_row_keeps_its_message_id(company, newsletter, counting_sink):
    campaign = started(company, newsletter)
    run(campaign)
    assert counting_sink.copies() == {f"reader{n}@example.com": 1 for n in range(6)}
    assert campaign.status == CampaignStatus.SENT and campaign.finished_at
    by_email = rows(campaign)
    for received in counting_sink.received:
        row = by_email[received.to]
        assert row.status == RecipientStatus.SENT and row.sent_at and row.attempts == 1
        assert f"<{row.message_id}>".encode() in received.data
    assert delivery.progress(campaign) == {
        "status": CampaignStatus.SENT,
        "recipients": 6,
        "sent": 6,
        "failed": 0,
        "bounced": 0,
        "skipped": 0,
        "pending": 0,
    }


def test_a_second_run_after_the_end_sends_nothing(company, newsletter, counting_sink):
    campaign = started(company, newsletter)
    run(campaign)
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    run(campaign)
    assert len(counting_sink.received) == 6 and campaign.status == CampaignStatus.SENT


def test_starting_refuses_sms_a_past_time_a_started_campaign_and_an_empty_audience(company, newsletter):
    sms = make_campaign(company, lists=[newsletter], type=CampaignType.SMS)
    with pytest.raises(ValidationError) as raised:
        delivery.send_campaign(campaign=sms)
    assert list(raised.value.message_dict) == ["type"]

    campaign = make_campaign(company, lists=[newsletter])
    with pytest.raises(ValidationError) as raised:
        delivery.send_campaign(campaign=campaign, scheduled_at=timezone.now() - timedelta(minutes=1))
    assert list(raised.value.message_dict) == ["scheduled_at"]

    delivery.send_campaign(campaign=campaign)
    with pytest.raises(ValidationError) as raised:
        delivery.send_campaign(campaign=campaign)
    assert list(raised.value.message_dict) == ["status"]

    with pytest.raises(ValidationError) as raised:
        delivery.send_campaign(campaign=make_campaign(company))
    assert list(raised.value.message_dict) == ["list_ids"]


def test_a_time_to_come_schedules_the_campaign_without_sending(company, newsletter):
    at = timezone.now() + timedelta(hours=2)
    campaign = delivery.send_campaign(campaign=make_campaign(company, lists=[newsletter]), scheduled_at=at)
    assert (campaign.status, campaign.scheduled_at) == (CampaignStatus.SCHEDULED, at)
    assert not CampaignRecipient.objects.filter(campaign=campaign).exists()
    assert delivery.start_due_campaigns() == 0
    assert delivery.start_due_campaigns(now=at + timedelta(seconds=1)) == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING and campaign.recipient_count == 6


def test_a_temporary_refusal_is_retried_later_and_then_delivered_once(company, newsletter, counting_sink):
    counting_sink.replies["reader2@example.com"] = ["451 4.3.0 Greylisted, try again later"]
    campaign = started(company, newsletter)
    before = timezone.now()
    run(campaign)
    deferred = rows(campaign)["reader2@example.com"]
    assert deferred.status == RecipientStatus.PENDING and deferred.attempts == 1
    assert deferred.next_attempt_at > before + delivery.RETRY_BASE - timedelta(seconds=5)
    assert deferred.error.startswith("451")
    assert len(counting_sink.received) == 5 and campaign.status == CampaignStatus.SENDING

    run(campaign)  # not due yet: nothing happens
    assert len(counting_sink.received) == 5
    make_due(campaign)
    run(campaign)
    assert counting_sink.copies() == {f"reader{n}@example.com": 1 for n in range(6)}
    assert counting_sink.rcpt_attempts["reader2@example.com"] == 2
    row = rows(campaign)["reader2@example.com"]
    assert (row.status, row.attempts, row.error) == (RecipientStatus.SENT, 2, "")
    assert campaign.status == CampaignStatus.SENT


def test_temporary_refusals_past_the_attempt_limit_fail_the_recipient(company, newsletter, counting_sink, settings):
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    counting_sink.replies["reader0@example.com"] = ["452 4.2.2 Mailbox full"] * 10
    campaign = started(company, newsletter)
    for _ in range(3):
        run(campaign)
        make_due(campaign)
    row = rows(campaign)["reader0@example.com"]
    assert (row.status, row.attempts) == (RecipientStatus.FAILED, 3)
    assert "452" in row.error and campaign.status == CampaignStatus.SENT
    assert counting_sink.rcpt_attempts["reader0@example.com"] == 3


def test_a_missing_mailbox_bounces_the_recipient_and_the_contact_and_nobody_else_is_sent_twice(
    company, newsletter, counting_sink
):
    counting_sink.replies["reader3@example.com"] = ["550 5.1.1 No such mailbox"]
    campaign = started(company, newsletter)
    run(campaign)
    row = rows(campaign)["reader3@example.com"]
    assert row.status == RecipientStatus.BOUNCED and row.error.startswith("550 5.1.1")
    assert Contact.objects.get(pk=row.contact_id).status == ContactStatus.BOUNCED
    assert counting_sink.copies() == {f"reader{n}@example.com": 1 for n in range(6) if n != 3}
    assert counting_sink.rcpt_attempts["reader3@example.com"] == 1
    assert campaign.status == CampaignStatus.SENT
    # Suppressed from then on: the next campaign to the same list leaves the contact out.
    assert delivery.send_campaign(campaign=make_campaign(company, lists=[newsletter])).recipient_count == 5


def test_a_permanent_refusal_that_is_not_about_the_mailbox_fails_the_recipient_only(company, newsletter, counting_sink):
    counting_sink.replies["reader1@example.com"] = ["554 5.7.1 Rejected by policy"]
    campaign = started(company, newsletter)
    run(campaign)
    row = rows(campaign)["reader1@example.com"]
    assert row.status == RecipientStatus.FAILED and row.attempts == 1
    assert Contact.objects.get(pk=row.contact_id).status == ContactStatus.SUBSCRIBED
    assert sum(counting_sink.copies().values()) == 5


@pytest.mark.parametrize(
    ("code", "text", "kind"),
    [
        (550, b"5.1.1 No such user", smtp.BOUNCED),
        (550, b"No such user here", smtp.BOUNCED),
        (553, b"Mailbox name not allowed", smtp.BOUNCED),
        (550, b"5.7.1 Message refused as spam", smtp.FAILED),
        (554, b"Transaction failed", smtp.FAILED),
        (552, b"5.2.2 Mailbox full", smtp.FAILED),
        (451, b"4.3.0 Try later", smtp.RETRY),
        (421, b"4.3.2 Shutting down", smtp.CONNECTION),
    ],
)
def test_refusals_are_read_by_their_codes(code, text, kind):
    assert smtp.classify(code, text) == kind


def test_a_contact_who_became_unmailable_after_the_start_is_skipped(company, newsletter, counting_sink):
    campaign = started(company, newsletter)
    Contact.objects.filter(email="reader4@example.com").update(status=ContactStatus.UNSUBSCRIBED)
    run(campaign)
    assert rows(campaign)["reader4@example.com"].status == RecipientStatus.SKIPPED
    assert "reader4@example.com" not in counting_sink.copies() and len(counting_sink.received) == 5
    assert campaign.status == CampaignStatus.SENT


@pytest.fixture
def two_per_chunk(company):
    """Chunks of two messages (the rate sets the chunk), so a test can act between chunks."""
    company.send_rate_per_second = 8
    company.save(update_fields=["send_rate_per_second"])
    assert ratelimit.chunk_size(8) == 2


def act_before_chunk(monkeypatch, number: int, action) -> None:
    """Call `action` when the worker asks for the tokens of its `number`-th chunk."""
    take, calls = ratelimit.take, []

    def counting_take(company_id, *, rate, count):
        calls.append(count)
        if len(calls) == number:
            action()
        return take(company_id, rate=rate, count=count) and 0  # no waiting in these tests

    monkeypatch.setattr(ratelimit, "take", counting_take)


def test_pause_stops_after_the_current_chunk_and_resume_sends_the_rest_once(
    company, newsletter, counting_sink, two_per_chunk, monkeypatch
):
    campaign = started(company, newsletter)
    act_before_chunk(monkeypatch, 2, lambda: delivery.pause_campaign(campaign=Campaign.objects.get(pk=campaign.pk)))
    run(campaign)
    assert campaign.status == CampaignStatus.PAUSED and len(counting_sink.received) == 2
    waiting = [row for row in rows(campaign).values() if row.status != RecipientStatus.SENT]
    assert len(waiting) == 4 and {(row.status, row.claimed_at) for row in waiting} == {(RecipientStatus.PENDING, None)}
    run(campaign)  # a paused campaign's workers claim nothing
    assert len(counting_sink.received) == 2

    with pytest.raises(ValidationError):
        delivery.pause_campaign(campaign=campaign)
    delivery.resume_campaign(campaign=campaign)
    run(campaign)
    assert counting_sink.copies() == {f"reader{n}@example.com": 1 for n in range(6)}
    assert campaign.status == CampaignStatus.SENT


def test_cancel_skips_everyone_not_sent_yet(company, newsletter, counting_sink, two_per_chunk, monkeypatch):
    campaign = started(company, newsletter)
    act_before_chunk(monkeypatch, 2, lambda: delivery.cancel_campaign(campaign=Campaign.objects.get(pk=campaign.pk)))
    run(campaign)
    assert campaign.status == CampaignStatus.CANCELLED and campaign.finished_at
    assert len(counting_sink.received) == 2
    assert delivery.progress(campaign) | {"status": None} == {
        "status": None,
        "recipients": 6,
        "sent": 2,
        "failed": 0,
        "bounced": 0,
        "skipped": 4,
        "pending": 0,
    }
    for action in (delivery.resume_campaign, delivery.pause_campaign, delivery.cancel_campaign):
        with pytest.raises(ValidationError) as raised:
            action(campaign=campaign)
        assert list(raised.value.message_dict) == ["status"]


def test_an_unreachable_mail_server_stops_the_send_once_and_keeps_every_row(company, newsletter, settings):
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    campaign = started(company, newsletter)
    run(campaign)
    assert {(row.status, row.attempts, row.claimed_at) for row in rows(campaign).values()} == {
        (RecipientStatus.PENDING, 0, None)
    }
    state = MailServerState.objects.get()
    assert state.failures == 1 and state.unreachable_since
    # No retry storm: until the outage's wait is over, workers do not even connect.
    run(campaign)
    assert MailServerState.objects.get().failures == 1 and not mailserver.may_attempt()
    assert campaign.status == CampaignStatus.SENDING


def test_a_server_back_after_an_outage_gets_the_campaign_and_clears_the_outage(company, newsletter, counting_sink):
    mailserver.record_failure(ConnectionRefusedError("refused"))
    MailServerState.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=10))
    campaign = started(company, newsletter)
    run(campaign)
    assert len(counting_sink.received) == 6 and mailserver.current_outage() is None


def test_a_test_send_goes_to_the_given_addresses_only(company, newsletter, counting_sink):
    campaign = make_campaign(company, lists=[newsletter])
    assert delivery.send_test(campaign=campaign, emails=["me@example.com", "boss@example.com"]) == 2
    assert counting_sink.copies() == {"me@example.com": 1, "boss@example.com": 1}
    assert not CampaignRecipient.objects.exists() and Campaign.objects.get(pk=campaign.pk).status == "draft"


@pytest.mark.parametrize("emails", [[], "me@example.com", ["not an address"], [42], ["a@example.com"] * 11])
def test_a_test_send_names_the_emails_field_when_they_are_not_addresses(company, newsletter, emails):
    with pytest.raises(ValidationError) as raised:
        delivery.send_test(campaign=make_campaign(company, lists=[newsletter]), emails=emails)
    assert list(raised.value.message_dict) == ["emails"]


def test_a_refused_test_address_is_an_error_on_emails(company, newsletter, counting_sink):
    counting_sink.replies["gone@example.com"] = ["550 5.1.1 No such mailbox"]
    with pytest.raises(ValidationError) as raised:
        delivery.send_test(campaign=make_campaign(company, lists=[newsletter]), emails=["gone@example.com"])
    assert "gone@example.com" in raised.value.message_dict["emails"][0]


def test_a_campaign_that_cannot_be_rendered_is_paused_with_the_reason_and_nobody_is_lost(
    company, newsletter, counting_sink, monkeypatch
):
    campaign = started(company, newsletter)
    real_prepare = rendering.prepare

    class Broken:
        def render_batch(self, rows):
            raise RuntimeError("the template exploded")

    monkeypatch.setattr(rendering, "prepare", lambda campaign: Broken())
    with pytest.raises(RuntimeError):
        delivery.send_campaign_batches(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.PAUSED and "the template exploded" in campaign.last_error
    assert {(row.status, row.claimed_at) for row in rows(campaign).values()} == {(RecipientStatus.PENDING, None)}
    assert not counting_sink.received

    monkeypatch.setattr(rendering, "prepare", real_prepare)
    delivery.resume_campaign(campaign=campaign)
    run(campaign)
    assert counting_sink.copies() == {f"reader{n}@example.com": 1 for n in range(6)}
    assert campaign.status == CampaignStatus.SENT and campaign.last_error == ""
