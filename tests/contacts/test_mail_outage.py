"""Confirmation emails go out in batches over one SMTP connection; a mail server that is down or
failing is one recorded outage (shown on the dashboard, retried with back-off), not a retry per
message; a name stored with a line break cannot inject a header.

Everything runs through real parts: aiosmtpd on loopback (stopped, then started on the same port),
a TCP server that hangs up on every connection, the Celery worker, the dashboard."""

import socket
import threading
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.db import connection, transaction
from django.test import Client
from django.utils import timezone

from contacts import consent, services, tasks
from contacts.models import ConsentAction, ConsentRecord, ContactList, ListMembership, MembershipStatus
from salloq.core import mailserver
from salloq.core.models import Company, MailServerState, Role
from tests.conftest import html, make_api_client
from tests.contacts.conftest import SmtpSink, free_port, send_mail_to
from tests.factories import ContactListFactory, MembershipFactory, UserFactory

TASK = "contacts.tasks.send_double_opt_in_confirmations"
SIGNUP = services.ConsentContext(source="signup form", fresh=True)


class RecordingSink(SmtpSink):
    """Also keeps each message's SMTP session (client address and port) and envelope recipients."""

    def __init__(self):
        super().__init__()
        self.peers: list[tuple] = []
        self.envelopes: list[list[str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.peers.append(session.peer)
        self.envelopes.append(list(envelope.rcpt_tos))
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def recording_smtp(settings):
    sink = RecordingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    send_mail_to(settings, controller.port)
    try:
        yield sink
    finally:
        controller.stop()


class HangingUpServer:
    """A mail server that accepts each TCP connection and closes it at once; counts them."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            client.close()

    def close(self):
        self.listener.close()


@pytest.fixture
def hanging_up_server(settings):
    server = HangingUpServer()
    send_mail_to(settings, server.port)
    yield server
    server.close()


def add_members(company, contact_list, count: int) -> None:
    """Through the API, as the marketer's 168 contacts were added."""
    contact_ids = [
        services.contact_upsert(company=company, data={"email": f"person{n}@example.com"}).contact.pk
        for n in range(count)
    ]
    answer = make_api_client(company).post(f"/api/lists/{contact_list.pk}/members", {"contact_ids": contact_ids})
    assert answer.status_code == 200, answer.content
    assert {result["status"] for result in answer.json()["results"]} == {"pending"}, answer.content[:500]


def owed(contact_list) -> int:
    return ListMembership.objects.filter(
        contact_list=contact_list, status=MembershipStatus.PENDING, confirmation_sent_at__isnull=True
    ).count()


def member_client(company, *, staff: bool) -> Client:
    client = Client()
    user = UserFactory(is_staff=staff)
    MembershipFactory(company=company, user=user, role=Role.OWNER if staff else Role.MARKETER)
    client.force_login(user)
    return client


# --- Batches ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_adding_168_members_enqueues_one_task_not_one_per_contact(company, django_capture_on_commit_callbacks):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    with django_capture_on_commit_callbacks() as callbacks:
        add_members(company, newsletter, 168)
    assert owed(newsletter) == 168
    assert callbacks == [tasks.send_double_opt_in_confirmations.delay]


def test_168_confirmations_go_out_in_two_batches_over_two_connections(
    company, celery_worker_thread, finished_tasks, recording_smtp
):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    add_members(company, newsletter, 168)

    recording_smtp.wait_for(168)
    # The first run sent a full batch of 100 and enqueued the next, which sent the other 68.
    finished_tasks.wait_for(TASK, 2)
    assert finished_tasks.names.count(TASK) == 2
    assert sorted(Counter(recording_smtp.peers).values()) == [68, 100]  # messages per connection
    assert owed(newsletter) == 0
    assert ConsentRecord.objects.filter(action=ConsentAction.CONFIRMATION_SENT).count() == 168
    assert sorted(m["To"] for m in recording_smtp.messages) == sorted(f"person{n}@example.com" for n in range(168))


@pytest.mark.postgres
def test_concurrent_runs_send_different_confirmations(company, recording_smtp, transactional_db):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    held, _free = [
        ListMembership.objects.create(
            contact_list=newsletter,
            contact=services.contact_upsert(company=company, data={"email": address}).contact,
            status=MembershipStatus.PENDING,
        )
        for address in ("held@example.com", "free@example.com")
    ]
    sent_by_other_run = []

    def other_run():
        try:
            sent_by_other_run.append(consent.send_pending_confirmations())
        finally:
            connection.close()

    with transaction.atomic():
        ListMembership.objects.select_for_update().get(pk=held.pk)  # a run that is still sending
        thread = threading.Thread(target=other_run)
        thread.start()
        thread.join(timeout=15)
    assert sent_by_other_run == [1]
    assert [m["To"] for m in recording_smtp.messages] == ["free@example.com"]
    assert consent.send_pending_confirmations() == 1
    assert [m["To"] for m in recording_smtp.messages] == ["free@example.com", "held@example.com"]


def test_beat_runs_the_confirmation_sender_every_minute(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["contacts-double-opt-in-confirmations"]
    assert entry["task"] == tasks.send_double_opt_in_confirmations.name
    assert entry["schedule"] == 60


# --- Outage ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_server_is_tried_on_a_back_off_schedule_not_once_per_message(company, hanging_up_server):
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    add_members(company, newsletter, 168)
    start = timezone.now()

    # Beat runs the task every minute, and each new member enqueues it too: ten minutes of that.
    for second in range(0, 10 * 60, 20):
        with time_machine.travel(start + timedelta(seconds=second), tick=False):
            tasks.send_double_opt_in_confirmations.apply().get()  # never raises: an outage is no error

    # Attempts at 0, 1, 3 and 7 minutes (waits of 1, 2, 4, then 8 minutes); nothing was sent or lost.
    assert hanging_up_server.connections == 4
    state = MailServerState.objects.get()
    assert state.failures == 4
    assert state.unreachable_since is not None and state.next_attempt_at > start + timedelta(minutes=10)
    assert "SMTPServerDisconnected" in state.last_error
    assert owed(newsletter) == 168
    assert not ConsentRecord.objects.filter(action=ConsentAction.CONFIRMATION_SENT).exists()


@pytest.mark.django_db
def test_a_beat_run_a_moment_early_still_makes_the_next_attempt(settings):
    send_mail_to(settings, free_port())
    state = mailserver.record_failure(ConnectionRefusedError(111, "Connection refused"))
    assert not mailserver.may_attempt(state.next_attempt_at - timedelta(seconds=30))
    assert mailserver.may_attempt(state.next_attempt_at - timedelta(milliseconds=30))


def test_back_off_doubles_up_to_a_cap():
    waits = [mailserver.backoff(failures) for failures in range(1, 8)]
    assert waits[:4] == [timedelta(minutes=minutes) for minutes in (1, 2, 4, 8)]
    assert waits[4:] == [mailserver.BACKOFF_CAP] * 3
    assert mailserver.backoff(10**6) == mailserver.BACKOFF_CAP


@pytest.mark.django_db
def test_dashboard_shows_the_outage_with_the_settings_to_fix_and_clears_when_mail_goes_out_again(company, settings):
    port = free_port()
    send_mail_to(settings, port)  # the mail server is stopped: nothing listens on its port
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    for n in range(3):
        contact = services.contact_upsert(company=company, data={"email": f"p{n}@example.com"}).contact
        services.list_subscribe(contact=contact, contact_list=newsletter, consent=SIGNUP)
    staff = member_client(company, staff=True)
    marketer = member_client(company, staff=False)
    assert "Mail server unreachable" not in html(staff.get("/"))

    tasks.send_double_opt_in_confirmations.apply().get()
    assert owed(newsletter) == 3

    for page in ("/", "/contacts/", f"/contacts/lists/{newsletter.pk}/"):
        markup = html(staff.get(page))
        assert "Mail server unreachable since" in markup, page
        assert "<code>EMAIL_HOST</code> (the workers use <code>127.0.0.1</code>)" in markup, page
        assert f"<code>EMAIL_PORT</code> (<code>{port}</code>)" in markup, page
        assert "Connection refused" in markup or "ConnectionRefusedError" in markup, page
    # Members who are not staff see it on the dashboard home.
    assert "Mail server unreachable since" in html(marketer.get("/"))

    # The server starts on the same port; the next run after the back-off sends everything owed.
    sink = RecordingSink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with time_machine.travel(timezone.now() + mailserver.BACKOFF_BASE + timedelta(seconds=5)):
            tasks.send_double_opt_in_confirmations.apply().get()
    finally:
        controller.stop()
    assert sorted(m["To"] for m in sink.messages) == ["p0@example.com", "p1@example.com", "p2@example.com"]
    assert owed(newsletter) == 0
    assert mailserver.current_outage() is None
    for page in ("/", "/contacts/"):
        assert "Mail server unreachable" not in html(staff.get(page)), page
    assert "Mail server unreachable" not in html(marketer.get("/"))


@pytest.mark.django_db
def test_the_outage_banner_is_not_shown_to_members_on_other_pages(company, settings):
    send_mail_to(settings, free_port())
    mailserver.record_failure(ConnectionRefusedError(111, "Connection refused"))
    marketer = member_client(company, staff=False)
    assert "Mail server unreachable since" in html(marketer.get("/"))
    assert "Mail server unreachable" not in html(marketer.get("/contacts/"))


# --- Names with control characters stored before they were refused ----------------------------------


@pytest.mark.django_db
def test_a_stored_list_name_with_a_line_break_cannot_inject_a_header_and_members_get_their_email(recording_smtp):
    # Written straight to the table, as names were stored before every write path refused them.
    company = Company.objects.create(name="Evil\r\nBcc: boss@evil.test")
    contact_list = ContactList.objects.create(company=company, name="News\nBcc: attacker@evil.test", double_opt_in=True)
    contact = services.contact_upsert(company=company, data={"email": "ann@example.com"}).contact
    membership, _ = services.list_subscribe(contact=contact, contact_list=contact_list, consent=SIGNUP)

    tasks.send_double_opt_in_confirmations.apply().get()

    [message] = recording_smtp.messages
    assert recording_smtp.envelopes == [["ann@example.com"]]
    assert message["Bcc"] is None
    assert message["Subject"] == "Please confirm your subscription to News Bcc: attacker@evil.test"
    [sender] = message["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Evil Bcc: boss@evil.test", "marketing@localhost")
    membership.refresh_from_db()
    assert membership.confirmation_sent_at is not None
    assert ConsentRecord.objects.filter(contact=contact, action=ConsentAction.CONFIRMATION_SENT).exists()
