"""The embedded mail catcher as a sender meets it: a real SMTP client (smtplib) talking to the real
aiosmtpd server on a free loopback port, each message stored as an OutboxMessage under the company
its Feedback-ID names."""

import smtplib

import pytest
from aiosmtpd.controller import Controller

from campaigns import delivery
from campaigns.mailcatcher import MAX_MESSAGE_BYTES, OutboxHandler, company_id_from_feedback_id, feedback_id
from campaigns.models import OutboxMessage
from contacts import consent, services
from contacts.services import ConsentContext
from tests.campaigns.conftest import make_campaign
from tests.contacts.conftest import free_port
from tests.factories import CompanyFactory, ContactFactory, ContactListFactory, ListMembershipFactory

# The catcher stores from its own thread: what it writes must be committed to be seen, and the
# company it reads must be committed for it to see.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def catcher():
    handler = OutboxHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), data_size_limit=MAX_MESSAGE_BYTES)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()
        handler.close()


def message_bytes(*, subject: str = "Hello", feedback: str | None = None, body: str = "Hi there") -> bytes:
    lines = [
        "From: Acme Shop <news@acme.example>",
        "To: ann@example.com",
        f"Subject: {subject}",
        "Message-ID: <abc.123@acme.example>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
    ]
    if feedback is not None:
        lines.append(f"Feedback-ID: {feedback}")
    return ("\r\n".join([*lines, "", body]) + "\r\n").encode()


def send(controller: Controller, raw: bytes, to: list[str] | None = None, mail_from: str = "bounce@acme.example"):
    with smtplib.SMTP(controller.hostname, controller.port, timeout=10) as client:
        return client.sendmail(mail_from, to or ["ann@example.com"], raw)


def test_a_message_sent_over_smtp_is_kept_under_the_company_its_feedback_id_names(catcher):
    company = CompanyFactory(name="Acme Shop")
    raw = message_bytes(
        subject="=?utf-8?q?Sommerschlussverkauf_=E2=80=94_30_%?=",
        feedback=feedback_id(company_id=company.pk, kind="campaign", reference=12),
    )
    assert send(catcher, raw, to=["ann@example.com", "bob@example.com"]) == {}

    stored = OutboxMessage.objects.get()
    assert stored.company_id == company.pk
    assert stored.subject == "Sommerschlussverkauf — 30 %"
    assert stored.mail_from == "bounce@acme.example"
    assert stored.recipients == "ann@example.com, bob@example.com"
    assert stored.message_id == "abc.123@acme.example"
    assert bytes(stored.raw) == raw


def test_a_message_naming_no_company_of_ours_is_kept_for_nobody(catcher):
    company = CompanyFactory()
    send(catcher, message_bytes(subject="no header"))
    send(catcher, message_bytes(subject="unknown company", feedback=f"1:{company.pk + 1000}:campaign:salloq"))
    send(catcher, message_bytes(subject="another sender", feedback=f"1:{company.pk}:campaign:someone-else"))
    send(catcher, message_bytes(subject="ours", feedback=f"1:{company.pk}:campaign:salloq"))
    kept = dict(OutboxMessage.objects.values_list("subject", "company_id"))
    assert kept == {"no header": None, "unknown company": None, "another sender": None, "ours": company.pk}


@pytest.mark.parametrize(
    ("value", "company_id"),
    [
        ("12:7:campaign:salloq", 7),
        (" 0:7:consent:salloq ", 7),
        ("12:7:campaign:other", None),
        ("12:x:campaign:salloq", None),
        ("12:٣:campaign:salloq", None),  # a digit, but not an ASCII one
        ("12:0:campaign:salloq", None),
        ("12:99999999999999999999:campaign:salloq", None),
        ("7:salloq", None),
        ("", None),
        (None, None),
    ],
)
def test_feedback_id_is_read_strictly(value, company_id):
    assert company_id_from_feedback_id(value) == company_id


def test_double_opt_in_emails_show_in_their_company_outbox(catcher, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = catcher.hostname, catcher.port
    company = CompanyFactory(name="Acme Shop")
    newsletter = ContactListFactory(company=company, name="Newsletter", double_opt_in=True)
    contact = ContactFactory(company=company, email="ann@example.com")
    services.list_subscribe(
        contact=contact, contact_list=newsletter, consent=ConsentContext(source="signup form", fresh=True)
    )
    assert consent.send_pending_confirmations() == 1

    stored = OutboxMessage.objects.get()
    assert stored.company_id == company.pk
    assert stored.subject == "Please confirm your subscription to Newsletter"
    assert stored.recipients == "ann@example.com"
    assert b"/c/confirm/" in bytes(stored.raw)


MALFORMED = [
    b"\xff\xfe\x00 not a header at all\r\n\r\n\x80\x81 body",
    b"Subject: =?x-unknown-charset?b?!!!not base64?=\r\nFeedback-ID: =?utf-8?q?=FF?=\r\n"
    b"Message-ID: <<<\r\nContent-Type: multipart/alternative\r\n\r\nno boundary at all\r\n",
    # A 7,500-character subject (folded: SMTP lines stay under 1,000 characters), an unknown charset.
    b"Subject: " + b"\r\n ".join([b"word " * 10] * 150) + b"\r\nContent-Type: text/html; charset=klingon\r\n"
    b"Content-Transfer-Encoding: base64\r\n\r\n%%%% not base64 %%%%\r\n",
    b"\r\n",
    # A NUL in the decoded subject (PostgreSQL stores no NUL in text).
    b"Subject: =?utf-8?q?before=00after?=\r\nMessage-ID: <a\x00b@example.com>\r\n\r\nbody\r\n",
]


def test_the_catcher_keeps_malformed_messages_and_goes_on_receiving(catcher):
    company = CompanyFactory()
    for raw in MALFORMED:
        assert send(catcher, raw) == {}
    send(catcher, message_bytes(subject="after the junk", feedback=f"1:{company.pk}:campaign:salloq"))

    kept = list(OutboxMessage.objects.order_by("id"))
    assert [bytes(message.raw).rstrip(b"\r\n") for message in kept[: len(MALFORMED)]] == [
        raw.rstrip(b"\r\n") for raw in MALFORMED
    ]
    assert all(message.company_id is None for message in kept[: len(MALFORMED)])
    assert kept[2].subject.startswith("word word") and len(kept[2].subject) == 998
    assert kept[4].subject == "before after"
    assert kept[-1].subject == "after the junk"
    assert kept[-1].company_id == company.pk


def test_only_the_newest_messages_are_kept(catcher, settings):
    settings.MAIL_CATCHER_KEEP = 3
    for number in range(5):
        send(catcher, message_bytes(subject=f"message {number}"))
    assert list(OutboxMessage.objects.values_list("subject", flat=True)) == ["message 4", "message 3", "message 2"]


def test_a_message_the_catcher_cannot_store_is_refused_for_now_not_lost(catcher, monkeypatch):
    """The sender hears a 4xx (try later) and keeps the message, instead of a 250 for mail that is gone."""

    def failing_store(**kwargs):
        raise RuntimeError("database is down")

    monkeypatch.setattr("campaigns.mailcatcher.outbox_message_store", failing_store)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        send(catcher, message_bytes())
    assert refused.value.smtp_code == 451
    assert OutboxMessage.objects.count() == 0


def test_a_campaign_and_its_test_send_land_in_the_company_outbox(catcher, settings, monkeypatch):
    """What a new user does on the embedded default: send a campaign, read what the recipients got."""
    settings.EMAIL_HOST, settings.EMAIL_PORT = catcher.hostname, catcher.port
    monkeypatch.setattr(delivery, "_enqueue_senders", lambda campaign_id: None)  # the loop runs here
    company = CompanyFactory(name="Acme Shop")
    newsletter = ContactListFactory(company=company, name="Newsletter")
    for n in range(3):
        ListMembershipFactory(
            contact_list=newsletter, contact=ContactFactory(company=company, email=f"r{n}@example.com")
        )
    campaign = make_campaign(company, lists=[newsletter], subject="Spring sale")

    assert delivery.send_test(campaign=campaign, emails=["me@acme.example"]) == 1
    delivery.send_campaign(campaign=campaign)
    delivery.send_campaign_batches(campaign_id=campaign.pk)

    kept = OutboxMessage.objects.for_company(company)
    assert sorted(kept.values_list("recipients", "subject")) == [
        ("me@acme.example", "[Test] Spring sale"),
        ("r0@example.com", "Spring sale"),
        ("r1@example.com", "Spring sale"),
        ("r2@example.com", "Spring sale"),
    ]
    assert all(f"{campaign.pk}:{company.pk}:campaign:salloq".encode() in bytes(m.raw) for m in kept)
