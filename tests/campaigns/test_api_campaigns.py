"""GET/POST /api/campaigns and GET/PUT/PATCH/DELETE /api/campaigns/{id}: the fields, their checks
(each a 400 naming the field), frozen content once sending started, tenant isolation and scopes."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus
from salloq.core.models import Scope
from tests.conftest import make_api_client
from tests.factories import ContactListFactory, SegmentFactory

pytestmark = pytest.mark.django_db


def create(api, **fields):
    body = {"name": "Summer Sale", "subject": "Hello", "content": "<p>Hi</p>", **fields}
    response = api.post("/api/campaigns", body)
    assert response.status_code == 201, response.content
    return response.json()


def details(response) -> dict:
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == 400 and body["error"] == "Validation failed"
    return body["details"]


# --- Create and read -------------------------------------------------------------------------------


def test_create_answers_the_campaign_with_its_campaign_id_as_a_draft(api, company):
    newsletter = ContactListFactory(company=company)
    vip = SegmentFactory(company=company)
    body = create(
        api,
        preview_text="Only this week",
        list_id=newsletter.pk,
        segment_ids=[vip.pk],
        from_name="Acme News",
        from_email="News@Acme.test",
        reply_to="help@acme.test",
    )
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    assert campaign.company == company and campaign.status == CampaignStatus.DRAFT
    assert body["status"] == "draft" and body["type"] == "email"
    assert (body["name"], body["subject"], body["preview_text"]) == ("Summer Sale", "Hello", "Only this week")
    assert body["list_id"] == newsletter.pk and body["list_ids"] == [newsletter.pk]
    assert body["segment_ids"] == [vip.pk] and body["excluded_list_ids"] == body["excluded_segment_ids"] == []
    assert (body["from_name"], body["from_email"], body["reply_to"]) == (
        "Acme News",
        "news@acme.test",
        "help@acme.test",
    )
    assert (body["recipient_count"], body["sent"], body["failed"], body["opened"], body["clicked"]) == (0, 0, 0, 0, 0)
    assert api.get(f"/api/campaigns/{campaign.pk}").json() == body


def test_list_id_and_list_ids_together_are_one_audience_with_exclusions(api, company):
    first, second, third = ContactListFactory.create_batch(3, company=company)
    segment = SegmentFactory(company=company)
    body = create(
        api,
        list_id=first.pk,
        list_ids=[second.pk, first.pk],
        excluded_list_ids=[third.pk],
        excluded_segment_ids=[segment.pk],
    )
    assert body["list_ids"] == sorted([first.pk, second.pk])
    assert body["excluded_list_ids"] == [third.pk] and body["excluded_segment_ids"] == [segment.pk]
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    assert set(campaign.lists.values_list("pk", flat=True)) == {first.pk, second.pk}


def test_content_is_sanitized_of_scripts_and_event_handlers(api):
    body = create(api, content='<h1 onclick="steal()">Sale</h1><script>alert(1)</script><a href="javascript:x()">a</a>')
    assert "script" not in body["content"] and "onclick" not in body["content"] and "javascript:" not in body["content"]
    assert "Sale" in body["content"]


def test_personalization_is_kept_and_checked_at_save(api):
    body = create(api, subject='Hi {{ contact.first_name|default:"there" }}', content="<p>{{ contact.email }}</p>")
    assert body["subject"] == 'Hi {{ contact.first_name|default:"there" }}'
    assert "{{ contact.email }}" in body["content"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subject", "Hi {{ contact.first_name|nosuchfilter }}"),
        ("subject", "{{ settings.SECRET_KEY }}"),
        ("preview_text", "{% load static %}"),
        ("content", "<p>one</p>\n<p>{% if %}</p>"),
    ],
)
def test_a_template_error_is_a_400_naming_the_field(api, field, value):
    response = api.post("/api/campaigns", {"name": "Broken", field: value})
    assert field in details(response)
    assert not Campaign.objects.exists()


def test_a_content_error_names_its_line(api):
    response = api.post("/api/campaigns", {"name": "Broken", "content": "<p>one</p>\n<p>two</p>\n{% if %}"})
    assert "line 3" in " ".join(details(response)["content"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": 42}, "name"),
        ({"name": "a", "subject": "x" * 256}, "subject"),
        ({"name": "a", "subject": "News\nBcc: attacker@evil.test"}, "subject"),
        ({"name": "a", "preview_text": "x" * 256}, "preview_text"),
        ({"name": "a", "type": "fax"}, "type"),
        ({"name": "a", "from_email": "not an address"}, "from_email"),
        ({"name": "a", "reply_to": "nobody@"}, "reply_to"),
        ({"name": "a", "from_name": "Acme\r\nBcc: x@evil.test"}, "from_name"),
        ({"name": "a", "list_id": "1"}, "list_id"),
        ({"name": "a", "list_id": 0}, "list_id"),
        ({"name": "a", "list_ids": [1.5]}, "list_ids"),
        ({"name": "a", "segment_ids": "1"}, "segment_ids"),
        ({"name": "a", "list_ids": list(range(1, 102))}, "list_ids"),
        ({"name": "a", "scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"name": "a", "scheduled_at": "2024-13-45 09:00:00"}, "scheduled_at"),
        ({"name": "a", "scheduled_at": 1718442000}, "scheduled_at"),
        ({"name": "a", "content": "x" * 500_001}, "content"),
        ({"name": "a", "template_id": 999999}, "template_id"),
    ],
)
def test_bad_fields_are_a_400_naming_the_field(api, body, field):
    assert field in details(api.post("/api/campaigns", body))
    assert not Campaign.objects.exists()


def test_unknown_list_and_segment_ids_are_refused_by_name(api):
    response = api.post(
        "/api/campaigns",
        {"name": "a", "list_id": 987654, "segment_ids": [987655], "excluded_list_ids": [987656]},
    )
    found = details(response)
    assert {"list_id", "segment_ids", "excluded_list_ids"} <= set(found)
    assert "987654" in found["list_id"][0]


def test_a_naive_scheduled_at_is_the_sites_time_zone_and_keeps_the_campaign_a_draft(api, settings):
    settings.TIME_ZONE = "Europe/Paris"
    body = create(api, scheduled_at="2030-06-15 09:00:00")
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    assert campaign.scheduled_at == datetime(2030, 6, 15, 7, 0, tzinfo=UTC)  # 09:00 in Paris (summer)
    assert campaign.status == CampaignStatus.DRAFT
    offset = create(api, name="b", scheduled_at="2030-06-15T09:00:00Z")
    assert Campaign.objects.get(pk=offset["campaign_id"]).scheduled_at == datetime(2030, 6, 15, 9, 0, tzinfo=UTC)


def test_list_filters_by_type_and_status_and_paginates(api, company):
    for n in range(3):
        create(api, name=f"Email {n}")
    sms = create(api, name="Text", type="sms")
    Campaign.objects.filter(name="Email 0").update(status=CampaignStatus.SENT)
    listed = api.get("/api/campaigns?per_page=2&page=1").json()
    assert listed["pagination"] == {"page": 1, "per_page": 2, "total": 4, "total_pages": 2}
    assert [row["name"] for row in listed["campaigns"]] == ["Text", "Email 2"]  # newest first
    assert [row["campaign_id"] for row in api.get("/api/campaigns?type=sms").json()["campaigns"]] == [
        sms["campaign_id"]
    ]
    assert [row["name"] for row in api.get("/api/campaigns?status=sent").json()["campaigns"]] == ["Email 0"]
    assert api.get("/api/campaigns?status=&type=").json()["pagination"]["total"] == 4
    assert "status" in details(api.get("/api/campaigns?status=archived"))
    assert "type" in details(api.get("/api/campaigns?type=fax"))
    assert "per_page" in details(api.get("/api/campaigns?per_page=101"))


def test_the_list_reads_a_page_in_a_fixed_number_of_queries(api, company, django_assert_max_num_queries):
    lists = ContactListFactory.create_batch(2, company=company)
    for n in range(12):
        create(api, name=f"C{n}", list_ids=[x.pk for x in lists])
    # key lookup and rate limit aside: count, page, four audience prefetches.
    with django_assert_max_num_queries(12):
        response = api.get("/api/campaigns?per_page=12")
    assert len(response.json()["campaigns"]) == 12


# --- Update and delete -----------------------------------------------------------------------------


def test_patch_changes_only_the_fields_given(api, company):
    newsletter = ContactListFactory(company=company)
    body = create(api, list_id=newsletter.pk)
    changed = api.patch(f"/api/campaigns/{body['campaign_id']}", {"subject": "New subject"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["subject"] == "New subject" and changed.json()["list_ids"] == [newsletter.pk]


def test_put_replaces_the_campaign_leaving_out_fields_empty(api, company):
    body = create(api, preview_text="Soon", list_id=ContactListFactory(company=company).pk)
    replaced = api.put(f"/api/campaigns/{body['campaign_id']}", {"name": "Renamed", "content": "<p>New</p>"})
    assert replaced.status_code == 200, replaced.content
    answer = replaced.json()
    assert (answer["name"], answer["preview_text"], answer["subject"], answer["list_ids"]) == ("Renamed", "", "", [])
    assert "name" in details(api.put(f"/api/campaigns/{body['campaign_id']}", {"subject": "no name"}))


@pytest.mark.parametrize("started", [CampaignStatus.SENDING, CampaignStatus.PAUSED, CampaignStatus.SENT])
def test_content_is_frozen_once_sending_started(api, company, started):
    newsletter = ContactListFactory(company=company)
    body = create(api, list_id=newsletter.pk)
    Campaign.objects.filter(pk=body["campaign_id"]).update(status=started)
    url = f"/api/campaigns/{body['campaign_id']}"
    for change in (
        {"content": "<p>changed</p>"},
        {"subject": "changed"},
        {"list_ids": []},
        {"list_id": ContactListFactory(company=company).pk},
        {"from_email": "other@acme.test"},
        {"scheduled_at": "2031-01-01 00:00:00"},
    ):
        found = details(api.patch(url, change))
        assert set(found) == set(change), found
        assert "frozen" in found[next(iter(change))][0]
    assert Campaign.objects.get(pk=body["campaign_id"]).content == "<p>Hi</p>"
    # The same values again are no change; the name may still change.
    same = api.patch(url, {"content": "<p>Hi</p>", "list_id": newsletter.pk, "name": "Renamed"})
    assert same.status_code == 200, same.content
    assert same.json()["name"] == "Renamed"


def test_a_scheduled_campaign_moves_only_to_a_future_time(api):
    body = create(api)
    Campaign.objects.filter(pk=body["campaign_id"]).update(
        status=CampaignStatus.SCHEDULED, scheduled_at=timezone.now() + timedelta(days=1)
    )
    url = f"/api/campaigns/{body['campaign_id']}"
    assert "scheduled_at" in details(api.patch(url, {"scheduled_at": "2020-01-01 00:00:00"}))
    assert "scheduled_at" in details(api.patch(url, {"scheduled_at": None}))
    moved = api.patch(url, {"scheduled_at": "2035-01-01T08:00:00Z", "content": "<p>still editable</p>"})
    assert moved.status_code == 200, moved.content
    assert moved.json()["status"] == "scheduled" and moved.json()["content"] == "<p>still editable</p>"


def test_delete_removes_a_draft_but_not_a_sending_campaign(api):
    draft = create(api, name="Draft")
    response = api.delete(f"/api/campaigns/{draft['campaign_id']}")
    assert response.status_code == 200 and response.json() == {"campaign_id": draft["campaign_id"], "deleted": True}
    assert api.get(f"/api/campaigns/{draft['campaign_id']}").status_code == 404
    sending = create(api, name="Sending")
    Campaign.objects.filter(pk=sending["campaign_id"]).update(status=CampaignStatus.SENDING)
    assert "status" in details(api.delete(f"/api/campaigns/{sending['campaign_id']}"))
    assert Campaign.objects.filter(pk=sending["campaign_id"]).exists()


# --- Tenant isolation and scopes -------------------------------------------------------------------


def test_another_companys_campaign_is_a_404_on_every_endpoint(api, other_api, other_company):
    theirs = create(other_api, name="Theirs")
    url = f"/api/campaigns/{theirs['campaign_id']}"
    assert api.get(url).status_code == 404
    assert api.put(url, {"name": "Mine now"}).status_code == 404
    assert api.patch(url, {"name": "Mine now"}).status_code == 404
    assert api.delete(url).status_code == 404
    for verb in ("pause", "resume", "cancel"):
        assert api.post(f"{url}/{verb}").status_code == 404
    assert api.post(f"{url}/test", {"emails": ["me@acme.test"]}).status_code == 404
    assert api.get(f"{url}/stats").status_code == 404
    assert api.post(f"/api/campaigns/send/{theirs['campaign_id']}", {}).status_code == 404
    assert api.get("/api/campaigns").json()["campaigns"] == []
    campaign = Campaign.objects.get(pk=theirs["campaign_id"])
    assert (campaign.name, campaign.status) == ("Theirs", CampaignStatus.DRAFT)


def test_another_companys_lists_segments_and_templates_are_refused_without_a_leak(api, other_company):
    their_list = ContactListFactory(company=other_company, name="Their secret list")
    their_segment = SegmentFactory(company=other_company)
    from campaigns.services import template_create

    their_template = template_create(company=other_company, data={"name": "T", "html": "<div>{{ content }}</div>"})
    response = api.post(
        "/api/campaigns",
        {
            "name": "Sneaky",
            "list_id": their_list.pk,
            "list_ids": [their_list.pk],
            "segment_ids": [their_segment.pk],
            "excluded_list_ids": [their_list.pk],
            "excluded_segment_ids": [their_segment.pk],
            "template_id": their_template.pk,
        },
    )
    found = details(response)
    assert set(found) == {
        "list_id",
        "list_ids",
        "segment_ids",
        "excluded_list_ids",
        "excluded_segment_ids",
        "template_id",
    }
    assert found["list_id"] == [f"No list with id {their_list.pk} in your company."]
    assert "secret" not in response.content.decode()
    assert not Campaign.objects.filter(name="Sneaky").exists()


def test_an_update_cannot_point_at_another_companys_list(api, other_company):
    body = create(api)
    their_list = ContactListFactory(company=other_company)
    assert "list_ids" in details(api.patch(f"/api/campaigns/{body['campaign_id']}", {"list_ids": [their_list.pk]}))


def test_scopes_campaigns_read_and_campaigns_write(company):
    reader = make_api_client(company, scopes=[Scope.CAMPAIGNS_READ])
    writer = make_api_client(company, scopes=[Scope.CAMPAIGNS_WRITE])
    contacts_only = make_api_client(company, scopes=[Scope.CONTACTS_READ, Scope.CONTACTS_WRITE])
    assert reader.get("/api/campaigns").status_code == 200
    refused = reader.post("/api/campaigns", {"name": "x"})
    assert refused.status_code == 403 and "campaigns:write" in refused.json()["message"]
    created = writer.post("/api/campaigns", {"name": "x"})
    assert created.status_code == 201
    campaign_id = created.json()["campaign_id"]
    assert writer.get(f"/api/campaigns/{campaign_id}").status_code == 403
    assert reader.get(f"/api/campaigns/{campaign_id}").status_code == 200
    assert reader.post(f"/api/campaigns/send/{campaign_id}").status_code == 403
    assert reader.delete(f"/api/campaigns/{campaign_id}").status_code == 403
    assert contacts_only.get("/api/campaigns").status_code == 403
    assert contacts_only.get("/api/templates").status_code == 403


def test_without_a_key_the_answer_is_401(client):
    response = client.get("/api/campaigns")
    assert response.status_code == 401 and response.json()["code"] == 401
