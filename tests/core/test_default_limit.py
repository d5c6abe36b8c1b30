"""API_DEFAULT_HOURLY_LIMIT is the limit of every new key whose creator does not choose one, on every
path that creates keys: the service, the model, the dashboard form, `create_api_key` and the demo."""

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from salloq.core import services
from salloq.core.demo import ensure_demo
from salloq.core.models import ApiKey, Role
from tests.conftest import ApiClient
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

# Not the built-in 1000, so a path that ignores the setting fails.
CONFIGURED = 250


@pytest.fixture(autouse=True)
def configured_default(settings):
    settings.API_DEFAULT_HOURLY_LIMIT = CONFIGURED


def test_the_service_gives_a_key_without_a_limit_the_configured_default(company):
    api_key, plain = services.api_key_create(company=company, name="Shop", scopes=["*"])
    assert api_key.hourly_limit == CONFIGURED
    # And the gateway counts against it.
    response = ApiClient(plain, company.pk).get("/api/")
    assert response["X-RateLimit-Limit"] == str(CONFIGURED)
    assert response.json()["hourly_limit"] == CONFIGURED


def test_a_limit_the_creator_chooses_wins(company):
    api_key, _ = services.api_key_create(company=company, name="Shop", scopes=["*"], hourly_limit=40)
    assert api_key.hourly_limit == 40


def test_the_model_default_reads_the_setting(company, settings):
    assert ApiKey(company=company).hourly_limit == CONFIGURED
    settings.API_DEFAULT_HOURLY_LIMIT = 75  # read when a key is made, not when the code was loaded
    assert ApiKey(company=company).hourly_limit == 75


def test_the_dashboard_form_offers_the_configured_default_and_creates_the_key_with_it(client, company):
    client.force_login(MembershipFactory(company=company, role=Role.OWNER).user)
    page = client.get("/settings/api-keys/").content.decode()
    field = re.search(r'<input[^>]*name="hourly_limit"[^>]*>', page).group(0)
    offered = re.search(r'value="(\d+)"', field).group(1)
    assert offered == str(CONFIGURED)
    response = client.post("/settings/api-keys/", {"name": "POS", "scopes": ["*"], "hourly_limit": offered})
    assert response.status_code == 200
    assert ApiKey.objects.for_company(company).get(name="POS").hourly_limit == CONFIGURED


def test_create_api_key_without_limit_uses_the_configured_default():
    out, err = StringIO(), StringIO()
    call_command("create_api_key", "--company", "Acme Shop", stdout=out, stderr=err)
    plain = json.loads(out.getvalue().strip().splitlines()[-1])["api_key"]
    assert ApiKey.objects.get(prefix=plain[:12]).hourly_limit == CONFIGURED
    assert f"{CONFIGURED}/hour" in err.getvalue()


def test_the_demo_key_gets_the_configured_default(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    credentials = ensure_demo()
    response = ApiClient(credentials["api_key"], credentials["company_id"]).get("/api/")
    assert response.json()["hourly_limit"] == CONFIGURED
