"""Rendered campaign messages, read back with the stdlib email parser as a mail client would:
headers (RFC 8058 one-click unsubscribe, Message-ID, Feedback-ID, RFC 2047 subject), the text
part, the hidden preheader, inlined CSS, tracked links and pixel, the footer."""

import re
from decimal import Decimal
from email import message_from_bytes, policy
from urllib.parse import urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve

from campaigns import rendering, tracking
from campaigns.models import CampaignLink, CampaignRecipient, EmailTemplate
from contacts.models import FieldType
from tests.campaigns.conftest import make_campaign
from tests.factories import CompanyFactory
from tests.factories.catalog import CommerceFactsFactory
from tests.factories.contacts import ContactFactory, CustomFieldFactory

pytestmark = pytest.mark.django_db

LAYOUT = """<!DOCTYPE html>
<html><head><title>News</title>
<style>
  .button { background-color: #ff6600; color: #ffffff; }
  p { font-family: Georgia, serif; }
  @media (max-width: 600px) { .wide { width: 100% !important; } }
</style></head>
<body style="margin:0">
<table class="wide"><tr><td>{{ content }}</td></tr></table>
</body></html>"""

CONTENT = """<p>Hello {{ contact.first_name|default:"there" }},</p>
<p>Our <a class="button" href="https://shop.example/sale?utm=mail&amp;x=1">spring sale</a> is on.</p>
<p><a href="https://shop.example/about">About us</a> and again
<a href="https://shop.example/sale?utm=mail&amp;x=1">the sale</a>.</p>
<p><a href="mailto:help@shop.example">Write to us</a></p>"""


def parse(message: rendering.RenderedMessage):
    return message_from_bytes(message.data, policy=policy.default)


def parts(parsed) -> tuple[str, str]:
    # The parser keeps the parts' CRLF line ends.
    text = parsed.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    html = parsed.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n")
    return text, html


@pytest.fixture
def company():
    return CompanyFactory(
        name="Salloq Shop",
        sender_name="Salloq Shop News",
        sender_email="news@shop.example",
        reply_to_email="help@shop.example",
        postal_address="12 Harbour Street\nPort Town 1234",
    )


def started(campaign, contacts):
    """The campaign frozen with a recipient row per contact, as delivery does when sending starts."""
    rendering.freeze(campaign)
    return [CampaignRecipient.objects.create(campaign=campaign, contact=c, email=c.email) for c in contacts]


def test_a_received_message_carries_the_headers_parts_tracking_and_footer(company):
    template = EmailTemplate.objects.create(company=company, name="Newsletter", html=LAYOUT)
    campaign = make_campaign(
        company,
        template=template,
        subject="Spring sale 🌸 for {{ contact.first_name|default:'you' }}",
        preview_text="Up to 40% off, {{ contact.first_name }}",
        content=CONTENT,
    )
    ada = ContactFactory(company=company, email="ada@example.com", first_name="Ada")
    [recipient] = started(campaign, [ada])

    [message] = rendering.prepare(campaign).render_batch([recipient])

    assert message.recipient_id == recipient.pk
    assert message.to == "ada@example.com"
    assert message.envelope_from == "news@shop.example"
    assert b"\r\n" in message.data and b"\n" not in message.data.replace(b"\r\n", b"")
    parsed = parse(message)
    assert str(parsed["Subject"]) == "Spring sale 🌸 for Ada"
    assert "=?utf-8?b?" in message.data.decode().split("\r\n\r\n")[0]
    assert str(parsed["From"]) == "Salloq Shop News <news@shop.example>"
    assert str(parsed["To"]) == "ada@example.com"
    assert str(parsed["Reply-To"]) == "help@shop.example"
    assert parsed["Message-ID"] == f"<{message.message_id}>"
    assert parsed["Date"]
    assert parsed["MIME-Version"] == "1.0"
    assert parsed["Feedback-ID"] == f"{campaign.pk}:{company.pk}:campaign:salloq"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https_link, mailto = re.findall(r"<([^>]+)>", str(parsed["List-Unsubscribe"]))
    assert https_link == tracking.unsubscribe_url(recipient.pk)
    assert tracking.read_unsubscribe_token(resolve(urlparse(https_link).path).kwargs["token"]) == recipient.pk
    assert mailto == "mailto:help@shop.example?subject=unsubscribe"
    assert parsed.get_content_type() == "multipart/alternative"

    text, html = parts(parsed)
    # The hidden preheader, first thing in the body, personalized.
    body_start = html[html.index("<body") :]
    assert re.search(r'<body[^>]*>\s*<div style="display:none[^"]*">Up to 40% off, Ada', body_start)
    # CSS inlined from the template's <style>; the media query stays in a <style>.
    assert re.search(r'<a class="button" href="[^"]*" style="[^"]*background-color: #ff6600', html)
    assert re.search(r'<p style="font-family: Georgia, serif;?">Hello Ada,</p>', html)
    assert "@media (max-width: 600px)" in html
    # Links tracked: one CampaignLink per distinct URL, in order; mailto links left alone.
    links = list(CampaignLink.objects.filter(campaign=campaign).values_list("url", "position", "pk"))
    assert [(url, position) for url, position, _ in links] == [
        ("https://shop.example/sale?utm=mail&x=1", 1),
        ("https://shop.example/about", 2),
    ]
    sale_url = tracking.click_url(recipient.pk, links[0][2]).replace("&", "&amp;")
    assert html.count(f'href="{sale_url}"') == 2
    assert f'href="{tracking.click_url(recipient.pk, links[1][2])}"' in html
    assert "shop.example/sale" not in html and 'href="mailto:help@shop.example"' in html
    assert f'<img src="{tracking.open_pixel_url(recipient.pk)}" width="1" height="1"' in html
    # The footer: unsubscribe, preferences, the company's postal address.
    assert f'href="{https_link}"' in html
    assert "/preferences/" in html or "Manage your preferences" in html
    assert "12 Harbour Street<br>Port Town 1234" in html
    # The text part: the same words, tracked links, the footer with the address; no preheader.
    assert text.startswith("Hello Ada,")
    assert f"[spring sale]({tracking.click_url(recipient.pk, links[0][2])})" in text
    assert "Up to 40% off" not in text
    assert f"Unsubscribe: {https_link}" in text
    assert "12 Harbour Street\nPort Town 1234" in text


def test_message_ids_are_unique_per_recipient_and_stable_for_a_recipient(company):
    campaign = make_campaign(company)
    contacts = [ContactFactory(company=company, email=f"m{i}@example.com") for i in range(5)]
    recipients = started(campaign, contacts)
    prepared = rendering.prepare(campaign)

    first = prepared.render_batch(recipients)
    again = prepared.render_batch(recipients[:1])

    ids = [message.message_id for message in first]
    assert len(set(ids)) == 5
    assert all(re.fullmatch(r"[\w.]+@shop\.example", mid) for mid in ids)
    assert [parse(m)["Message-ID"] for m in first] == [f"<{mid}>" for mid in ids]
    # A resend after a crash has the same id, so a mailbox that got both can tell.
    assert again[0].message_id == ids[0]


def test_each_recipient_of_a_batch_gets_only_their_own_values(company):
    tier = CustomFieldFactory(company=company, name="Loyalty tier", field_type=FieldType.TEXT)
    CustomFieldFactory(company=company, name="Points", field_type=FieldType.NUMBER)
    campaign = make_campaign(
        company,
        subject="{{ contact.first_name|default:'Friend' }}, your {{ contact.fields.loyalty_tier }} news",
        content=(
            "<p>Hi {{ contact.first_name|default:'friend' }} {{ contact.last_name }}</p>"
            "<p>Tier: {{ contact.fields.loyalty_tier|default:'none' }}; "
            "points {{ contact.fields.Points|default:0 }}</p>"
            "<p>Spent {{ commerce.total_spent|floatformat:2 }} in {{ commerce.order_count }} orders</p>"
            "<p>Likes {{ contact.properties.colour|default:'nothing' }}; tags "
            "{% for tag in contact.tags %}[{{ tag }}]{% empty %}none{% endfor %}</p>"
        ),
    )
    contacts = []
    for i in range(60):
        data = {"company": company, "email": f"r{i}@example.com"}
        if i % 3:
            data.update(
                first_name=f"First{i}",
                last_name=f"Last{i}",
                properties={"colour": f"colour{i}"},
                tags=[f"tag{i}"],
                fields=[{"name": tier.name, "value": f"tier{i}"}, {"name": "Points", "value": i}],
            )
        contact = ContactFactory(**data)
        if i % 2:
            CommerceFactsFactory(contact=contact, total_spent=Decimal(i) + Decimal("0.5"), order_count=i)
        contacts.append(contact)
    recipients = started(campaign, contacts)
    prepared = rendering.prepare(campaign)

    with CaptureQueriesContext(connection) as queries:
        messages = prepared.render_batch(recipients)

    # Contacts, custom fields and commerce facts: one query each, whatever the batch size.
    assert len(queries) == 3, [q["sql"][:60] for q in queries.captured_queries]
    for i, message in enumerate(messages):
        parsed = parse(message)
        text, html = parts(parsed)
        assert message.to == f"r{i}@example.com"
        if i % 3:
            assert str(parsed["Subject"]) == f"First{i}, your tier{i} news"
            assert f"Hi First{i} Last{i}" in html
            assert f"Tier: tier{i}; points {i}" in html
            assert f"Likes colour{i}; tags [tag{i}]" in html
        else:
            assert str(parsed["Subject"]) == "Friend, your news"
            assert "Hi friend " in html and "Tier: none; points 0" in html
            assert "Likes nothing; tags none" in html
        if i % 2:
            assert f"Spent {i}.50 in {i} orders" in html
        else:
            assert "Spent 0.00 in 0 orders" in html
        others = {f"First{j}" for j in range(60) if j != i} | {f"tier{j}<" for j in range(60) if j != i}
        assert not any(f"{other} " in html or f"{other};" in html for other in others if other.startswith("First"))
        assert f"tier{i + 1};" not in html
        assert text.startswith(f"Hi First{i} Last{i}" if i % 3 else "Hi friend")


def test_contact_values_are_escaped_in_html_and_plain_in_text_and_subject(company):
    campaign = make_campaign(
        company, subject="For {{ contact.first_name }}", content="<p>Dear {{ contact.first_name }}</p>"
    )
    contact = ContactFactory(company=company, email="x@example.com", first_name="<b>Tom</b> & Jerry")
    [recipient] = started(campaign, [contact])

    [message] = rendering.prepare(campaign).render_batch([recipient])

    parsed = parse(message)
    text, html = parts(parsed)
    assert str(parsed["Subject"]) == "For <b>Tom</b> & Jerry"
    assert "Dear &lt;b&gt;Tom&lt;/b&gt; &amp; Jerry" in html
    assert "Dear <b>Tom</b> & Jerry" in text


def test_a_recipient_whose_contact_was_deleted_still_gets_a_message_with_defaults(company):
    campaign = make_campaign(company)
    contact = ContactFactory(company=company, email="gone@example.com", first_name="Gone")
    [recipient] = started(campaign, [contact])
    contact.delete()
    recipient.refresh_from_db()

    [message] = rendering.prepare(campaign).render_batch([recipient])

    text, html = parts(parse(message))
    assert "Hello there" in html and "Manage your preferences" not in html
    assert message.to == "gone@example.com"


def test_prepare_compiles_once_per_campaign_and_process(company):
    campaign = make_campaign(company)
    [recipient] = started(campaign, [ContactFactory(company=company)])

    assert rendering.prepare(campaign) is rendering.prepare(campaign)
    company.postal_address = "1 New Road"
    company.save()
    campaign.refresh_from_db()
    assert "1 New Road" in parts(parse(rendering.prepare(campaign).render_batch([recipient])[0]))[1]


def test_freeze_keeps_what_recipients_get_when_the_template_changes_later(company):
    template = EmailTemplate.objects.create(company=company, name="Plain", html="<div>{{ content }}</div><p>v1</p>")
    campaign = make_campaign(company, template=template, content='<p><a href="https://a.example/">a</a></p>')
    rendering.freeze(campaign)
    frozen = campaign.frozen_source
    template.html = "<div>{{ content }}</div><p>v2</p>"
    template.save()
    campaign.refresh_from_db()

    rendering.freeze(campaign)

    assert campaign.frozen_source == frozen and "v1" in frozen
    assert list(campaign.links.values_list("url", flat=True)) == ["https://a.example/"]


def test_personalized_links_are_kept_but_not_tracked(company):
    campaign = make_campaign(
        company, content='<p><a href="https://a.example/u?id={{ contact.external_id|urlencode }}">mine</a></p>'
    )
    contact = ContactFactory(company=company, email="p@example.com", external_id="ext 1")
    [recipient] = started(campaign, [contact])

    [message] = rendering.prepare(campaign).render_batch([recipient])

    assert not campaign.links.exists()
    assert 'href="https://a.example/u?id=ext%201"' in parts(parse(message))[1]


def test_render_preview_works_on_a_draft_without_tracking(company):
    campaign = make_campaign(
        company, subject="Hi {{ contact.first_name|default:'you' }}", content=CONTENT, preview_text="Sale"
    )
    contact = ContactFactory(company=company, email="pre@example.com", first_name="Pre")

    preview = rendering.render_preview(campaign, contact)
    anonymous = rendering.render_preview(campaign, None)

    assert preview.subject == "Hi Pre" and anonymous.subject == "Hi you"
    assert "Hello Pre," in preview.html and "Hello there," in anonymous.html
    assert 'href="https://shop.example/sale?utm=mail&amp;x=1"' in preview.html
    assert "/t/" not in preview.html
    assert "Hello Pre," in preview.text
    assert not campaign.links.exists() and campaign.frozen_source == ""


def test_render_preview_reports_a_template_error_by_field(company):
    campaign = make_campaign(company, content="<p>\n{{ contact.nope }}</p>")

    with pytest.raises(Exception) as error:
        rendering.render_preview(campaign, None)

    assert error.value.message_dict == {"content": [pytest.approx(error.value.message_dict["content"][0])]}
    assert "line 2" in error.value.message_dict["content"][0]


def test_a_test_message_is_marked_and_untracked(company):
    campaign = make_campaign(company, subject="Big news", content=CONTENT)
    contact = ContactFactory(company=company, email="me@example.com", first_name="Me")

    message = rendering.render_test_message(campaign, "boss@example.com", contact)

    parsed = parse(message)
    assert message.recipient_id is None and message.to == "boss@example.com"
    assert str(parsed["Subject"]) == "[Test] Big news"
    assert str(parsed["To"]) == "boss@example.com"
    assert parsed["Feedback-ID"] == f"{campaign.pk}:{company.pk}:campaign:salloq"
    text, html = parts(parsed)
    assert "Hello Me," in html and "https://shop.example/sale" in html and "/t/" not in html
    assert rendering.render_test_message(campaign, "boss@example.com").message_id != message.message_id


def test_a_preview_as_another_companys_contact_shows_none_of_its_data(company):
    campaign = make_campaign(company, content="<p>Hello {{ contact.first_name|default:'there' }}</p>")
    stranger = ContactFactory(company=CompanyFactory(), email="s@example.com", first_name="Stranger")

    preview = rendering.render_preview(campaign, stranger)

    assert "Hello there" in preview.html and "Stranger" not in preview.html + preview.text


def test_a_link_is_tracked_whatever_its_other_attributes_hold(company):
    campaign = make_campaign(
        company,
        content=(
            '<p><a title="a > b {{ contact.first_name }}" class="x" href="https://a.example/1">one</a>'
            "<a title='it&#39;s > here' href=\"https://a.example/2\">two</a></p>"
        ),
    )
    [recipient] = started(campaign, [ContactFactory(company=company, email="t@example.com", first_name="T")])

    [message] = rendering.prepare(campaign).render_batch([recipient])

    links = list(campaign.links.values_list("pk", "url"))
    assert [url for _, url in links] == ["https://a.example/1", "https://a.example/2"]
    html = parts(parse(message))[1]
    assert "a.example" not in html
    for link_id, _ in links:
        assert f'href="{tracking.click_url(recipient.pk, link_id)}"' in html
