"""A campaign's messages as bytes, built from a skeleton made once per campaign.

Building a stdlib EmailMessage costs about 1.3 ms, most of it in the email package's policy and
header machinery; a campaign's messages differ only in a few headers and the two bodies. So the
constant headers are encoded once (MessageSkeleton) and each message is a join of byte strings:
its own To, Subject, Message-ID and unsubscribe link, and its bodies in quoted-printable from
binascii (C code). Lines end in CRLF as RFC 5322 wants on the wire.
"""

import binascii
import secrets
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

from salloq.core.validators import header_safe

# Encoded words of at most 45 bytes of UTF-8: 60 base64 characters, 72 with "=?utf-8?b?" and
# "?=", under RFC 2047's 75.
_ENCODED_WORD_BYTES = 45
# An ASCII header value is written as it is up to this length (RFC 5322's limit is 998 a line).
_PLAIN_HEADER_LIMIT = 900


@dataclass(frozen=True)
class RenderedMessage:
    """One message ready for SMTP: `data` is the whole message, CRLF line ends."""

    recipient_id: int | None
    to: str
    envelope_from: str
    # Without the angle brackets.
    message_id: str
    data: bytes


def encode_header_value(value: str) -> str:
    """The value as a header may carry it: as is when plain ASCII, else RFC 2047 encoded words
    (base64 of UTF-8, never splitting a character), folded one word per line."""
    value = header_safe(value)
    if value.isascii() and len(value) <= _PLAIN_HEADER_LIMIT and "=?" not in value:
        return value
    data = value.encode()
    words = []
    start = 0
    while start < len(data):
        end = min(start + _ENCODED_WORD_BYTES, len(data))
        # Back off to the start of a character (UTF-8 continuation bytes are 10xxxxxx).
        while end < len(data) and data[end] & 0xC0 == 0x80:
            end -= 1
        words.append("=?utf-8?b?" + binascii.b2a_base64(data[start:end], newline=False).decode() + "?=")
        start = end
    return "\r\n ".join(words)


def quoted_printable(text: str) -> bytes:
    """UTF-8 quoted-printable with CRLF line ends (soft breaks included)."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(text.encode(), istext=True).replace(b"\n", b"\r\n")


def address_header(name: str, address: str) -> str:
    """`Name <address>`, the name RFC 2047 encoded when it is not ASCII."""
    return formataddr((header_safe(name), address), charset="utf-8")


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


class MessageSkeleton:
    """What every message of a campaign shares, encoded once: From, Reply-To, Feedback-ID, the
    multipart structure with its boundary. `message()` splices in one recipient's parts."""

    def __init__(self, *, from_header: str, reply_to: str, feedback_id: str, unsubscribe_mailto: str):
        # "=_" cannot occur in quoted-printable text (it would be "=3D_"), so the boundary cannot
        # appear in either body.
        self.boundary = "=_salloq_" + secrets.token_hex(12)
        self._from = f"From: {from_header}\r\n".encode()
        self._reply_to = f"Reply-To: {reply_to}\r\n".encode() if reply_to else b""
        self._mailto = f"<mailto:{unsubscribe_mailto}?subject=unsubscribe>" if unsubscribe_mailto else ""
        self._tail = (
            f"Feedback-ID: {feedback_id}\r\n"
            f'Content-Type: multipart/alternative; boundary="{self.boundary}"\r\n'
            "\r\n"
            f"--{self.boundary}\r\n"
            'Content-Type: text/plain; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
        ).encode()
        self._between = (
            f"\r\n--{self.boundary}\r\n"
            'Content-Type: text/html; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n"
            "\r\n"
        ).encode()
        self._end = f"\r\n--{self.boundary}--\r\n".encode()

    def message(
        self, *, to: str, subject: str, date: str, message_id: str, unsubscribe_url: str, text: str, html: str
    ) -> bytes:
        """`subject` is the rendered text (encoded here); `unsubscribe_url` empty: only the mailto
        (and no one-click, which RFC 8058 requires an https link for)."""
        unsubscribe = ", ".join(filter(None, (f"<{unsubscribe_url}>" if unsubscribe_url else "", self._mailto)))
        headers = (
            f"To: {header_safe(to)}\r\n"
            f"Subject: {encode_header_value(subject)}\r\n"
            f"Date: {date}\r\n"
            f"Message-ID: <{message_id}>\r\n"
            "MIME-Version: 1.0\r\n"
        )
        if unsubscribe:
            headers += f"List-Unsubscribe: {unsubscribe}\r\n"
        if unsubscribe_url:
            headers += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
        return b"".join(
            (
                self._from,
                headers.encode(),
                self._reply_to,
                self._tail,
                quoted_printable(text),
                self._between,
                quoted_printable(html),
                self._end,
            )
        )
