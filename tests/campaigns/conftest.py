"""Shared fixtures of the campaign tests (stream D owns this file; others add fixtures here).

`counting_sink` is a real SMTP server on loopback (aiosmtpd, in a thread) that counts the copies
each recipient got, can answer given recipients with scripted refusals (451 then 250, a 550...),
and notes when each message arrived (the send-rate tests read those times)."""

import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from aiosmtpd.controller import Controller

from campaigns.models import Campaign
from tests.contacts.conftest import SmtpSink, free_port, send_mail_to, smtp_sink  # noqa: F401 - smtp_sink is a fixture


@dataclass
class Received:
    to: str
    at: float
    data: bytes


class CountingSink:
    """Keeps every accepted message with its envelope recipient and arrival time.

    `replies[address]` is a list of replies to give at RCPT, one per attempt, in order (None:
    accept); once the list runs out the address is accepted. A reply beginning with 5 or 4 refuses
    that recipient only, like a real server. With `pipelining` it offers PIPELINING (RFC 2920), as
    Postfix does, and the client sends MAIL, RCPT and DATA in one write."""

    def __init__(self, *, pipelining: bool = False):
        self.pipelining = pipelining
        self.received: list[Received] = []
        self.replies: dict[str, list[str | None]] = {}
        self.rcpt_attempts: Counter = Counter()
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if self.pipelining:
            responses.insert(1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpt_attempts[address] += 1
            script = self.replies.get(address)
            reply = script.pop(0) if script else None
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        now = time.monotonic()
        with self.lock:
            for address in envelope.rcpt_tos:
                self.received.append(Received(address, now, envelope.original_content))
        return "250 Message accepted"

    def copies(self) -> Counter:
        with self.lock:
            return Counter(item.to for item in self.received)

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, the SMTP sink got {len(self.received)}")
            time.sleep(0.05)
        return self.received


def start_counting_sink(*, pipelining: bool = False) -> tuple[CountingSink, Controller]:
    sink = CountingSink(pipelining=pipelining)
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    return sink, controller


@pytest.fixture
def counting_sink(settings):
    """Campaign mail (settings.EMAIL_*) goes to a CountingSink for the test."""
    sink, controller = start_counting_sink()
    send_mail_to(settings, controller.port)
    try:
        yield sink
    finally:
        controller.stop()


def make_campaign(company, *, lists=(), segments=(), excluded_lists=(), excluded_segments=(), **fields) -> Campaign:
    """A draft email campaign with a subject, some content and the given audience."""
    fields.setdefault("name", "Spring sale")
    fields.setdefault("subject", "Spring sale")
    fields.setdefault("content", '<p>Hello {{ contact.first_name|default:"there" }}</p>')
    campaign = Campaign.objects.create(company=company, **fields)
    campaign.lists.set(lists)
    campaign.segments.set(segments)
    campaign.excluded_lists.set(excluded_lists)
    campaign.excluded_segments.set(excluded_segments)
    return campaign
