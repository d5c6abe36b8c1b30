"""The Salloq Marketing API document's campaign examples, sent as written.

The Python sample ("Send Campaign") runs for real: the document's text, verbatim, executed by
Python with the requests library against a live server, whose campaign a real Celery worker then
sends into a real SMTP sink. The only substitutions are the host (marketing.salloq.com becomes
the test server) and the placeholder key, as in tests/contacts/test_api_document_examples.py.
The create example is sent byte for byte.
"""

import json
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, CampaignRecipient, CampaignStatus, RecipientStatus
from contacts.models import ContactList
from tests.contacts.conftest import smtp_sink  # noqa: F401 - the fixture
from tests.factories import CompanyFactory, ContactFactory, make_api_key

DOCUMENT_HOST = "https://marketing.salloq.com"
COMPANY_ID = 1  # `company_id = 1`
LIST_ID = 1  # `'list_id': 1`

# --- The document's text, verbatim --------------------------------------------------------------

CREATE_EXAMPLE = """{
"name": "Summer Sale 2024",
"type": "email",
"subject": "🌞 50% Off Summer Collection!",
"preview_text": "Limited time offer on all summer items",
"content": "<h1>Summer Sale</h1><p>Get 50% off...</p>",
"list_id": 1,
"scheduled_at": "2024-06-15 09:00:00"
}"""

# "Send or schedule a campaign": its body, the comment aside (JSON has none).
SEND_EXAMPLE = """{
"scheduled_at": "2024-06-15 09:00:00" // Optional - omit to send immediately
}"""

CAMPAIGN_QUERY_PARAMETERS = ["type", "status", "page", "per_page"]

PYTHON_SAMPLE = """import requests
import json
api_key = 'YOUR_API_KEY'
company_id = 1
campaign_data = {
'name': 'Summer Sale',
'type': 'email',
'subject': '50% Off Everything!',
'content': '<h1>Summer Sale</h1><p>Limited time offer...</p>',
'list_id': 1
}
headers = {
'Content-Type': 'application/json',
'Authorization': f'Bearer {api_key}',
'X-Company-ID': str(company_id)
}
# Create campaign
response = requests.post(
'https://marketing.salloq.com/api/campaigns',
headers=headers,
data=json.dumps(campaign_data)
)
campaign = response.json()
campaign_id = campaign['campaign_id']
# Send campaign
send_response = requests.post(
f'https://marketing.salloq.com/api/campaigns/send/{campaign_id}',
headers=headers
)
print('Campaign sent:', send_response.json())"""


def _company_one_with_list_one():
    """Company 1 and its list 1, with one subscribed contact, as the samples assume."""
    company = CompanyFactory(id=COMPANY_ID, name="Acme Shop", sender_email="news@acme.test")
    newsletter = ContactList.objects.create(id=LIST_ID, company=company, name="Newsletter")
    ContactFactory(company=company, email="jane@example.com", first_name="Jane", lists=[{"id": newsletter.pk}])
    return company


def document_headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "X-Company-ID": str(COMPANY_ID), "Content-Type": "application/json"}


def send(method: str, path: str, key: str, body: str | None = None):
    extra = {"headers": document_headers(key)}
    if body is not None:
        extra.update(data=body.encode(), content_type="application/json")
    return getattr(Client(), method.lower())(path, **extra)


@pytest.mark.django_db
def test_the_create_example_is_accepted_as_written_as_a_draft_planned_for_its_time(settings):
    settings.TIME_ZONE = "UTC"
    key = make_api_key(_company_one_with_list_one())[1]
    response = send("POST", "/api/campaigns", key, CREATE_EXAMPLE)
    assert response.status_code == 201, response.content
    body = response.json()
    example = json.loads(CREATE_EXAMPLE)
    for field in ("name", "type", "subject", "preview_text", "content", "list_id"):
        assert body[field] == example[field], field
    assert body["subject"] == "🌞 50% Off Summer Collection!"
    campaign = Campaign.objects.get(pk=body["campaign_id"])
    # A naive time is the site's TIME_ZONE; the create only plans it: nothing goes out unasked.
    assert campaign.scheduled_at == timezone.make_aware(datetime(2024, 6, 15, 9, 0))
    assert campaign.status == CampaignStatus.DRAFT and body["status"] == "draft"
    # The list endpoint takes the documented query parameters.
    query = "&".join(
        f"{name}={value}" for name, value in zip(CAMPAIGN_QUERY_PARAMETERS, ["email", "draft", 1, 20], strict=True)
    )
    listed = send("GET", f"/api.php/campaigns?{query}", key).json()
    assert [row["campaign_id"] for row in listed["campaigns"]] == [body["campaign_id"]]


@pytest.mark.django_db
def test_the_send_example_schedules_and_its_2024_date_is_refused_as_past():
    key = make_api_key(_company_one_with_list_one())[1]
    campaign_id = send("POST", "/api/campaigns", key, CREATE_EXAMPLE).json()["campaign_id"]
    as_written = SEND_EXAMPLE.split(" //")[0] + "\n}"
    refused = send("POST", f"/api/campaigns/send/{campaign_id}", key, as_written)
    assert refused.status_code == 400 and "scheduled_at" in refused.json()["details"]
    next_year = str(timezone.now().year + 1)
    scheduled = send("POST", f"/api/campaigns/send/{campaign_id}", key, as_written.replace("2024", next_year))
    assert scheduled.status_code == 200, scheduled.content
    assert scheduled.json()["status"] == "scheduled"
    assert Campaign.objects.get(pk=campaign_id).scheduled_at > timezone.now() + timedelta(days=1)


@pytest.fixture
def company_one(transactional_db):
    return _company_one_with_list_one()


def test_the_python_sample_runs_as_written_and_the_list_gets_the_campaign(
    live_server,
    company_one,
    smtp_sink,  # noqa: F811
    celery_worker_thread,
):
    key = make_api_key(company_one, name="Document samples")[1]
    runnable = PYTHON_SAMPLE.replace(DOCUMENT_HOST, live_server.url).replace("YOUR_API_KEY", key)
    result = subprocess.run([sys.executable, "-c", runnable], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert result.stdout.startswith("Campaign sent: {"), result.stdout
    campaign = Campaign.objects.get(company=company_one)
    assert f"'campaign_id': {campaign.pk}" in result.stdout and "'status': 'sending'" in result.stdout
    [message] = smtp_sink.wait_for(1)
    assert message["Subject"] == "50% Off Everything!" and message["To"] == "jane@example.com"
    assert "Limited time offer" in message.get_body(("html",)).get_content()
    recipient = CampaignRecipient.objects.get(campaign=campaign)
    deadline = timezone.now() + timedelta(seconds=15)
    while recipient.status != RecipientStatus.SENT and timezone.now() < deadline:
        recipient.refresh_from_db()
    assert recipient.status == RecipientStatus.SENT
