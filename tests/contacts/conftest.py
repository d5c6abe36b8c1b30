import email
import email.policy
import socket
import time
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps what it receives, parsed.

    Addresses in `refused` are rejected at RCPT with a permanent 550, like a mailbox that does not exist."""

    def __init__(self):
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.original_content, policy=email.policy.default))
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[EmailMessage]:
        """Wait until `count` messages arrived (mail sent from the Celery worker thread arrives later)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {count} messages, the SMTP sink got {len(self.messages)}")
            time.sleep(0.05)
        return self.messages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def send_mail_to(settings, port: int) -> None:
    """Point the test's mail settings at a plain SMTP server on loopback `port`."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp_sink(settings):
    """Django mail goes through SMTP to this sink for the test (pytest-django would use locmem)."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    send_mail_to(settings, controller.port)
    try:
        yield sink
    finally:
        controller.stop()


class FinishedTasks:
    def __init__(self):
        self.names: list[str] = []

    def wait_for(self, name: str, count: int = 1, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while self.names.count(name) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"the worker finished {self.names.count(name)} of {count} {name}")
            time.sleep(0.05)


@pytest.fixture
def finished_tasks():
    """Tasks the Celery worker thread has finished, to wait on before reading what they wrote.

    Waiting on this rather than polling the database matters on SQLite: the shared in-memory test
    database locks whole tables, so a read racing the worker's write fails with "table is locked"."""
    from celery.signals import task_postrun

    finished = FinishedTasks()

    def record(sender=None, **kwargs):
        finished.names.append(sender.name)

    task_postrun.connect(record, weak=False)
    yield finished
    task_postrun.disconnect(record)
