"""GET/POST /api/templates and GET/PUT/PATCH/DELETE /api/templates/{id}: reusable layouts with a
{{ content }} slot, checked at save, scoped to the company."""

import json

import pytest

from campaigns.models import Campaign, CampaignStatus, EmailTemplate
from campaigns.services import TEMPLATE_HTML_MAX_LENGTH
from salloq.core.models import Scope
from tests.conftest import make_api_client

pytestmark = pytest.mark.django_db

LAYOUT = '<html><body><div class="wrap">{{ content }}</div><p>{{ company.name }}</p></body></html>'


def create(api, **fields):
    response = api.post("/api/templates", {"name": "Basic", "html": LAYOUT, **fields})
    assert response.status_code == 201, response.content
    return response.json()


def details(response) -> dict:
    assert response.status_code == 400, response.content
    return response.json()["details"]


def test_create_read_list_update_delete(api, company):
    body = create(api)
    template_id = body["template_id"]
    assert (body["name"], body["html"]) == ("Basic", LAYOUT)
    assert EmailTemplate.objects.get(pk=template_id).company == company
    assert api.get(f"/api/templates/{template_id}").json() == body
    listed = api.get("/api/templates").json()
    assert [row["template_id"] for row in listed["templates"]] == [template_id]
    assert listed["pagination"]["total"] == 1
    patched = api.patch(f"/api/templates/{template_id}", {"name": "Renamed"})
    assert patched.status_code == 200 and patched.json()["name"] == "Renamed" and patched.json()["html"] == LAYOUT
    put = api.put(f"/api/templates/{template_id}", {"name": "Plain", "html": "{{content}}"})
    assert put.status_code == 200 and put.json()["html"] == "{{content}}"
    assert "html" in details(api.put(f"/api/templates/{template_id}", {"name": "Plain"}))
    deleted = api.delete(f"/api/templates/{template_id}")
    assert deleted.status_code == 200 and deleted.json() == {"template_id": template_id, "deleted": True}
    assert api.get(f"/api/templates/{template_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"html": LAYOUT}, "name"),
        ({"name": "No slot"}, "html"),
        ({"name": "No slot", "html": "<p>nothing goes here</p>"}, "html"),
        ({"name": "Bad", "html": "{{ content }} {% load static %}"}, "html"),
        ({"name": "Bad", "html": "{{ content }}\n{{ contact.frist_name }}"}, "html"),
        ({"name": "x" * 201, "html": LAYOUT}, "name"),
        ({"name": "Big", "html": "{{ content }}" + "x" * 200_000}, "html"),
        ({"name": 7, "html": LAYOUT}, "name"),
    ],
)
def test_bad_templates_are_a_400_naming_the_field(api, body, field):
    assert field in details(api.post("/api/templates", body))
    assert not EmailTemplate.objects.exists()


def test_a_template_error_names_its_line(api):
    found = details(api.post("/api/templates", {"name": "Bad", "html": "{{ content }}\n\n{{ contact.frist_name }}"}))
    assert "line 3" in found["html"][0]


def test_a_duplicate_name_is_a_409(api):
    create(api)
    response = api.post("/api/templates", {"name": "Basic", "html": LAYOUT})
    assert response.status_code == 409 and "name" in response.json()["details"]
    other = create(api, name="Other")
    assert api.patch(f"/api/templates/{other['template_id']}", {"name": "Basic"}).status_code == 409


def test_a_campaign_uses_a_template_which_cannot_go_while_the_campaign_is_unsent(api):
    template = create(api)
    campaign = api.post("/api/campaigns", {"name": "With layout", "template_id": template["template_id"]}).json()
    assert campaign["template_id"] == template["template_id"]
    assert "template" in details(api.delete(f"/api/templates/{template['template_id']}"))
    Campaign.objects.filter(pk=campaign["campaign_id"]).update(status=CampaignStatus.SENT)
    assert api.delete(f"/api/templates/{template['template_id']}").status_code == 200


def test_another_companys_template_is_a_404_on_every_endpoint(api, other_api):
    theirs = create(other_api, name="Theirs")
    url = f"/api/templates/{theirs['template_id']}"
    assert api.get(url).status_code == 404
    assert api.put(url, {"name": "Mine", "html": LAYOUT}).status_code == 404
    assert api.patch(url, {"name": "Mine"}).status_code == 404
    assert api.delete(url).status_code == 404
    assert api.get("/api/templates").json()["templates"] == []
    # The same name is free in another company.
    create(api, name="Theirs")
    assert EmailTemplate.objects.get(pk=theirs["template_id"]).name == "Theirs"


def test_templates_need_the_campaigns_scopes(company):
    reader = make_api_client(company, scopes=[Scope.CAMPAIGNS_READ])
    assert reader.get("/api/templates").status_code == 200
    assert reader.post("/api/templates", {"name": "x", "html": LAYOUT}).status_code == 403


def test_the_longest_layout_fits_the_request_limit_even_with_every_character_escaped(api, settings):
    """The schema's maxLength and the body limit agree: an allowed layout of characters outside the
    BMP, each escaped by the client as a 12-byte surrogate pair, is saved, never a 413."""
    html = "{{ content }}" + "😀" * (TEMPLATE_HTML_MAX_LENGTH - len("{{ content }}"))
    body = json.dumps({"name": "Widest", "html": html})  # ensure_ascii: \ud83d\ude00 for each
    assert len(body) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = api.client.post("/api/templates", body, content_type="application/json", headers=api.headers)
    assert response.status_code == 201, response.content[:300]
