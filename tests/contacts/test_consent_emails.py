"""Double opt-in emails through a real SMTP server (aiosmtpd) and, where Celery matters, the real worker."""

import os
import re
import subprocess
import sys
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from contacts import consent, services, tasks
from contacts.models import ConsentAction, ConsentRecord, Contact, ListMembership, MembershipStatus
from contacts.services import ConsentContext
from salloq.core import mailserver
from tests.conftest import csrf_token
from tests.contacts.conftest import free_port
from tests.factories import ContactFactory, ContactListFactory

CONFIRM_LINK = re.compile(r"http://127\.0\.0\.1:8000(/c/confirm/[^/\s\"]+/)")


def subscribe(contact, contact_list) -> ListMembership:
    membership, warnings = services.list_subscribe(
        contact=contact, contact_list=contact_list, consent=ConsentContext(source="signup form", fresh=True)
    )
    assert warnings == []
    return membership


def actions(membership: ListMembership) -> list[str]:
    records = ConsentRecord.objects.filter(contact_id=membership.contact_id, contact_list_id=membership.contact_list_id)
    return list(records.order_by("id").values_list("action", flat=True))


def confirm_path(message) -> str:
    match = CONFIRM_LINK.search(message.get_body(("plain",)).get_content())
    assert match, "no confirmation link in the text part"
    return match.group(1)


def subscribed_audience(contact_list):
    return Contact.objects.mailable().in_list(contact_list.pk, ("subscribed",))


CONFIRMATION_TASK = "contacts.tasks.send_double_opt_in_confirmations"
REMINDERS_TASK = "contacts.tasks.send_double_opt_in_reminders"


def test_double_opt_in_end_to_end(company, celery_worker_thread, finished_tasks, smtp_sink):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    with transaction.atomic():
        contact = ContactFactory(company=company, email="ann@example.com", first_name="Ann")
        membership = subscribe(contact, newsletter)
        assert membership.status == MembershipStatus.PENDING

    # Enqueued on commit, run by the real worker, delivered over SMTP.
    [message] = smtp_sink.wait_for(1)
    assert message["To"] == "ann@example.com"
    assert message["From"] == "Acme Shop <marketing@localhost>"
    assert message["Subject"] == "Please confirm your subscription to Newsletter"
    path = confirm_path(message)
    assert path in message.get_body(("html",)).get_content()
    assert "Hello Ann," in message.get_body(("plain",)).get_content()
    unsubscribe_link = message["List-Unsubscribe"].strip()  # folded: the URL is one long token
    assert re.fullmatch(r"<http://127\.0\.0\.1:8000/c/unsubscribe/[^/\s]+/>", unsubscribe_link)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    finished_tasks.wait_for(CONFIRMATION_TASK)
    assert not subscribed_audience(newsletter).exists()  # pending is not mailed

    # A browser without JavaScript: the GET shows a form and confirms nothing.
    browser = Client(enforce_csrf_checks=True, REMOTE_ADDR="198.51.100.7", HTTP_USER_AGENT="Mozilla/5.0 (test)")
    page = browser.get(path)
    assert page.status_code == 200
    assert b"Confirm subscription" in page.content
    membership.refresh_from_db()
    assert membership.status == MembershipStatus.PENDING

    done = browser.post(path, {"csrfmiddlewaretoken": csrf_token(page)})
    assert done.status_code == 200
    assert b"Subscription confirmed" in done.content

    membership.refresh_from_db()
    assert membership.status == MembershipStatus.SUBSCRIBED
    assert membership.confirmed_at is not None and membership.subscribed_at == membership.confirmed_at
    assert membership.confirmed_ip == "198.51.100.7"
    assert actions(membership) == [
        ConsentAction.SUBSCRIBED,
        ConsentAction.CONFIRMATION_SENT,
        ConsentAction.CONFIRMED,
    ]
    confirmed = ConsentRecord.objects.get(contact=contact, action=ConsentAction.CONFIRMED)
    assert (confirmed.ip_address, confirmed.user_agent) == ("198.51.100.7", "Mozilla/5.0 (test)")
    assert list(subscribed_audience(newsletter)) == [contact]


def test_reminder_is_sent_once_after_the_delay(company, celery_worker_thread, finished_tasks, smtp_sink, monkeypatch):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True, reminder_after_days=3)
    with transaction.atomic():
        first = subscribe(ContactFactory(company=company, email="ann@example.com"), newsletter)
        second = subscribe(ContactFactory(company=company, email="bob@example.com"), newsletter)
    finished_tasks.wait_for(CONFIRMATION_TASK)  # one task for the transaction sends both
    assert len(smtp_sink.messages) == 2
    start = timezone.now()

    with time_machine.travel(start + timedelta(days=2, hours=23)):
        assert consent.send_due_reminders() == 0

    # One reminder per run: the full batch makes the task enqueue its next run, on the worker too.
    monkeypatch.setattr(consent, "REMINDER_BATCH_SIZE", 1)
    with time_machine.travel(start + timedelta(days=3, minutes=1)):
        tasks.send_double_opt_in_reminders.delay()
        # Runs 2 and 3 were enqueued by the full batches before them; the third found nothing.
        finished_tasks.wait_for(REMINDERS_TASK, 3)
        reminders = smtp_sink.messages[2:]
        assert sorted(m["To"] for m in reminders) == ["ann@example.com", "bob@example.com"]
        assert all(m["Subject"] == "Reminder: please confirm your subscription to Newsletter" for m in reminders)
        # The reminder's link confirms like the first one.
        assert Client().get(confirm_path(reminders[0])).status_code == 200

        # Run again: nothing left to remind.
        assert consent.send_due_reminders() == 0

    with time_machine.travel(start + timedelta(days=20)):
        assert consent.send_due_reminders() == 0
    assert len(smtp_sink.messages) == 4
    for membership in (first, second):
        membership.refresh_from_db()
        assert membership.reminder_sent_at is not None
        assert actions(membership).count(ConsentAction.REMINDER_SENT) == 1


@pytest.mark.django_db
def test_confirmation_task_sends_once_when_run_twice(company, smtp_sink):
    membership = subscribe(
        ContactFactory(company=company, email="ann@example.com"),
        ContactListFactory(company=company, name="Newsletter", double_opt_in=True),
    )
    tasks.send_double_opt_in_confirmations.apply()
    tasks.send_double_opt_in_confirmations.apply()
    assert len(smtp_sink.messages) == 1
    assert actions(membership).count(ConsentAction.CONFIRMATION_SENT) == 1


@pytest.mark.django_db
def test_smtp_failure_releases_the_claim_so_the_retry_sends(company, smtp_sink, settings):
    membership = subscribe(
        ContactFactory(company=company, email="ann@example.com"),
        ContactListFactory(company=company, name="Newsletter", double_opt_in=True),
    )
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens: connection refused
    assert consent.send_pending_confirmations() == 0
    membership.refresh_from_db()
    assert membership.confirmation_sent_at is None
    assert ConsentAction.CONFIRMATION_SENT not in actions(membership)

    settings.EMAIL_PORT = working_port
    with time_machine.travel(timezone.now() + mailserver.BACKOFF_BASE + timedelta(seconds=5)):
        tasks.send_double_opt_in_confirmations.apply()
    assert len(smtp_sink.messages) == 1
    membership.refresh_from_db()
    assert membership.confirmation_sent_at is not None


@pytest.mark.django_db
def test_blacklisted_address_gets_no_confirmation_and_no_reminder(company, smtp_sink):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True, reminder_after_days=1)
    services.suppression_add(company=company, email="blocked@example.com", reason="complaint")
    blocked = subscribe(ContactFactory(company=company, email="blocked@example.com"), newsletter)
    subscribe(ContactFactory(company=company, email="ann@example.com"), newsletter)
    tasks.send_double_opt_in_confirmations.apply()
    assert [m["To"] for m in smtp_sink.messages] == ["ann@example.com"]
    blocked.refresh_from_db()
    assert blocked.confirmation_sent_at is None
    assert ConsentAction.CONFIRMATION_SENT not in actions(blocked)

    # Blacklisted after the confirmation went out: no reminder either.
    services.suppression_add(company=company, email="ann@example.com")
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        assert consent.send_due_reminders() == 0
    assert len(smtp_sink.messages) == 1


@pytest.mark.django_db
def test_reminder_batches_are_bounded_and_skip_a_refused_recipient(company, smtp_sink):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True, reminder_after_days=2)
    other = ContactListFactory(company=company, name="Offers", double_opt_in=True, reminder_after_days=5)
    addresses = ["gone@example.com", "ann@example.com", "bob@example.com"]
    memberships = [subscribe(ContactFactory(company=company, email=address), newsletter) for address in addresses]
    not_yet = subscribe(Contact.objects.get(email="ann@example.com"), other)
    assert consent.send_pending_confirmations() == len([*memberships, not_yet])
    smtp_sink.refused.add("gone@example.com")

    with time_machine.travel(timezone.now() + timedelta(days=3)):
        assert consent.send_due_reminders(batch_size=2) == 2
        assert consent.send_due_reminders(batch_size=2) == 1
        assert consent.send_due_reminders(batch_size=2) == 0
    reminded = [m["To"] for m in smtp_sink.messages if m["Subject"].startswith("Reminder")]
    assert sorted(reminded) == ["ann@example.com", "bob@example.com"]  # Offers' delay is 5 days
    gone = memberships[0]
    assert ConsentAction.REMINDER_SENT not in actions(gone)


@pytest.mark.django_db
def test_smtp_failure_during_reminders_releases_the_unsent_claims(company, smtp_sink, settings):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True, reminder_after_days=1)
    for i in range(2):
        subscribe(ContactFactory(company=company, email=f"p{i}@example.com"), newsletter)
    assert consent.send_pending_confirmations() == 2
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()
    start = timezone.now() + timedelta(days=2)
    with time_machine.travel(start):
        assert consent.send_due_reminders() == 0
        assert not ListMembership.objects.filter(reminder_sent_at__isnull=False).exists()

    # The next beat run after the back-off is the retry.
    settings.EMAIL_PORT = working_port
    with time_machine.travel(start + mailserver.BACKOFF_BASE + timedelta(seconds=5)):
        assert consent.send_due_reminders() == 2
    assert len([m for m in smtp_sink.messages if m["Subject"].startswith("Reminder")]) == 2


@pytest.mark.postgres
def test_concurrent_reminder_runs_skip_the_rows_another_run_holds(company, smtp_sink, transactional_db):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True, reminder_after_days=1)
    sent_at = timezone.now() - timedelta(days=2)
    # Created as the confirmation task leaves them (list_subscribe would enqueue on a worker-less broker).
    held, _free = [
        ListMembership.objects.create(
            contact_list=newsletter,
            contact=ContactFactory(company=company, email=address),
            status=MembershipStatus.PENDING,
            confirmation_sent_at=sent_at,
        )
        for address in ("held@example.com", "free@example.com")
    ]
    claimed_by_other_run = []

    def other_run():
        try:
            claimed_by_other_run.append(consent.send_due_reminders())
        finally:
            connection.close()

    with transaction.atomic():
        ListMembership.objects.select_for_update().get(pk=held.pk)  # a run that is still sending
        thread = threading.Thread(target=other_run)
        thread.start()
        thread.join(timeout=15)
    assert claimed_by_other_run == [1]
    assert [m["To"] for m in smtp_sink.messages] == ["free@example.com"]
    assert consent.send_due_reminders() == 1
    assert [m["To"] for m in smtp_sink.messages] == ["free@example.com", "held@example.com"]


@pytest.mark.django_db
def test_links_in_emails_start_with_site_url(company, settings):
    settings.SITE_URL = "https://marketing.example.com"
    contact = ContactFactory(company=company, email="ann@example.com")
    assert consent.unsubscribe_url(contact).startswith("https://marketing.example.com/c/unsubscribe/")
    assert consent.preferences_url(contact).startswith("https://marketing.example.com/c/preferences/")


def test_a_site_url_that_is_not_http_stops_start_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update({"SALLOQ_VAR_DIR": str(tmp_path), "SITE_URL": "marketing.example.com"})
    done = subprocess.run([sys.executable, "-c", "import salloq.settings"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "SITE_URL must be an http(s):// URL" in done.stderr


def test_reminders_are_scheduled_by_beat_in_code(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["contacts-double-opt-in-reminders"]
    assert entry["task"] == tasks.send_double_opt_in_reminders.name
    assert entry["schedule"] == 15 * 60
