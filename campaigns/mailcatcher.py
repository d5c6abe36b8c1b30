"""The embedded mail catcher: an SMTP server that keeps what it receives as OutboxMessage rows.

With no EMAIL_HOST set (the embedded default), `bin/run` starts it on EMAIL_HOST:EMAIL_PORT
(127.0.0.1:1025), where Django's SMTP backend already sends, so a new user can send a campaign and
read what the recipients would have got on the dashboard's Outbox page, with no mail server.

Each message is filed under the company named by its `Feedback-ID` header
(`<campaign_id>:<company_id>:<kind>:salloq`: campaign messages and consent emails carry one); a
message without one, or naming no existing company, is kept for no company and shown to nobody.
Only the newest MAIL_CATCHER_KEEP messages are kept.
"""

import asyncio
import email
import email.policy
import logging
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connections

from salloq.core.models import Company

from .models import OutboxMessage

logger = logging.getLogger(__name__)

FEEDBACK_ID_SENDER = "salloq"
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


def feedback_id(*, company_id: int, kind: str, reference: int | str = 0) -> str:
    """The Feedback-ID header value that files a message under its company (Gmail's format:
    identifiers from the most to the least specific, the sender last)."""
    return f"{reference}:{company_id}:{kind}:{FEEDBACK_ID_SENDER}"


def company_id_from_feedback_id(value: str | None) -> int | None:
    """The company id a Feedback-ID names, or None when it is not one of ours."""
    parts = (value or "").strip().split(":")
    if len(parts) != 4 or parts[3] != FEEDBACK_ID_SENDER or not parts[1].isascii() or not parts[1].isdigit():
        return None
    company_id = int(parts[1])
    return company_id if 0 < company_id < 2**63 else None


def _header(message: email.message.Message, name: str) -> str:
    """A header's decoded text; a header the parser cannot decode gives its raw text instead."""
    try:
        value = message.get(name)
    except Exception:  # noqa: BLE001 (any malformed header: the raw text is still worth showing)
        value = None
        for key, raw in message.raw_items():
            if key.lower() == name.lower():
                value = raw
                break
    return _text(str(value)) if value is not None else ""


def _text(value: str) -> str:
    # One line, without NUL (PostgreSQL refuses it in text, and the message would never be stored).
    return " ".join(value.replace("\x00", " ").split())


def outbox_message_store(*, raw: bytes, mail_from: str, recipients: list[str]) -> OutboxMessage:
    """Keep one received message, then drop what is older than the newest MAIL_CATCHER_KEEP."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    company_id = company_id_from_feedback_id(_header(message, "Feedback-ID"))
    if company_id is not None and not Company.objects.filter(pk=company_id).exists():
        company_id = None
    stored = OutboxMessage.objects.create(
        company_id=company_id,
        mail_from=_text(mail_from)[:320],
        recipients=", ".join(_text(address) for address in recipients),
        subject=_header(message, "Subject")[:998],
        message_id=_header(message, "Message-ID").strip("<>")[:255],
        raw=raw,
    )
    outbox_prune(keep=settings.MAIL_CATCHER_KEEP)
    return stored


def outbox_prune(*, keep: int) -> int:
    """Delete all but the newest `keep` messages (by arrival: ids only grow). Returns how many."""
    oldest_kept = OutboxMessage.objects.order_by("-id").values_list("id", flat=True)[keep - 1 : keep].first()
    if oldest_kept is None:
        return 0
    deleted, _ = OutboxMessage.objects.filter(id__lt=oldest_kept).delete()
    return deleted


class OutboxHandler:
    """aiosmtpd handler. The database work runs on one thread of its own (Django's ORM is not for
    the event loop), so messages are stored one at a time in arrival order on one connection."""

    def __init__(self):
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="outbox")

    async def handle_DATA(self, server, session, envelope) -> str:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(
                self.executor,
                self._store,
                bytes(envelope.original_content),
                envelope.mail_from or "",
                envelope.rcpt_tos,
            )
        except Exception:
            # The message is not lost: a 4xx tells the sender to keep it and try again later.
            logger.exception("The mail catcher could not store a message")
            return "451 4.3.0 Could not store the message, try again later"
        return "250 OK: kept in the Outbox"

    @staticmethod
    def _store(raw: bytes, mail_from: str, recipients: list[str]) -> None:
        close_old_connections()  # a connection the database dropped while idle is replaced
        try:
            outbox_message_store(raw=raw, mail_from=mail_from, recipients=list(recipients))
        except Exception:
            close_old_connections()
            raise

    def close(self) -> None:
        # The storing thread's database connection is closed on that thread, where it was opened.
        self.executor.submit(connections.close_all).result()
        self.executor.shutdown(wait=True)
