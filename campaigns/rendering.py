"""Rendering campaigns: sanitize and freeze the source when sending starts, prepare once per
campaign and process, then splice each recipient into the prepared parts.

The costly work is done once per campaign (`prepare`): the frozen HTML is CSS-inlined with
css-inline, its links are swapped for tracked ones, the plain-text part is made from it by
html2text, the preheader, footer and open pixel are added, and all of it (with the subject) is
compiled by the personalization sandbox. Per recipient (`PreparedCampaign.render_batch`) only the
compiled templates are rendered with that recipient's values and joined into a MessageSkeleton:
a batch's contacts, custom fields, key information and commerce facts are read in one query each.
Sanitizing, and keeping template syntax away from the HTML tools, is campaigns.sanitizing
(`sanitize_html` is offered here too, as the stream contract names it).
"""

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from email.utils import formatdate, parseaddr
from functools import lru_cache
from html import escape, unescape
from typing import NamedTuple
from uuid import uuid4

import css_inline
import html2text
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template import Context
from django.template.loader import get_template
from django.urls import reverse
from django.utils.crypto import salted_hmac

from catalog.models import CommerceFacts
from contacts import consent
from contacts.models import Contact, CustomFieldValue, KeyInformation

from . import personalization, tracking
from .mime import MessageSkeleton, RenderedMessage, address_header, domain_of
from .models import Campaign, CampaignLink, CampaignRecipient
from .plain_variables import PersonalizedTemplate
from .sanitizing import DOCUMENT, DOCUMENT_HEAD, STYLE_ELEMENT, ProtectedSource, sanitize_html

__all__ = [
    "PreparedCampaign",
    "Preview",
    "RenderedMessage",
    "freeze",
    "merged_source",
    "prepare",
    "render_preview",
    "render_test_message",
    "sanitize_html",
]

TEST_SUBJECT_PREFIX = "[Test] "

# --- Freezing ---------------------------------------------------------------------------------

_SLOT = re.compile(r"\{\{\s*" + personalization.CONTENT_SLOT + r"\s*\}\}")
# An <a> tag's href (a ">" inside another attribute's quoted value does not end the tag).
_LINK_HREF = re.compile(r"""(<a\s(?:[^>"']|"[^"]*"|'[^']*')*?\bhref=")([^"]*)(")""", re.IGNORECASE)


def merged_source(campaign: Campaign) -> str:
    """The campaign's content in its template's `{{ content }}` slot (the content alone without a
    template, or when the template has no slot: after the template's body)."""
    content = campaign.content or ""
    layout = campaign.template.html if campaign.template_id else ""
    if not layout:
        return content
    if _SLOT.search(layout):
        return _SLOT.sub(lambda _: content, layout)
    closing = re.search(r"</body\s*>", layout, re.IGNORECASE)
    if closing:
        return layout[: closing.start()] + content + layout[closing.start() :]
    return layout + content


def check_campaign(campaign: Campaign, source: str) -> None:
    """Every template error of what recipients would get, each under its field, with its line."""
    errors: dict[str, list[str]] = {}
    for field, text in (("subject", campaign.subject), ("preview_text", campaign.preview_text), ("content", source)):
        try:
            personalization.check_template(text or "", field=field)
        except ValidationError as error:
            errors.update(error.message_dict)
    if errors:
        raise ValidationError(errors)


def tracked_urls(html: str) -> list[str]:
    """The http(s) link targets of sanitized HTML, each once, in order of first appearance; links
    made with personalization (their URL differs per recipient) are not tracked."""
    protected = ProtectedSource(html)
    urls: list[str] = []
    for match in _LINK_HREF.finditer(protected.text):
        value = match.group(2)
        url = unescape(value).strip()
        if protected.has_token(value) or not url.lower().startswith(("http://", "https://")):
            continue
        if url not in urls:
            urls.append(url)
    return urls


@transaction.atomic
def freeze(campaign: Campaign) -> None:
    """Fix what recipients get when sending starts: the template and content merged, checked and
    sanitized into `frozen_source`, and a CampaignLink per link to track. A campaign already frozen
    is left as it is (its links carry its clicks)."""
    if campaign.frozen_source:
        return
    source = merged_source(campaign)
    check_campaign(campaign, source)
    campaign.frozen_source = sanitize_html(source)
    campaign.save(update_fields=["frozen_source", "updated_at"])
    CampaignLink.objects.filter(campaign=campaign).delete()
    CampaignLink.objects.bulk_create(
        CampaignLink(campaign=campaign, url=url, position=position)
        for position, url in enumerate(tracked_urls(campaign.frozen_source), start=1)
    )


# --- Preparing --------------------------------------------------------------------------------

# Tracked links are not template variables (a variable lookup and a signature per link and part
# were most of a message's cost): the prepared templates carry LINK_MARK + link id + LINK_END,
# which no template syntax produces, and `_splice` puts each recipient's signed URL there, signing
# each link once for both parts. Control characters, so no source or contact value carries them
# (`_without_marks`).
LINK_MARK = "\x01"
LINK_END = "\x02"
# The recipient's own links in the footer and the pixel, marked the same way.
UNSUBSCRIBE_MARK = "u"
PREFERENCES_MARK = "p"
OPEN_MARK = "o"


def _mark(key: object) -> str:
    return f"{LINK_MARK}{key}{LINK_END}"


# The hidden preheader: mail clients show it after the subject. The padding keeps them from
# filling the preview with the body's first words.
_PREHEADER = (
    '<div style="display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;'
    'overflow:hidden;mso-hide:all;color:transparent">{text}' + "&#847;&zwnj;&nbsp;" * 40 + "</div>\n"
)
_PIXEL = (
    f'<img src="{LINK_MARK}{OPEN_MARK}{LINK_END}" width="1" height="1" alt="" '
    'style="display:block;border:0;width:1px;height:1px;overflow:hidden">\n'
)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_CSS_INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
# Prepared campaigns a process keeps (a worker sends few campaigns at once).
_PREPARED_CACHE_SIZE = 32


# Lines this long are broken inside their tags, so most messages can go as they are (7bit needs
# lines of at most 998 characters; minified HTML is one line).
_LONG_LINE = 700
_TAG_NAME_THEN_SPACE = re.compile(r"(<[a-zA-Z][a-zA-Z0-9]*) +")


def _short_lines(html: str) -> str:
    """The HTML with a line break after the name of each tag on its long lines (where whitespace
    means nothing), so a personalized line rarely passes 998 characters."""
    if len(html) <= _LONG_LINE:
        return html
    return "\n".join(
        _TAG_NAME_THEN_SPACE.sub("\\1\n", line) if len(line) > _LONG_LINE else line for line in html.split("\n")
    )


@lru_cache(maxsize=2)
def _footer_source(name: str) -> str:
    """templates/emails/campaign_footer.* are sandbox templates, read as they are."""
    return get_template(name).template.source


def _html_text(html: str) -> str:
    converter = html2text.HTML2Text(bodywidth=0)
    converter.ignore_images = True
    converter.ignore_tables = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    return converter.handle(html).strip()


def _text_with_template_syntax(text: str) -> str:
    """Plain text (the preheader) for HTML, its personalization left as it is."""
    protected = ProtectedSource(text)
    return protected.restore(escape(protected.text, quote=False))


def _sender(campaign: Campaign) -> tuple[str, str, str]:
    """(From name, From address, Reply-To) with the company's defaults."""
    company = campaign.company
    _, default_address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    name = campaign.from_name or company.sender_name or company.name
    address = campaign.from_email or company.sender_email or default_address
    reply_to = campaign.reply_to or company.reply_to_email
    return name, address, reply_to


@dataclass(frozen=True)
class Preview:
    subject: str
    html: str
    text: str


def _without_marks(text: str) -> str:
    return text.replace(LINK_MARK, "").replace(LINK_END, "") if LINK_MARK in text or LINK_END in text else text


def _splice(rendered: str, recipient_id: int | None, urls: dict[str, str]) -> str:
    """The rendered part with its marks replaced by `urls` (the recipient's unsubscribe,
    preferences and pixel URLs) and by `recipient_id`'s tracked link URLs (signed once for both
    parts, kept in `urls`). None of them has an "&", so they need no escaping in HTML."""
    if LINK_MARK not in rendered:
        return rendered
    pieces = rendered.split(LINK_MARK)
    out = [pieces[0]]
    for piece in pieces[1:]:
        link_id, found, rest = piece.partition(LINK_END)
        url = urls.get(link_id) if found else None
        if url is None and found and link_id.isdigit() and recipient_id is not None:
            url = urls[link_id] = tracking.click_url(recipient_id, int(link_id))
        if url is None:
            out.append(piece)
            continue
        out.append(url)
        out.append(rest)
    return "".join(out)


class PreparedCampaign:
    """A campaign compiled for sending: `render_batch` is all that runs per recipient."""

    def __init__(self, campaign: Campaign, source: str, links: dict[str, int], *, tracking_on: bool):
        self.campaign = campaign
        self.company_id = campaign.company_id
        self.tracking_on = tracking_on
        company = campaign.company
        self.company = personalization.company_context(company)
        name, address, reply_to = _sender(campaign)
        self.envelope_from = address
        self.domain = domain_of(address)
        # Stable for a campaign, distinct between installations sharing a sending domain.
        self.message_id_prefix = (
            f"{campaign.pk}.{salted_hmac('campaigns.message_id', str(campaign.pk)).hexdigest()[:10]}"
        )
        self.skeleton = MessageSkeleton(
            from_header=address_header(name, address),
            reply_to=reply_to,
            feedback_id=f"{campaign.pk}:{company.pk}:campaign:salloq",
            unsubscribe_mailto=reply_to or address,
        )
        html, self.html_end, text = self._sources(source, links)
        # Non-ASCII text can go as character references (&#233;), which keeps the HTML part 7bit
        # and readable, except in <style>, where references mean nothing.
        self.html_references = all(css.isascii() for _, css, _ in STYLE_ELEMENT.findall(html))
        self.html_template = PersonalizedTemplate(personalization.compile_template(html))
        self.text_template = PersonalizedTemplate(personalization.compile_template(text))
        self.footers = self._footers()
        subject = campaign.subject or ""
        self.subject = subject
        self.subject_template = (
            PersonalizedTemplate(personalization.compile_template(subject)) if "{" in subject else None
        )
        used = set()
        for template in (self.html_template, self.text_template, self.subject_template):
            if template is not None:
                used |= personalization.used_sources(template.template)
        self.used = frozenset(used)

    def _sources(self, source: str, links: dict[str, int]) -> tuple[str, str, str]:
        """(HTML template, the HTML after the body, text template): CSS inlined, links tracked
        (marks), the preheader in front; footer and pixel are added per message."""
        protected = ProtectedSource(_without_marks(source.replace("\r\n", "\n")))
        document = protected.text
        if not DOCUMENT.search(document):
            document = f"{DOCUMENT_HEAD}</head>\n<body>\n{document}\n</body>\n</html>\n"
        inlined = _short_lines(_CSS_INLINER.inline(document))
        if self.tracking_on and links:

            def track(match: re.Match) -> str:
                link_id = links.get(unescape(match.group(2)).strip())
                if link_id is None or protected.has_token(match.group(2)):
                    return match.group()
                return f"{match.group(1)}{_mark(link_id)}{match.group(3)}"

            inlined = _LINK_HREF.sub(track, inlined)
        body = _BODY_OPEN.search(inlined)
        body_end = _BODY_CLOSE.search(inlined, body.end() if body else 0)
        if body is None or body_end is None:
            inlined = f"{DOCUMENT_HEAD}</head>\n<body>\n{inlined}\n</body>\n</html>\n"
            body = _BODY_OPEN.search(inlined)
            body_end = _BODY_CLOSE.search(inlined, body.end())
        body_html = inlined[body.end() : body_end.start()]
        text = protected.restore(_html_text(protected.as_words(body_html)))
        preheader = ""
        if self.campaign.preview_text:
            preheader = _PREHEADER.format(text=_text_with_template_syntax(self.campaign.preview_text))
        html = inlined[: body.end()] + "\n" + preheader + body_html
        return protected.restore(html), protected.restore(inlined[body_end.start() :]), text

    def _footers(self) -> dict[bool, tuple[str, str]]:
        """The footer (HTML, text) rendered once, with and without a preferences link; the
        recipient's links are marks spliced per message."""
        footers = {}
        for with_preferences in (True, False):
            values = {
                "company": self.company,
                "unsubscribe_url": _mark(UNSUBSCRIBE_MARK),
                "preferences_url": _mark(PREFERENCES_MARK) if with_preferences else "",
            }
            html = personalization.compile_template(_footer_source("emails/campaign_footer.html"))
            text = personalization.compile_template(_footer_source("emails/campaign_footer.txt"))
            footers[with_preferences] = (
                "\n" + html.render(Context(values)) + (_PIXEL if self.tracking_on else ""),
                "\n\n-- \n" + text.render(Context(values, autoescape=False)),
            )
        return footers

    # --- Per recipient

    def _load(self, contact_ids: list[int]) -> dict[int, tuple]:
        """Each contact's (row, fields, key information, commerce) in one query per kind."""
        if not contact_ids:
            return {}
        columns = list(personalization.CONTACT_COLUMNS)
        if "contact.tags" in self.used:
            columns.append("tags")
        if "contact.properties" in self.used:
            columns.append("properties")
        rows = {
            row["id"]: row
            for row in Contact.objects.for_company(self.company_id).filter(pk__in=contact_ids).values(*columns)
        }
        fields: dict[int, list] = {}
        if "contact.fields" in self.used:
            values = CustomFieldValue.objects.filter(contact_id__in=list(rows), field__company_id=self.company_id)
            for contact_id, name, *typed in values.values_list(
                "contact_id", "field__name", "text_value", "number_value", "date_value", "bool_value"
            ):
                value = next((v for v in typed if v is not None), None)
                fields.setdefault(contact_id, []).append((name, _plain_number(value)))
        key_information: dict[int, list] = {}
        if "contact.key_information" in self.used:
            values = KeyInformation.objects.filter(contact_id__in=list(rows)).values_list(
                "contact_id", "name", "numeric_value", "text_value"
            )
            for contact_id, name, number, text in values:
                key_information.setdefault(contact_id, []).append(
                    (name, _plain_number(number) if number is not None else text)
                )
        commerce: dict[int, dict] = {}
        if "commerce" in self.used:
            columns = ["contact_id", *personalization.COMMERCE_COLUMNS.values()]
            commerce = {
                row["contact_id"]: row
                for row in CommerceFacts.objects.filter(company_id=self.company_id, contact_id__in=list(rows)).values(
                    *columns
                )
            }
        return {
            contact_id: (row, fields.get(contact_id), key_information.get(contact_id), commerce.get(contact_id))
            for contact_id, row in rows.items()
        }

    def _values(self, loaded: tuple | None) -> dict:
        row, fields, key_information, commerce = loaded or (None, None, None, None)
        return {
            "contact": personalization.contact_context(
                row,
                fields=personalization.named_values(fields) if fields else personalization.EMPTY,
                key_information=personalization.named_values(key_information)
                if key_information
                else personalization.EMPTY,
            ),
            "commerce": personalization.commerce_context(commerce),
            "company": self.company,
        }

    def _render(self, values: dict) -> tuple[str, str, str]:
        """(subject, html, text) for one recipient's values."""
        html = self.html_template.render(values, autoescape=True)
        text = self.text_template.render(values, autoescape=False)
        subject = (
            self.subject_template.render(values, autoescape=False)
            if self.subject_template is not None
            else self.subject
        )
        return " ".join(subject.split()), html, text

    def _message_parts(
        self, loaded: tuple | None, recipient_id: int | None, unsubscribe_url: str, preferences_url: str
    ) -> tuple[str, str, str]:
        """(subject, html, text) of one message: the templates rendered with the recipient's
        values, then the footer added and the marks replaced by the recipient's links."""
        values = self._values(loaded)
        values["unsubscribe_url"] = unsubscribe_url
        values["preferences_url"] = preferences_url
        subject, html, text = self._render(values)
        footer_html, footer_text = self.footers[bool(preferences_url)]
        urls = {UNSUBSCRIBE_MARK: unsubscribe_url, PREFERENCES_MARK: preferences_url}
        if self.tracking_on:
            urls[OPEN_MARK] = tracking.open_pixel_url(recipient_id)
        html = _splice(html + footer_html, recipient_id, urls) + self.html_end
        if self.html_references and not html.isascii():
            html = html.encode("ascii", "xmlcharrefreplace").decode("ascii")
        text = _splice(text + footer_text, recipient_id, urls)
        return subject, html, text

    def render_batch(self, recipients: Sequence[CampaignRecipient]) -> list[RenderedMessage]:
        """The messages of `recipients` (rows of this campaign), in their order."""
        loaded = self._load([r.contact_id for r in recipients if r.contact_id is not None])
        date = formatdate(usegmt=True)
        messages = []
        for recipient in recipients:
            contact = loaded.get(recipient.contact_id)
            unsubscribe_url = tracking.unsubscribe_url(recipient.pk)
            preferences_url = _preferences_url(self.company_id, contact[0]) if contact else ""
            subject, html, text = self._message_parts(contact, recipient.pk, unsubscribe_url, preferences_url)
            message_id = f"{recipient.pk}.{self.message_id_prefix}@{self.domain}"
            data = self.skeleton.message(
                to=recipient.email,
                subject=subject,
                date=date,
                message_id=message_id,
                unsubscribe_url=unsubscribe_url,
                text=text,
                html=html,
            )
            messages.append(RenderedMessage(recipient.pk, recipient.email, self.envelope_from, message_id, data))
        return messages

    def render_untracked(self, contact: Contact | None) -> tuple[str, str, str, str]:
        """(subject, html, text, unsubscribe URL) for a preview or test: the contact's own consent
        links (no recipient row exists), "#" without a contact."""
        if contact is not None and contact.company_id != self.company_id:
            contact = None  # another company's contact: rendered as no one
        loaded = self._load([contact.pk]) if contact is not None else {}
        row = loaded.get(contact.pk) if contact is not None else None
        unsubscribe_url = consent.unsubscribe_url(contact) if contact is not None and contact.email else ""
        preferences_url = _preferences_url(self.company_id, row[0]) if row else "#"
        subject, html, text = self._message_parts(row, None, unsubscribe_url or "#", preferences_url)
        return subject, html, text, unsubscribe_url


def _plain_number(value):
    """A custom field's Decimal(6 places) as written: 3 rather than 3.000000."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value.normalize()
    return value


class _ContactKey(NamedTuple):
    """What a consent link is made of (a Contact instance costs more to build than the link)."""

    pk: int
    company_id: int
    email: str


@lru_cache(maxsize=1)
def _preferences_route() -> tuple[str, str]:
    # reverse() costs more than the token: resolved once, the token spliced in (as tracking does).
    placeholder = "TOKEN"
    url = settings.SITE_URL.rstrip("/") + reverse("consent_preferences", args=[placeholder])
    before, _, after = url.partition(placeholder)
    return before, after


def _preferences_url(company_id: int, row: dict) -> str:
    """consent.preferences_url of the contact, from its row."""
    if not row.get("email"):
        return ""
    before, after = _preferences_route()
    return before + consent.preferences_token(_ContactKey(row["id"], company_id, row["email"])) + after


_PREPARED: OrderedDict[tuple, PreparedCampaign] = OrderedDict()


def prepare(campaign: Campaign) -> PreparedCampaign:
    """The frozen campaign compiled for sending, once per process while nothing it depends on
    changes (the workers call this per batch)."""
    company = campaign.company
    links = dict(CampaignLink.objects.filter(campaign=campaign).values_list("url", "pk"))
    fingerprint = hashlib.sha256(
        repr(
            (
                campaign.frozen_source,
                campaign.subject,
                campaign.preview_text,
                _sender(campaign),
                company.name,
                company.postal_address,
                sorted(links.items()),
            )
        ).encode()
    ).hexdigest()
    key = (campaign.pk, fingerprint)
    prepared = _PREPARED.get(key)
    if prepared is None:
        prepared = PreparedCampaign(campaign, campaign.frozen_source, links, tracking_on=True)
        _PREPARED[key] = prepared
        while len(_PREPARED) > _PREPARED_CACHE_SIZE:
            _PREPARED.popitem(last=False)
    return prepared


def _draft(campaign: Campaign) -> PreparedCampaign:
    """A campaign as it would be sent now, untracked: from its content and template."""
    source = merged_source(campaign)
    check_campaign(campaign, source)
    return PreparedCampaign(campaign, sanitize_html(source), {}, tracking_on=False)


def render_preview(campaign: Campaign, contact: Contact | None) -> Preview:
    """What `contact` (None: a contact with no data) would get, for the dashboard; ValidationError
    naming the field for a template error."""
    subject, html, text, _ = _draft(campaign).render_untracked(contact)
    return Preview(subject=subject, html=html, text=text)


def render_test_message(campaign: Campaign, to: str, contact: Contact | None = None) -> RenderedMessage:
    """A test send to `to`: "[Test] " before the subject, links untracked, no recipient row."""
    prepared = _draft(campaign)
    subject, html, text, unsubscribe_url = prepared.render_untracked(contact)
    message_id = f"test.{uuid4().hex}@{prepared.domain}"
    data = prepared.skeleton.message(
        to=to,
        subject=TEST_SUBJECT_PREFIX + subject,
        date=formatdate(usegmt=True),
        message_id=message_id,
        unsubscribe_url=unsubscribe_url,
        text=text,
        html=html,
    )
    return RenderedMessage(None, to, prepared.envelope_from, message_id, data)
