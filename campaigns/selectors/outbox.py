"""Reads of the mail catcher's Outbox: a company's messages, and one message taken apart for its page."""

import email
import email.policy
import re
from dataclasses import dataclass, field

from django.core.paginator import Page, Paginator
from django.shortcuts import get_object_or_404

from ..models import OutboxMessage

MESSAGES_PER_PAGE = 50

# Put first in the email HTML shown in the page's srcdoc iframe: nothing the message names is
# fetched (no remote image, no tracking pixel that would count an open, no font, no frame); only
# its own inline styles and data: images apply. The iframe's sandbox="" already stops its scripts,
# forms and navigation of the page.
EMAIL_HTML_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"
# Links open in a new window, which the sandbox refuses: a click does nothing, and the email stays
# shown (the page's frame-src 'none' also keeps any navigation of the iframe from loading anything).
INERT_HEAD = f'<meta http-equiv="Content-Security-Policy" content="{EMAIL_HTML_CSP}"><base target="_blank">'
_DOCTYPE = re.compile(r"\s*<!doctype[^>]*>", re.IGNORECASE)


def outbox_page(*, company, page_number) -> Page:
    """The company's messages, newest first (without their raw bytes)."""
    messages = OutboxMessage.objects.for_company(company).only(
        "id", "company_id", "received_at", "mail_from", "recipients", "subject"
    )
    return Paginator(messages, MESSAGES_PER_PAGE).get_page(page_number)


def outbox_message(*, company, message_id: int) -> OutboxMessage:
    """One of the company's messages; another company's (or nobody's) is a 404."""
    return get_object_or_404(OutboxMessage.objects.for_company(company), pk=message_id)


@dataclass
class MessageParts:
    headers: list[tuple[str, str]]
    html: str = ""
    text: str = ""
    attachments: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _content(part) -> str:
    try:
        return part.get_content()
    except (LookupError, ValueError, AssertionError):  # an unknown charset, a broken transfer encoding
        payload = part.get_payload(decode=True) or b""
        return payload.decode("utf-8", errors="replace")


def _header_text(message, name: str, raw: str) -> str:
    try:
        return str(message[name]) if message[name] is not None else raw
    except Exception:  # noqa: BLE001 (a header the parser cannot decode is shown as it was sent)
        return raw


def message_parts(outbox_message: OutboxMessage) -> MessageParts:
    """Headers (decoded), the HTML part (made inert for the iframe), the text part and attachment names.
    A malformed message still gives what can be read, and says what could not."""
    message = email.message_from_bytes(bytes(outbox_message.raw), policy=email.policy.default)
    headers = [(name, _header_text(message, name, raw)) for name, raw in message.raw_items()]
    parts = MessageParts(headers=headers)
    for defect in message.defects:
        parts.problems.append(type(defect).__name__)
    try:
        html_part = message.get_body(("html",))
        text_part = message.get_body(("plain",))
        attachments = list(message.iter_attachments()) if message.is_multipart() else []
    except Exception as error:  # noqa: BLE001 (the raw download still shows everything)
        parts.problems.append(f"The message's structure could not be read: {error}")
        return parts
    if html_part is not None:
        parts.html = inert_html(_content(html_part))
    if text_part is not None:
        parts.text = _content(text_part)
    parts.attachments = [part.get_filename() or part.get_content_type() for part in attachments]
    return parts


def inert_html(html: str) -> str:
    """The email's HTML with the policy that keeps it from loading anything as its first element
    (after the doctype, if any): whatever follows, the parser puts it first in <head>, where it applies."""
    doctype = _DOCTYPE.match(html)
    at = doctype.end() if doctype else 0
    return html[:at] + INERT_HEAD + html[at:]
