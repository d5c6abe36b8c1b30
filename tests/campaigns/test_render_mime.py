"""The message bytes: RFC 2047 subjects, header injection through personalization, transfer
encodings, and a rendered message through a real SMTP server (aiosmtpd on loopback)."""

import smtplib
from email import message_from_bytes, policy

import pytest

from campaigns import rendering
from campaigns.mime import MessageSkeleton, encode_header_value, encode_html_body, encode_text_body
from campaigns.models import CampaignRecipient
from tests.campaigns.conftest import make_campaign
from tests.factories import CompanyFactory
from tests.factories.contacts import ContactFactory


def skeleton() -> MessageSkeleton:
    return MessageSkeleton(
        from_header="Shop <news@shop.example>",
        reply_to="",
        feedback_id="1:2:campaign:salloq",
        unsubscribe_mailto="news@shop.example",
    )


def build(**overrides) -> bytes:
    fields = {
        "to": "a@example.com",
        "subject": "Hello",
        "date": "Thu, 03 Dec 2026 21:00:00 GMT",
        "message_id": "1.abc@shop.example",
        "unsubscribe_url": "https://marketing.example/t/u/1.x/",
        "text": "Hi",
        "html": "<p>Hi</p>",
    }
    return skeleton().message(**(fields | overrides))


@pytest.mark.parametrize(
    "subject",
    ["Spring sale 🌸 for Zoë", "Ünïcödé " * 40, "日本語のお知らせ", "plain =?utf-8?q?not-encoded?= words", "x" * 950],
)
def test_subjects_come_back_as_written(subject):
    parsed = message_from_bytes(build(subject=subject), policy=policy.default)
    assert str(parsed["Subject"]) == subject.strip()
    head = build(subject=subject).split(b"\r\n\r\n")[0]
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    assert head.isascii()


def test_encoded_words_are_at_most_75_characters_and_never_split_a_character():
    encoded = encode_header_value("🌸" * 50)
    words = encoded.split("\r\n ")
    assert len(words) > 1 and all(len(word) <= 75 for word in words)


def test_a_line_break_in_a_personalized_subject_cannot_add_a_header():
    data = build(subject="Hi\r\nBcc: victim@example.com", to="a@example.com\r\nBcc: x@example.com")
    parsed = message_from_bytes(data, policy=policy.default)
    assert parsed["Bcc"] is None
    assert str(parsed["Subject"]) == "Hi Bcc: victim@example.com"


def test_bodies_go_as_they_are_when_they_can_and_encoded_otherwise():
    assert encode_html_body("<p>plain</p>\n<p>ascii</p>") == (b"7bit", b"<p>plain</p>\r\n<p>ascii</p>")
    assert encode_html_body("<p>Zoë</p>")[0] == b"base64"
    assert encode_html_body("<p>" + "x" * 1200 + "</p>")[0] == b"base64"
    assert encode_text_body("Hi Zoë")[0] == b"quoted-printable"
    for text in ("Zoë 🌸\nline two", "x" * 2000 + "\n=end"):
        data = build(text=text, html=f"<p>{text}</p>")
        parsed = message_from_bytes(data, policy=policy.default)
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == text
        assert parsed.get_body(("html",)).get_content().replace("\r\n", "\n") == f"<p>{text}</p>"
        assert all(len(line) <= 998 for line in data.split(b"\r\n"))


def test_without_an_https_link_there_is_no_one_click_header():
    parsed = message_from_bytes(build(unsubscribe_url=""), policy=policy.default)
    assert str(parsed["List-Unsubscribe"]) == "<mailto:news@shop.example?subject=unsubscribe>"
    assert parsed["List-Unsubscribe-Post"] is None


@pytest.mark.django_db
def test_a_rendered_message_goes_through_a_real_smtp_server_intact(smtp_sink, settings):
    company = CompanyFactory(sender_email="news@shop.example", postal_address="1 Quay Road")
    campaign = make_campaign(
        company,
        subject="Für {{ contact.first_name }} 🌸",
        preview_text="Inside: {{ contact.first_name }}",
        content='<p>Hallo {{ contact.first_name }}</p>\n.\n<p><a href="https://shop.example/">Shop</a></p>',
    )
    contact = ContactFactory(company=company, email="jo@example.com", first_name="Jö")
    rendering.freeze(campaign)
    recipient = CampaignRecipient.objects.create(campaign=campaign, contact=contact, email=contact.email)
    [message] = rendering.prepare(campaign).render_batch([recipient])

    with smtplib.SMTP(settings.EMAIL_HOST, settings.EMAIL_PORT) as connection:
        connection.sendmail(message.envelope_from, [message.to], message.data)

    [received] = smtp_sink.wait_for(1)
    assert str(received["Subject"]) == "Für Jö 🌸"
    assert received["Message-ID"] == f"<{message.message_id}>"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    html = received.get_body(("html",)).get_content()
    text = received.get_body(("plain",)).get_content()
    # Non-ASCII letters go as character references, so the HTML part stays 7bit.
    assert received.get_body(("html",))["Content-Transfer-Encoding"] == "7bit"
    assert "Hallo J&#246;" in html and "Inside: J&#246;" in html and "1 Quay Road" in html
    assert "Hallo Jö" in text and "1 Quay Road" in text
