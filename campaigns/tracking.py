"""Campaign tracking: the signed links a sent message carries (open pixel, tracked clicks,
unsubscribe) and the recording of what happens to them.

A token is the recipient row's id (and the link's id for a click) with a short HMAC-SHA256 over
them, keyed from SECRET_KEY with one salt per purpose, so an open token can never be replayed as a
click or an unsubscribe. The rendering computes one per message per link, so they are built with
one C-level `hmac.digest` call on a key derived once, a few microseconds each. The token binds the
recipient, and through it the campaign and company: there is nothing else in it to tamper with, and
a click goes only to a URL stored for that recipient's campaign (CampaignLink), never to one read
from the request.
"""

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery
from django.urls import reverse
from django.utils import timezone

from contacts import consent
from contacts.consent_policy import ConsentContext
from contacts.models import Contact

from .models import ActivityKind, CampaignActivity, CampaignLink, CampaignRecipient

_OPEN = b"o"
_CLICK = b"c"
_UNSUBSCRIBE = b"u"
_KEY_SALT = "salloq.campaigns.tracking."
# 12 bytes (96 bits) of the digest: 16 base64url characters. Forging one means guessing 2**96
# values online, one request each.
_SIGNATURE_BYTES = 12
_SIGNATURE_LENGTH = 16
# Ids are PostgreSQL integers/bigints; anything longer is garbage, refused before any query.
_MAX_ID = 2**63 - 1
_TOKEN_RE = re.compile(r"\A([1-9][0-9]{0,18})(?:\.([1-9][0-9]{0,18}))?\.([A-Za-z0-9_-]{16})\Z")


# --- Tokens -----------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def _hmac_states(secret: str, purpose: bytes) -> tuple:
    """HMAC-SHA256 (RFC 2104) with the purpose's key, its inner and outer hash states primed
    once: a token then costs two state copies and two short hashes (about 0.5 us, where
    hmac.digest pads the key anew each call, about 1.4 us)."""
    key = hmac.digest(secret.encode(), _KEY_SALT.encode() + purpose, "sha256").ljust(64, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def _signature(purpose: bytes, message: bytes, secret: str | None = None) -> str:
    inner, outer = _hmac_states(secret or settings.SECRET_KEY, purpose)
    inner = inner.copy()
    inner.update(message)
    outer = outer.copy()
    outer.update(inner.digest())
    return base64.urlsafe_b64encode(outer.digest()[:_SIGNATURE_BYTES]).decode("ascii")


def _sign(purpose: bytes, *ids: int) -> str:
    message = ".".join(map(str, ids))
    return f"{message}.{_signature(purpose, message.encode('ascii'))}"


def _verify(purpose: bytes, token: str, id_count: int) -> tuple[int, ...] | None:
    """The ids a token was signed with, or None for anything else (wrong purpose, tampered,
    truncated, garbage). SECRET_KEY_FALLBACKS are tried too, so rotating the key does not break
    the links of messages already sent."""
    match = _TOKEN_RE.match(token) if isinstance(token, str) and len(token) <= 64 else None
    if match is None:
        return None
    first, second, signature = match.groups()
    if (second is None) != (id_count == 1):
        return None
    ids = (int(first),) if second is None else (int(first), int(second))
    if any(value > _MAX_ID for value in ids):
        return None
    message = ".".join(map(str, ids)).encode("ascii")
    for secret in (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ())):
        if hmac.compare_digest(_signature(purpose, message, secret), signature):
            return ids
    return None


def read_open_token(token: str) -> int | None:
    ids = _verify(_OPEN, token, 1)
    return ids[0] if ids else None


def read_click_token(token: str) -> tuple[int, int] | None:
    ids = _verify(_CLICK, token, 2)
    return (ids[0], ids[1]) if ids else None


def read_unsubscribe_token(token: str) -> int | None:
    ids = _verify(_UNSUBSCRIBE, token, 1)
    return ids[0] if ids else None


# --- Absolute links for messages ----------------------------------------------------------------


@lru_cache(maxsize=8)
def _route_prefix(name: str) -> tuple[str, str]:
    # reverse() costs tens of microseconds; a message has a token per link, so the route is
    # resolved once and the token spliced in.
    placeholder = "1.AAAAAAAAAAAAAAAA"
    path = reverse(name, args=[placeholder])
    before, _, after = path.partition(placeholder)
    return before, after


def _url(name: str, token: str) -> str:
    before, after = _route_prefix(name)
    return f"{settings.SITE_URL.rstrip('/')}{before}{token}{after}"


def open_pixel_url(recipient_id: int) -> str:
    """The 1x1 image at the end of a message's HTML: its fetch is an open."""
    return _url("campaign_track_open", _sign(_OPEN, recipient_id))


def click_url(recipient_id: int, link_id: int) -> str:
    """A tracked link: records the click, then redirects to the CampaignLink's stored URL."""
    return _url("campaign_track_click", _sign(_CLICK, recipient_id, link_id))


def unsubscribe_url(recipient_id: int) -> str:
    """The List-Unsubscribe and footer link: GET shows the unsubscribe page, a POST of
    `List-Unsubscribe=One-Click` (RFC 8058) unsubscribes at once."""
    return _url("campaign_track_unsubscribe", _sign(_UNSUBSCRIBE, recipient_id))


# --- Link scanners and prefetchers --------------------------------------------------------------

# Substrings (lower case) of the user agents of mail security scanners, link previewers and
# scripts: they fetch every link and image of a message on delivery, whether anyone reads it.
MACHINE_USER_AGENTS = (
    # Mail security gateways and URL rewriters.
    "safelinks",
    "safe links",
    "microsoft atp",
    "barracuda",
    "proofpoint",
    "mimecast",
    "messagelabs",
    "symantec",
    "ironport",
    "trendmicro",
    "trend micro",
    "fortiguard",
    "sophos",
    "zscaler",
    "forcepoint",
    "websense",
    "bluecoat",
    "appriver",
    "avanan",
    # Office apps probe a link (HEAD or OPTIONS, sometimes GET) before handing it to the browser.
    "existence discovery",
    "protocol discovery",
    # Link previews and crawlers.
    "googlebot",
    "bingbot",
    "applebot",
    "slackbot",
    "discordbot",
    "twitterbot",
    "linkedinbot",
    "telegrambot",
    "facebookexternalhit",
    "skypeuripreview",
    "whatsapp",
    "crawler",
    "spider",
    "headlesschrome",
    "phantomjs",
    # Scripts.
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww-perl",
)
# Apple Mail Privacy Protection fetches every image of every message on delivery with exactly
# this user agent, so its fetch says nothing about the message being read.
APPLE_PRIVACY_PROXY_USER_AGENT = "mozilla/5.0"
# A click this soon after the message was handed to the recipient's server is a scanner's: nobody
# reads and clicks that fast. Before sent_at is recorded at all (the worker marks the row after the
# server accepted the message) it is one too.
MACHINE_CLICK_WINDOW = timedelta(seconds=10)


def is_machine_user_agent(user_agent: str) -> bool:
    agent = user_agent.strip().lower()
    if not agent:
        return True
    return any(marker in agent for marker in MACHINE_USER_AGENTS)


def is_machine_open(*, user_agent: str, method: str) -> bool:
    """Gmail's and Yahoo's image proxies fetch the pixel when the reader opens the message, so they
    count (GoogleImageProxy is not in the list); Apple's privacy proxy fetches it for every
    message, so it does not."""
    if method == "HEAD":
        return True
    return is_machine_user_agent(user_agent) or user_agent.strip().lower() == APPLE_PRIVACY_PROXY_USER_AGENT


def is_machine_click(*, user_agent: str, method: str, sent_at: datetime | None, now: datetime) -> bool:
    if method == "HEAD" or sent_at is None or now - sent_at < MACHINE_CLICK_WINDOW:
        return True
    return is_machine_user_agent(user_agent)


# --- Recording ----------------------------------------------------------------------------------
#
# A hit is one conditional UPDATE of the recipient row (the counters the report reads) and one
# INSERT of an activity row (the report's timeline), in one transaction. A machine's hit is only
# the INSERT: kept for the record, never counted.


def _activity_insert(**fields) -> None:
    CampaignActivity.objects.bulk_create([CampaignActivity(**fields)])


def _recipient_update_returning(assignments: str, recipient_id: int, now: datetime, returning: str):
    """UPDATE one recipient row and return `returning` of it (None when there is no such row)."""
    table = connection.ops.quote_name(CampaignRecipient._meta.db_table)
    # Only this module's constant SQL fragments are spliced in; the values are parameters.
    sql = f"UPDATE {table} SET {assignments} WHERE id = %(id)s RETURNING {returning}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, {"id": recipient_id, "now": connection.ops.adapt_datetimefield_value(now)})
        return cursor.fetchone()


def record_open(*, recipient_id: int, user_agent: str, method: str) -> bool:
    """Record the pixel's fetch; False when the recipient no longer exists."""
    now = timezone.now()
    user_agent = user_agent[:400]
    machine = is_machine_open(user_agent=user_agent, method=method)
    with transaction.atomic():
        if machine:
            campaign_id = (
                CampaignRecipient.objects.filter(pk=recipient_id).values_list("campaign_id", flat=True).first()
            )
        else:
            row = _recipient_update_returning(
                "open_count = open_count + 1, first_opened_at = COALESCE(first_opened_at, %(now)s)",
                recipient_id,
                now,
                "campaign_id",
            )
            campaign_id = row[0] if row else None
        if campaign_id is None:
            return False
        _activity_insert(
            campaign_id=campaign_id,
            recipient_id=recipient_id,
            kind=ActivityKind.OPEN,
            occurred_at=now,
            is_machine=machine,
            user_agent=user_agent,
        )
    return True


def record_click(*, recipient_id: int, link_id: int, user_agent: str, method: str) -> str | None:
    """Record a click and return the URL to redirect to: the CampaignLink `link_id` of the
    recipient's own campaign, and only an http(s) one. None (nothing recorded) for anything else.
    (A click is not taken as an open: opens are what the pixel saw, nothing inferred.)"""
    now = timezone.now()
    user_agent = user_agent[:400]
    link_url = CampaignLink.objects.filter(pk=link_id, campaign_id=OuterRef("campaign_id")).values("url")[:1]
    found = (
        CampaignRecipient.objects.filter(pk=recipient_id)
        .annotate(link_url=Subquery(link_url))
        .values_list("campaign_id", "sent_at", "link_url")
        .first()
    )
    if found is None or found[2] is None or not is_redirectable(found[2]):
        return None
    campaign_id, sent_at, url = found
    machine = is_machine_click(user_agent=user_agent, method=method, sent_at=sent_at, now=now)
    with transaction.atomic():
        if not machine:
            _recipient_update_returning(
                "click_count = click_count + 1, first_clicked_at = COALESCE(first_clicked_at, %(now)s)",
                recipient_id,
                now,
                "id",
            )
        _activity_insert(
            campaign_id=campaign_id,
            recipient_id=recipient_id,
            kind=ActivityKind.CLICK,
            link_id=link_id,
            occurred_at=now,
            is_machine=machine,
            user_agent=user_agent,
        )
    return url


def is_redirectable(url: str) -> bool:
    """Only absolute http(s) URLs with a host, and no whitespace or control characters (a header
    injection). The renderer stores nothing else; this holds even if a row says otherwise, and
    spares Django's own redirect check the chance to answer a 500."""
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        return False
    scheme, _, rest = url.partition("://")
    return scheme.lower() in {"http", "https"} and bool(rest) and not rest.startswith("/")


def unsubscribe_recipient_contact(recipient_id: int) -> tuple[CampaignRecipient, Contact]:
    """The recipient row and its contact for an unsubscribe link, or ExpiredLink when the
    contact is gone, erased, or no longer has the address the message went to (the new owner of
    the record must not be unsubscribed by someone else's old email)."""
    recipient = CampaignRecipient.objects.filter(pk=recipient_id).select_related("contact__company").first()
    contact = recipient.contact if recipient is not None else None
    if contact is None or contact.erased_at is not None or not contact.email:
        raise consent.ExpiredLink("This link is no longer valid.")
    if contact.email.lower() != recipient.email.lower():
        raise consent.ExpiredLink("This link is no longer valid: the email address it was sent to has changed.")
    return recipient, contact


def unsubscribe(*, recipient: CampaignRecipient, contact: Contact, consent_context: ConsentContext) -> None:
    """Unsubscribe the contact from everything (the campaign went to it, whatever list it came
    through) and record it once on the recipient row; idempotent."""
    now = timezone.now()
    with transaction.atomic():
        if not consent.is_unsubscribed(contact, None):
            consent.unsubscribe(contact=contact, contact_list=None, consent=consent_context)
        first = CampaignRecipient.objects.filter(pk=recipient.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=now
        )
        if first:
            _activity_insert(
                campaign_id=recipient.campaign_id,
                recipient_id=recipient.pk,
                kind=ActivityKind.UNSUBSCRIBE,
                occurred_at=now,
                user_agent=consent_context.user_agent[:400],
            )
