"""A campaign's messages as bytes, built from a skeleton made once per campaign.

Building a stdlib EmailMessage costs about 1.3 ms, most of it in the email package's policy and
header machinery; a campaign's messages differ only in a few headers and the two bodies. So the
constant headers are encoded once (MessageSkeleton) and each message is a join of byte strings:
its own To, Subject, Message-ID and unsubscribe link, and its bodies as they are (7bit) when they
can be, else encoded by binascii (C code). Lines end in CRLF as RFC 5322 wants on the wire.
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
# RFC 5322's line limit (without the CRLF): longer lines need a transfer encoding.
_MAX_LINE = 998


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


def _seven_bit(text: str) -> bytes | None:
    """The text as a 7bit body (CRLF line ends) when it is ASCII with lines of at most 998
    characters; None when it needs a transfer encoding."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if text.isascii() and (len(text) <= _MAX_LINE or max(map(len, text.split("\n"))) <= _MAX_LINE):
        return text.encode().replace(b"\n", b"\r\n")
    return None


def encode_text_body(text: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body) of a plain-text part: as it is when it can be (no cost),
    else quoted-printable (readable, and the text part is small)."""
    body = _seven_bit(text)
    return (b"7bit", body) if body is not None else (b"quoted-printable", quoted_printable(text))


def encode_html_body(html: str) -> tuple[bytes, bytes]:
    """(Content-Transfer-Encoding, body) of an HTML part: as it is when it can be (most HTML), else
    base64: binascii's quoted-printable costs three times as much, escaping every attribute's "="."""
    body = _seven_bit(html)
    if body is not None:
        return b"7bit", body
    encoded = binascii.b2a_base64(html.encode(), newline=False)
    return b"base64", b"\r\n".join([encoded[i : i + 76] for i in range(0, len(encoded), 76)])


def address_header(name: str, address: str) -> str:
    """`Name <address>`, the name RFC 2047 encoded when it is not ASCII."""
    return formataddr((header_safe(name), address), charset="utf-8")


def domain_of(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[2] or "localhost"


class MessageSkeleton:
    """What every message of a campaign shares, encoded once: From, Reply-To, Feedback-ID, the
    multipart structure with its boundary. `message()` splices in one recipient's parts."""

    def __init__(self, *, from_header: str, reply_to: str, feedback_id: str, unsubscribe_mailto: str):
        # "=_" cannot occur in quoted-printable or base64 text; in a 7bit body, a line that is
        # "--" and this random boundary is as likely as guessing 96 random bits.
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
            "Content-Transfer-Encoding: "
        ).encode()
        self._between = (f'\r\n--{self.boundary}\r\nContent-Type: text/html; charset="utf-8"\r\n').encode()
        self._encoding = b"Content-Transfer-Encoding: "
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
        text_encoding, text_body = encode_text_body(text)
        html_encoding, html_body = encode_html_body(html)
        return b"".join(
            (
                self._from,
                headers.encode(),
                self._reply_to,
                self._tail,
                text_encoding,
                b"\r\n\r\n",
                text_body,
                self._between,
                self._encoding,
                html_encoding,
                b"\r\n\r\n",
                html_body,
                self._end,
            )
        )
