"""POST /api/campaigns/send/{id} (now, at a time, at the planned time), pause, resume, cancel,
the test send and the stats: through the real delivery and rendering, a real SMTP sink."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from tests.contacts.conftest import smtp_sink  # noqa: F401 - the fixture
from tests.factories import ContactFactory, ContactListFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def newsletter(company):
    newsletter = ContactListFactory(company=company, name="Newsletter")
    for name in ("ann", "bob"):
        ContactFactory(
            company=company, email=f"{name}@example.com", first_name=name.title(), lists=[{"id": newsletter.pk}]
        )
    return newsletter


def create(api, **fields):
    body = {"name": "Summer Sale", "subject": "Hi {{ contact.first_name }}", "content": "<p>Sale</p>", **fields}
    response = api.post("/api/campaigns", body)
    assert response.status_code == 201, response.content
    return response.json()


def details(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["details"]


def test_send_without_a_body_starts_now_and_snapshots_the_audience(api, newsletter):
    campaign = create(api, list_id=newsletter.pk)
    response = api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["campaign_id"] == campaign["campaign_id"] and body["status"] == "sending"
    assert body["recipient_count"] == 2 and body["started_at"] is not None
    emails = CampaignRecipient.objects.filter(campaign_id=campaign["campaign_id"]).values_list("email", flat=True)
    assert sorted(emails) == ["ann@example.com", "bob@example.com"]
    # Sent once is sent: a second send is a 400 naming the status.
    assert "status" in details(api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {}))


def test_send_with_a_naive_time_schedules_it_in_the_sites_time_zone(api, newsletter, settings):
    settings.TIME_ZONE = "America/New_York"
    campaign = create(api, list_id=newsletter.pk)
    next_year = timezone.now().year + 1
    response = api.post(
        f"/api/campaigns/send/{campaign['campaign_id']}", {"scheduled_at": f"{next_year}-06-15 09:00:00"}
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    stored = Campaign.objects.get(pk=campaign["campaign_id"])
    assert stored.scheduled_at == datetime(next_year, 6, 15, 13, 0, tzinfo=UTC)  # 09:00 EDT
    assert not CampaignRecipient.objects.filter(campaign=stored).exists()  # the audience is taken at the start


def test_send_without_a_time_uses_the_planned_time_while_it_is_ahead(api, newsletter):
    planned = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    campaign = create(api, list_id=newsletter.pk, scheduled_at=planned.isoformat())
    response = api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "scheduled"
    assert Campaign.objects.get(pk=campaign["campaign_id"]).scheduled_at == planned


def test_a_planned_time_already_past_sends_at_once(api, newsletter):
    campaign = create(api, list_id=newsletter.pk, scheduled_at="2024-06-15 09:00:00")
    response = api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {"scheduled_at": None})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "sending"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scheduled_at": "2024-06-15 09:00:00"}, "scheduled_at"),
        ({"scheduled_at": "next week"}, "scheduled_at"),
        ({"scheduled_at": 5}, "scheduled_at"),
        ([1, 2], "non_field_errors"),
    ],
)
def test_send_refuses_bad_times_naming_the_field(api, newsletter, body, field):
    campaign = create(api, list_id=newsletter.pk)
    assert field in details(api.post(f"/api/campaigns/send/{campaign['campaign_id']}", body))
    assert Campaign.objects.get(pk=campaign["campaign_id"]).status == CampaignStatus.DRAFT


def test_an_sms_campaign_is_refused_naming_the_type(api, newsletter):
    campaign = create(api, list_id=newsletter.pk, type="sms")
    assert "type" in details(api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {}))


def test_a_campaign_without_audience_or_content_is_refused(api, newsletter):
    no_audience = create(api)
    # Named by the API's own audience field.
    assert "list_ids" in details(api.post(f"/api/campaigns/send/{no_audience['campaign_id']}", {}))
    no_content = create(api, list_id=newsletter.pk, content="")
    assert "content" in details(api.post(f"/api/campaigns/send/{no_content['campaign_id']}", {}))


def test_send_of_an_unknown_campaign_is_a_404(api):
    assert api.post("/api/campaigns/send/987654", {}).status_code == 404
    assert api.post("/api/campaigns/send/" + "9" * 30).status_code == 404


def test_pause_resume_cancel(api, newsletter):
    campaign = create(api, list_id=newsletter.pk)
    url = f"/api/campaigns/{campaign['campaign_id']}"
    assert "status" in details(api.post(f"{url}/pause"))  # a draft is not sending
    api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {})
    paused = api.post(f"{url}/pause")
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert "content" in details(api.patch(url, {"content": "<p>changed while paused</p>"}))
    resumed = api.post(f"{url}/resume")
    assert resumed.status_code == 200 and resumed.json()["status"] == "sending"
    cancelled = api.post(f"{url}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    statuses = set(
        CampaignRecipient.objects.filter(campaign_id=campaign["campaign_id"]).values_list("status", flat=True)
    )
    assert statuses == {RecipientStatus.SKIPPED}
    assert "status" in details(api.post(f"{url}/resume"))
    # A cancelled campaign may go (its figures with it).
    assert api.delete(url).status_code == 200


def test_a_test_send_reaches_the_given_addresses(api, newsletter, smtp_sink):  # noqa: F811
    campaign = create(api, list_id=newsletter.pk)
    response = api.post(f"/api/campaigns/{campaign['campaign_id']}/test", {"emails": ["me@acme.test"]})
    assert response.status_code == 200, response.content
    assert response.json() == {"campaign_id": campaign["campaign_id"], "sent": 1, "emails": ["me@acme.test"]}
    [message] = smtp_sink.wait_for(1)
    assert message["To"] == "me@acme.test" and message["Subject"].startswith("[Test]")
    assert Campaign.objects.get(pk=campaign["campaign_id"]).status == CampaignStatus.DRAFT


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "emails"),
        ({"emails": []}, "emails"),
        ({"emails": ["not-an-address"]}, "emails"),
        ({"emails": "a@b.c"}, "emails"),
    ],
)
def test_a_test_send_refuses_bad_addresses(api, newsletter, body, field):
    campaign = create(api, list_id=newsletter.pk)
    assert field in details(api.post(f"/api/campaigns/{campaign['campaign_id']}/test", body))


def test_stats_report_the_campaigns_figures(api, newsletter):
    campaign = create(api, list_id=newsletter.pk)
    api.post(f"/api/campaigns/send/{campaign['campaign_id']}", {})
    CampaignRecipient.objects.filter(campaign_id=campaign["campaign_id"], email="ann@example.com").update(
        status=RecipientStatus.SENT, sent_at=timezone.now(), first_opened_at=timezone.now(), open_count=2
    )
    response = api.get(f"/api/campaigns/{campaign['campaign_id']}/stats")
    assert response.status_code == 200, response.content
    stats = response.json()
    assert stats["campaign_id"] == campaign["campaign_id"]
    assert (stats["recipients"], stats["sent"], stats["pending"]) == (2, 1, 1)
    assert (stats["unique_opens"], stats["total_opens"], stats["rates"]["open_rate"]) == (1, 2, 1.0)
    listed = api.get("/api/campaigns").json()["campaigns"][0]
    assert (listed["recipient_count"], listed["sent"], listed["opened"], listed["clicked"]) == (2, 1, 1, 0)


def test_a_web_process_knows_the_send_task_it_enqueues(tmp_path):
    """Starting a campaign enqueues campaigns.tasks.send_campaign_batches by name; a web process that
    never imported the tasks module (no worker in it) must still know it, or the send is a 500."""
    code = (
        "import django; django.setup(); from celery import current_app; "
        "print('campaigns.tasks.send_campaign_batches' in current_app.tasks)"
    )
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "SALLOQ_VAR_DIR": str(tmp_path)}
    env.setdefault("DJANGO_SETTINGS_MODULE", "salloq.settings")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.stdout.strip() == "True", result.stderr
