"""Several workers on one campaign (PostgreSQL: SKIP LOCKED claims, one shared send-rate bucket),
claims of dead workers taken over, and beat's tick starting due campaigns and restarting stalled
sends through a real Celery worker."""

import threading
import time
from datetime import timedelta

import pytest
from django.db import close_old_connections
from django.utils import timezone

from campaigns import delivery, ratelimit, tasks
from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from contacts.models import Contact, ListMembership
from tests.campaigns.conftest import make_campaign
from tests.factories import ContactListFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def audience_of(company, size: int):
    contact_list = ContactListFactory(company=company, name=f"Audience of {size}")
    contacts = Contact.objects.bulk_create(
        Contact(company=company, email=f"member{n}@example.com", first_name=f"M{n}") for n in range(size)
    )
    ListMembership.objects.bulk_create(
        ListMembership(contact_list=contact_list, contact=contact, status="subscribed") for contact in contacts
    )
    return contact_list


def started(company, size: int, monkeypatch) -> Campaign:
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)
    return delivery.send_campaign(campaign=make_campaign(company, lists=[audience_of(company, size)]))


def in_threads(count: int, work) -> list:
    """Run work(i) in `count` threads started together; returns their results in order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def target(index: int) -> None:
        barrier.wait()
        try:
            results[index] = work(index)
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return results


def test_two_concurrent_claimers_never_take_the_same_row(company, monkeypatch):
    campaign = started(company, 400, monkeypatch)

    def claim_all(_):
        taken = []
        while True:
            _, ids, _ = delivery._claim(campaign, 25)
            if not ids:
                return taken
            taken += ids
            time.sleep(0.001)  # let the other claimer in

    first, second = in_threads(2, claim_all)
    assert first and second, "one claimer took everything: the test proved nothing"
    assert not set(first) & set(second)
    assert sorted(first + second) == sorted(
        CampaignRecipient.objects.filter(campaign=campaign).values_list("pk", flat=True)
    )


def test_two_workers_share_a_campaign_and_every_recipient_gets_one_copy(company, counting_sink, monkeypatch, settings):
    settings.CAMPAIGN_BATCH_SIZE = 40
    campaign = started(company, 300, monkeypatch)
    sent_by: dict[str, int] = {}
    mark = delivery._Marks.sent

    def counted_mark(self, recipient_id, message_id):
        name = threading.current_thread().name
        sent_by[name] = sent_by.get(name, 0) + 1
        mark(self, recipient_id, message_id)

    monkeypatch.setattr(delivery._Marks, "sent", counted_mark)
    in_threads(2, lambda _: delivery.send_campaign_batches(campaign_id=campaign.pk))
    assert counting_sink.copies() == {f"member{n}@example.com": 1 for n in range(300)}
    assert len(sent_by) == 2, sent_by  # both workers sent
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_the_send_rate_holds_across_two_workers(company, counting_sink, monkeypatch):
    rate, size = 40, 200
    company.send_rate_per_second = rate
    company.save(update_fields=["send_rate_per_second"])
    campaign = started(company, size, monkeypatch)
    in_threads(2, lambda _: delivery.send_campaign_batches(campaign_id=campaign.pk))
    times = sorted(item.at for item in counting_sink.received)
    assert len(times) == size
    chunk = ratelimit.chunk_size(rate)
    burst = ratelimit.capacity(rate, chunk) + 2 * chunk  # a full bucket, and a chunk in flight per worker
    assert times[-1] - times[0] >= (size - burst) / rate
    for start in times:  # in any two seconds, at most the burst and two seconds' worth
        assert sum(1 for t in times if start <= t < start + 2) <= burst + 2 * rate


def test_a_dead_workers_claim_is_taken_over_once_its_lease_is_over_and_a_live_one_is_not(
    company, counting_sink, monkeypatch, settings
):
    campaign = started(company, 10, monkeypatch)
    token, dead_claim, _ = delivery._claim(campaign, 4)  # a worker that died holding four rows
    delivery.send_campaign_batches(campaign_id=campaign.pk)
    assert len(counting_sink.received) == 6
    assert CampaignRecipient.objects.filter(pk__in=dead_claim, status=RecipientStatus.SENDING).count() == 4
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENDING

    expired = timezone.now() - timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS + 1)
    CampaignRecipient.objects.filter(pk__in=dead_claim).update(claimed_at=expired)
    delivery.send_campaign_batches(campaign_id=campaign.pk)
    assert counting_sink.copies() == {f"member{n}@example.com": 1 for n in range(10)}
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT


def test_a_worker_whose_lease_was_taken_over_sends_only_the_rows_it_still_holds(company, monkeypatch, settings):
    campaign = started(company, 6, monkeypatch)
    _, ids, _ = delivery._claim(campaign, 6)
    # The worker stalled past its lease and another took three of its rows over.
    token = timezone.now() - timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS + 1)
    CampaignRecipient.objects.filter(pk__in=ids).update(claimed_at=token)
    CampaignRecipient.objects.filter(pk__in=ids[3:]).update(claimed_at=timezone.now())
    new_token, held = delivery._renew(campaign.pk, ids, token)
    assert held == set(ids[:3])
    assert set(CampaignRecipient.objects.filter(claimed_at=new_token).values_list("pk", flat=True)) == held


def test_a_young_claim_is_not_rewritten_before_each_chunk_but_a_pause_is_still_seen(company, monkeypatch):
    campaign = started(company, 6, monkeypatch)
    token, ids, _ = delivery._claim(campaign, 6)
    assert delivery._renew(campaign.pk, ids, token) == (token, set(ids))
    delivery.pause_campaign(campaign=campaign)
    assert delivery._renew(campaign.pk, ids, token) == (token, set())
    assert set(CampaignRecipient.objects.values_list("status", "claimed_at")) == {(RecipientStatus.PENDING, None)}


@pytest.fixture
def worker(celery_worker_thread, monkeypatch):
    """Send tasks run on the real (in-thread) Celery worker, two per campaign."""
    monkeypatch.setattr(delivery, "_enqueue_senders", DELIVERY_ENQUEUE)
    return celery_worker_thread


DELIVERY_ENQUEUE = delivery._enqueue_senders


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_beat_starts_a_scheduled_campaign_when_it_is_due_and_the_worker_sends_it(company, counting_sink, worker):
    from django_celery_beat.schedulers import DatabaseScheduler

    from salloq.celery import app

    campaign = make_campaign(company, lists=[audience_of(company, 30)])
    delivery.send_campaign(campaign=campaign, scheduled_at=timezone.now() + timedelta(minutes=5))
    schedule = DatabaseScheduler(app=app).schedule
    entry = schedule["campaigns-start-due"]
    assert entry.task == tasks.start_due_campaigns.name and entry.schedule.run_every == timedelta(seconds=15)

    DatabaseScheduler(app=app).apply_async(entry)  # not due yet: nothing starts
    time.sleep(1)
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED

    Campaign.objects.filter(pk=campaign.pk).update(scheduled_at=timezone.now() - timedelta(seconds=1))
    DatabaseScheduler(app=app).apply_async(entry)
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT)
    assert counting_sink.copies() == {f"member{n}@example.com": 1 for n in range(30)}


def test_beat_restarts_a_send_nobody_is_working_on(company, counting_sink, worker, settings):
    campaign = make_campaign(company, lists=[audience_of(company, 20)])
    with pytest.MonkeyPatch.context() as patch:  # started with its send tasks lost
        patch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)
        campaign = delivery.send_campaign(campaign=campaign)
    _, dead_claim, _ = delivery._claim(campaign, 5)
    expired = timezone.now() - timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS + 1)
    CampaignRecipient.objects.filter(pk__in=dead_claim).update(claimed_at=expired)

    tasks.start_due_campaigns.delay()
    wait_until(lambda: Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SENT)
    assert counting_sink.copies() == {f"member{n}@example.com": 1 for n in range(20)}
