"""The campaigns dashboard through Django's test client: every page renders for every role, viewers
read and never write, another company's campaigns and templates are 404 on every route, the
editor's errors sit beside their fields, the audience's live count, the preview's sandboxed iframe,
sending actions and the report's figures."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import (
    ActivityKind,
    Campaign,
    CampaignActivity,
    CampaignLink,
    CampaignRecipient,
    CampaignStatus,
    EmailTemplate,
    RecipientStatus,
)
from contacts.models import Contact, MembershipStatus
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.contacts.conftest import smtp_sink  # noqa: F401 - the fixture
from tests.factories import ContactFactory, ContactListFactory, ListMembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(company):
    """A list with two subscribed contacts, one unsubscribed from it and one pending confirmation."""
    contact_list = ContactListFactory(company=company, name="Newsletter")
    for email, first_name in (("ann@example.com", "Ann"), ("bob@example.com", "Bob")):
        ListMembershipFactory(
            contact_list=contact_list, contact=ContactFactory(company=company, email=email, first_name=first_name)
        )
    ListMembershipFactory(
        contact_list=contact_list,
        contact=ContactFactory(company=company, email="gone@example.com"),
        status=MembershipStatus.UNSUBSCRIBED,
    )
    ListMembershipFactory(
        contact_list=contact_list,
        contact=ContactFactory(company=company, email="maybe@example.com"),
        status=MembershipStatus.PENDING,
    )
    return contact_list


@pytest.fixture
def campaign(company, newsletter):
    campaign = Campaign.objects.create(
        company=company,
        name="Spring sale",
        subject="Hello {{ contact.first_name|default:'there' }}",
        content='<p>Hi {{ contact.first_name|default:"there" }}</p><a href="https://shop.example/sale">Sale</a>',
    )
    campaign.lists.set([newsletter])
    return campaign


@pytest.fixture
def rival_campaign(other_company):
    return Campaign.objects.create(company=other_company, name="Rival plan", subject="Secret")


def campaign_form(contact_list=None, **overrides) -> dict:
    data = {
        "name": "Autumn news",
        "subject": "News for {{ contact.first_name|default:'you' }}",
        "preview_text": "What is new",
        "content": "<p>Hello</p>",
        "template": "",
        "from_name": "",
        "from_email": "",
        "reply_to": "",
    }
    if contact_list is not None:
        data["lists"] = [contact_list.pk]
    data.update(overrides)
    return data


# --- The list ------------------------------------------------------------------------------------


def test_viewer_sees_the_list_with_key_numbers_but_no_new_button(client, company, campaign, rival_campaign):
    log_in(client, company, Role.VIEWER)
    CampaignRecipient.objects.create(
        campaign=campaign, email="ann@example.com", status=RecipientStatus.SENT, first_opened_at=timezone.now()
    )
    CampaignRecipient.objects.create(campaign=campaign, email="bob@example.com", status=RecipientStatus.SENT)
    response = client.get(reverse("campaigns:campaigns"))
    assert response.status_code == 200
    page = html(response)
    row = re.search(rf'<tr id="campaign-{campaign.pk}">.*?</tr>', page, re.S).group(0)
    assert "Spring sale" in row and "Draft" in row
    assert "50%" in row  # one of two sent opened
    assert "Rival plan" not in page
    assert 'id="new-campaign"' not in page


def test_list_filters_by_status_and_answers_htmx_with_the_table_alone(marketer_client, company, campaign):
    Campaign.objects.create(company=company, name="Old news", status=CampaignStatus.SENT)
    response = marketer_client.get(reverse("campaigns:campaigns"), {"status": "sent"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = html(response)
    assert page.lstrip().startswith('<div id="campaign-table"')
    assert "Old news" in page and "Spring sale" not in page
    assert "HX-Request" in response["Vary"]
    assert 'id="new-campaign"' in html(marketer_client.get(reverse("campaigns:campaigns")))


def test_list_paginates(marketer_client, company):
    Campaign.objects.bulk_create([Campaign(company=company, name=f"C{n:02}") for n in range(30)])
    first = html(marketer_client.get(reverse("campaigns:campaigns")))
    second = html(marketer_client.get(reverse("campaigns:campaigns"), {"page": 2}))
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert first.count('<tr id="campaign-') == 25 and second.count('<tr id="campaign-') == 5


def test_unknown_filter_value_is_a_400_naming_it(marketer_client):
    response = marketer_client.get(reverse("campaigns:campaigns"), {"status": "exploded"})
    assert response.status_code == 400
    assert "status:" in html(response)


# --- The editor ----------------------------------------------------------------------------------


def test_marketer_creates_a_campaign_with_its_audience(marketer_client, company, newsletter):
    excluded = ContactListFactory(company=company, name="Staff")
    data = campaign_form(newsletter, excluded_lists=[excluded.pk], from_email="news@acme.example")
    response = marketer_client.post(reverse("campaigns:campaign_create"), data)
    campaign = Campaign.objects.for_company(company).get(name="Autumn news")
    assert response.status_code == 302 and response.url == reverse("campaigns:campaign_detail", args=[campaign.pk])
    assert list(campaign.lists.all()) == [newsletter]
    assert list(campaign.excluded_lists.all()) == [excluded]
    assert campaign.from_email == "news@acme.example"
    assert campaign.preview_text == "What is new"


def test_a_template_error_is_shown_beside_its_field_with_its_line(marketer_client, company):
    data = campaign_form(content="<p>ok</p>\n<p>{% if %}</p>")
    response = marketer_client.post(reverse("campaigns:campaign_create"), data)
    assert response.status_code == 400
    page = html(response)
    content_field = re.search(
        r'<div class="field has-error field-wide">\s*<label for="id_content".*?</div>', page, re.S
    )
    assert content_field, "the content field is not marked in error"
    assert "line 2" in content_field.group(0)
    assert not Campaign.objects.for_company(company).exists()


def test_an_empty_name_is_required_and_a_bad_address_is_named(marketer_client, company):
    response = marketer_client.post(reverse("campaigns:campaign_create"), campaign_form(name="", reply_to="nope"))
    assert response.status_code == 400
    page = html(response)
    assert re.search(r'<a href="#id_name">Name</a>: This field is required', page)
    assert re.search(r'<a href="#id_reply_to">Reply-to address</a>: Enter a valid email address', page)


def test_another_companys_list_is_not_offered_nor_accepted(marketer_client, company, other_company):
    theirs = ContactListFactory(company=other_company, name="Their customers")
    page = html(marketer_client.get(reverse("campaigns:campaign_create")))
    assert "Their customers" not in page
    response = marketer_client.post(reverse("campaigns:campaign_create"), campaign_form(theirs))
    assert response.status_code == 400
    assert not Campaign.objects.for_company(company).exists()


def test_edit_saves_and_a_sending_campaign_refuses_content_changes(marketer_client, company, campaign, newsletter):
    url = reverse("campaigns:campaign_edit", args=[campaign.pk])
    page = html(marketer_client.get(url))
    assert 'value="Spring sale"' in page and f'value="{newsletter.pk}" ' in page and "checked" in page
    response = marketer_client.post(url, campaign_form(newsletter, name="Spring sale 2"))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Spring sale 2" and campaign.subject.startswith("News for")

    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    response = marketer_client.post(url, campaign_form(newsletter, name="Renamed", subject="Changed"))
    assert response.status_code == 400
    assert "only its name can still change" in html(response)
    campaign.refresh_from_db()
    assert campaign.subject.startswith("News for")


def test_viewer_cannot_open_the_editor_nor_write(client, company, campaign, newsletter):
    log_in(client, company, Role.VIEWER)
    assert client.get(reverse("campaigns:campaign_create")).status_code == 403
    assert client.get(reverse("campaigns:campaign_edit", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("campaigns:campaign_create"), campaign_form(newsletter)).status_code == 403
    for action in ("campaign_send", "campaign_test", "campaign_pause", "campaign_resume", "campaign_cancel"):
        assert client.post(reverse(f"campaigns:{action}", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("campaigns:campaign_delete", args=[campaign.pk])).status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    page = html(client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])))
    assert 'id="send-now"' not in page and 'id="edit-link"' not in page and 'id="test-send-form"' not in page


def test_live_audience_count_leaves_out_unsubscribed_pending_and_excluded(marketer_client, company, newsletter):
    staff = ContactListFactory(company=company, name="Staff")
    ListMembershipFactory(contact_list=staff, contact=Contact.objects.for_company(company).get(email="bob@example.com"))
    url = reverse("campaigns:audience_count")
    response = marketer_client.get(url, {"lists": [newsletter.pk]}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert re.search(r"<strong>2</strong> recipients", html(response))
    response = marketer_client.get(url, {"lists": [newsletter.pk], "excluded_lists": [staff.pk]})
    assert re.search(r"<strong>1</strong> recipient ", html(response))
    assert "Choose a list" in html(marketer_client.get(url))


def test_the_editor_shows_the_audience_count_it_opens_with(marketer_client, campaign):
    page = html(marketer_client.get(reverse("campaigns:campaign_edit", args=[campaign.pk])))
    assert re.search(r'id="audience-count".*?<strong>2</strong> recipients', page, re.S)
    assert f'hx-get="{reverse("campaigns:audience_count")}"' in page


# --- Detail, preview, sending -----------------------------------------------------------------------


def test_preview_as_a_contact_is_a_sandboxed_iframe(viewer_client, company, campaign):
    ann = Contact.objects.for_company(company).get(email="ann@example.com")
    response = viewer_client.get(reverse("campaigns:campaign_preview", args=[campaign.pk]), {"contact": ann.pk})
    assert response.status_code == 200
    page = html(response)
    frame = re.search(r"<iframe[^>]*>", page).group(0)
    assert 'sandbox=""' in frame
    assert "Hi Ann" in frame  # in the escaped srcdoc
    assert "&lt;p&gt;Hi Ann&lt;/p&gt;" in frame  # escaped into the attribute, never raw markup
    assert re.search(r'id="preview-subject">Hello Ann<', page)
    assert "'unsafe-inline'" in response["Content-Security-Policy"]
    assert "script-src 'self';" in response["Content-Security-Policy"]

    default = html(viewer_client.get(reverse("campaigns:campaign_preview", args=[campaign.pk])))
    assert "Hi there" in default
    partial = viewer_client.get(
        reverse("campaigns:campaign_preview", args=[campaign.pk]), {"contact": ann.pk}, HTTP_HX_REQUEST="true"
    )
    assert html(partial).lstrip().startswith('<section id="campaign-preview"')


def test_preview_never_shows_another_companys_contact(viewer_client, campaign, other_company):
    stranger = ContactFactory(company=other_company, email="stranger@example.com", first_name="Zed")
    page = html(viewer_client.get(reverse("campaigns:campaign_preview", args=[campaign.pk]), {"contact": stranger.pk}))
    assert "Zed" not in page and "stranger@example.com" not in page
    assert "No contact of yours has that id" in page


def test_scheduling_in_the_past_is_refused_beside_the_field(marketer_client, campaign):
    past = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = marketer_client.post(
        reverse("campaigns:campaign_send", args=[campaign.pk]), {"mode": "schedule", "scheduled_at": past}
    )
    assert response.status_code == 400
    form = re.search(r'<form[^>]*id="schedule-form".*?</form>', html(response), re.S).group(0)
    assert 'class="error"' in form
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_schedule_without_a_time_asks_for_one(marketer_client, campaign):
    response = marketer_client.post(reverse("campaigns:campaign_send", args=[campaign.pk]), {"mode": "schedule"})
    assert response.status_code == 400
    assert "Pick when to send it." in html(response)


def test_schedule_then_cancel(marketer_client, campaign):
    later = (timezone.localtime() + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = marketer_client.post(
        reverse("campaigns:campaign_send", args=[campaign.pk]), {"mode": "schedule", "scheduled_at": later}
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SCHEDULED
    page = html(marketer_client.get(reverse("campaigns:campaign_detail", args=[campaign.pk])))
    assert 'hx-trigger="every 2s"' in page and "Goes out at" in page
    response = marketer_client.post(reverse("campaigns:campaign_cancel", args=[campaign.pk]))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.CANCELLED


def test_a_refused_transition_is_said_on_top(marketer_client, campaign):
    response = marketer_client.post(reverse("campaigns:campaign_pause", args=[campaign.pk]), follow=True)
    assert campaign.status == CampaignStatus.DRAFT
    assert 'class="message error"' in html(response)


def test_progress_partial_while_sending(marketer_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING, recipient_count=3)
    for email, status in (("a@x.example", "sent"), ("b@x.example", "pending"), ("c@x.example", "failed")):
        CampaignRecipient.objects.create(campaign=campaign, email=email, status=status)
    response = marketer_client.get(reverse("campaigns:campaign_detail", args=[campaign.pk]), HTTP_HX_REQUEST="true")
    page = html(response)
    assert page.lstrip().startswith('<section class="card" id="campaign-status"')
    assert 'hx-trigger="every 2s"' in page
    assert re.search(r'<progress[^>]*max="3" value="2"', page)
    assert 'id="pause"' in page and 'id="cancel"' in page


def test_test_send_reaches_the_smtp_server(marketer_client, campaign, smtp_sink):  # noqa: F811
    response = marketer_client.post(
        reverse("campaigns:campaign_test", args=[campaign.pk]), {"emails": "me@example.com, boss@example.com"}
    )
    assert response.status_code == 302
    messages = smtp_sink.wait_for(2)
    assert {m["To"] for m in messages} == {"me@example.com", "boss@example.com"}
    assert all(m["Subject"].startswith("[Test]") for m in messages)


def test_test_send_to_a_bad_address_is_refused_beside_the_field(marketer_client, campaign):
    response = marketer_client.post(
        reverse("campaigns:campaign_test", args=[campaign.pk]), {"emails": "not-an-address"}
    )
    assert response.status_code == 400
    form = re.search(r'<form[^>]*id="test-send-form".*?</form>', html(response), re.S).group(0)
    assert 'class="error"' in form


def test_delete_a_draft(marketer_client, company, campaign):
    response = marketer_client.post(reverse("campaigns:campaign_delete", args=[campaign.pk]))
    assert response.status_code == 302 and response.url == reverse("campaigns:campaigns")
    assert not Campaign.objects.filter(pk=campaign.pk).exists()


# --- Report ----------------------------------------------------------------------------------------


def test_report_shows_figures_links_and_the_timeline(viewer_client, campaign):
    now = timezone.now()
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENT, started_at=now, finished_at=now)
    link = CampaignLink.objects.create(campaign=campaign, url="https://shop.example/sale", position=1)
    ann = CampaignRecipient.objects.create(
        campaign=campaign,
        email="ann@example.com",
        status=RecipientStatus.SENT,
        first_opened_at=now,
        open_count=2,
        first_clicked_at=now,
        click_count=1,
    )
    CampaignRecipient.objects.create(campaign=campaign, email="bob@example.com", status=RecipientStatus.SENT)
    for kind, target in ((ActivityKind.OPEN, None), (ActivityKind.OPEN, None), (ActivityKind.CLICK, link)):
        CampaignActivity.objects.create(campaign=campaign, recipient=ann, kind=kind, link=target, occurred_at=now)
    response = viewer_client.get(reverse("campaigns:campaign_report", args=[campaign.pk]))
    assert response.status_code == 200
    page = html(response)
    assert re.search(r'id="stat-sent">2<', page) and re.search(r'id="stat-opens">1<', page)
    assert "50%" in page
    assert re.search(r"https://shop.example/sale</td><td class=\"num\">1</td><td class=\"num\">1</td>", page)
    data = json.loads(re.search(r'<script id="timeline-data" type="application/json">(.*?)</script>', page, re.S)[1])
    assert sum(point["opens"] for point in data) == 2 and sum(point["clicks"] for point in data) == 1
    assert "vendor/chart-4.6.1.umd.min.js" in page
    assert not re.search(r'<script[^>]+src="(https?:)?//', page)  # vendored, no CDN


# --- Tenant isolation ---------------------------------------------------------------------------------


def test_another_companys_campaign_is_404_on_every_route(marketer_client, rival_campaign, other_company):
    template = EmailTemplate.objects.create(company=other_company, name="Theirs", html="<div>{{ content }}</div>")
    for name in ("campaign_detail", "campaign_edit", "campaign_preview", "campaign_report"):
        assert marketer_client.get(reverse(f"campaigns:{name}", args=[rival_campaign.pk])).status_code == 404, name
    for name in ("campaign_edit", "campaign_delete", "campaign_send", "campaign_test", "campaign_pause"):
        assert marketer_client.post(reverse(f"campaigns:{name}", args=[rival_campaign.pk])).status_code == 404, name
    for name in ("campaign_resume", "campaign_cancel"):
        assert marketer_client.post(reverse(f"campaigns:{name}", args=[rival_campaign.pk])).status_code == 404, name
    assert marketer_client.get(reverse("campaigns:template_edit", args=[template.pk])).status_code == 404
    assert marketer_client.post(reverse("campaigns:template_delete", args=[template.pk])).status_code == 404
    rival_campaign.refresh_from_db()
    assert rival_campaign.status == CampaignStatus.DRAFT and rival_campaign.name == "Rival plan"
    assert EmailTemplate.objects.filter(pk=template.pk).exists()


# --- Templates ----------------------------------------------------------------------------------------


def test_templates_create_edit_delete(marketer_client, company):
    url = reverse("campaigns:templates")
    response = marketer_client.post(url, {"name": "Plain", "html": "<div class='wrap'>{{ content }}</div>"})
    assert response.status_code == 302
    template = EmailTemplate.objects.for_company(company).get(name="Plain")
    assert "Plain" in html(marketer_client.get(url))

    edit = reverse("campaigns:template_edit", args=[template.pk])
    response = marketer_client.post(edit, {"name": "Plain", "html": "<div>no slot</div>"})
    assert response.status_code == 400
    assert re.search(r'<a href="#id_html">HTML</a>: A template needs the content slot', html(response))
    assert marketer_client.post(edit, {"name": "Plainer", "html": "<b>{{ content }}</b>"}).status_code == 302
    template.refresh_from_db()
    assert template.name == "Plainer"

    assert marketer_client.post(reverse("campaigns:template_delete", args=[template.pk])).status_code == 302
    assert not EmailTemplate.objects.filter(pk=template.pk).exists()


def test_the_editor_offers_the_companys_templates(marketer_client, company, other_company):
    EmailTemplate.objects.create(company=company, name="Ours", html="<div>{{ content }}</div>")
    EmailTemplate.objects.create(company=other_company, name="Theirs", html="<div>{{ content }}</div>")
    page = html(marketer_client.get(reverse("campaigns:campaign_create")))
    assert ">Ours</option>" in page and "Theirs" not in page


def test_a_duplicate_template_name_is_named(marketer_client, company):
    EmailTemplate.objects.create(company=company, name="Plain", html="<div>{{ content }}</div>")
    response = marketer_client.post(reverse("campaigns:templates"), {"name": "Plain", "html": "{{ content }}"})
    assert response.status_code == 400
    assert re.search(r'<a href="#id_name">Name</a>: A template with this name already exists', html(response))


def test_viewer_reads_templates_but_cannot_write(client, company):
    template = EmailTemplate.objects.create(company=company, name="Ours", html="<div>{{ content }}</div>")
    log_in(client, company, Role.VIEWER)
    page = html(client.get(reverse("campaigns:templates")))
    assert "Ours" in page and 'id="template-create-form"' not in page
    assert client.post(reverse("campaigns:templates"), {"name": "X", "html": "{{ content }}"}).status_code == 403
    assert client.post(reverse("campaigns:template_delete", args=[template.pk])).status_code == 403
    assert EmailTemplate.objects.filter(pk=template.pk).exists()


# --- Settings > Sending ---------------------------------------------------------------------------


SENDING = {
    "sender_name": "Acme News",
    "sender_email": "news@acme.example",
    "reply_to_email": "help@acme.example",
    "postal_address": "1 Main St\nSpringfield",
    "send_rate_per_second": "50",
}


def test_owner_saves_the_sending_settings(owner_client, company):
    response = owner_client.post(reverse("sending_settings"), SENDING)
    assert response.status_code == 302
    company.refresh_from_db()
    assert (company.sender_name, company.sender_email, company.reply_to_email) == (
        "Acme News",
        "news@acme.example",
        "help@acme.example",
    )
    assert company.postal_address == "1 Main St\nSpringfield" and company.send_rate_per_second == 50
    response = owner_client.post(reverse("sending_settings"), {**SENDING, "send_rate_per_second": ""})
    company.refresh_from_db()
    assert company.send_rate_per_second is None


def test_sending_settings_errors_beside_the_fields(owner_client, company):
    response = owner_client.post(
        reverse("sending_settings"), {**SENDING, "sender_email": "nope", "send_rate_per_second": "0"}
    )
    assert response.status_code == 400
    page = html(response)
    assert re.search(r'<a href="#id_sender_email">Sender address</a>: Enter a valid email address', page)
    assert re.search(r'<a href="#id_send_rate_per_second">', page)
    company.refresh_from_db()
    assert company.sender_email == ""


def test_a_header_breaking_sender_name_is_refused(owner_client, company):
    response = owner_client.post(reverse("sending_settings"), {**SENDING, "sender_name": "Acme\r\nBcc: x@y.z"})
    assert response.status_code == 400
    company.refresh_from_db()
    assert company.sender_name == ""


def test_marketers_and_viewers_read_the_sending_settings_only(client, company):
    company.sender_name = "Acme News"
    company.save()
    for role in (Role.MARKETER, Role.VIEWER):
        log_in(client, company, role)
        page = html(client.get(reverse("sending_settings")))
        assert "Acme News" in page and 'id="sending-settings-form"' not in page
        assert client.post(reverse("sending_settings"), SENDING).status_code == 403
    company.refresh_from_db()
    assert company.sender_email == ""


def test_the_nav_links_campaigns_and_sending(viewer_client):
    page = html(viewer_client.get(reverse("dashboard")))
    assert f'href="{reverse("campaigns:campaigns")}"' in page
    assert f'href="{reverse("sending_settings")}"' in page
