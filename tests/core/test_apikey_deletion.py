"""A deleted API key stops at once, like a revoked one, whatever path deleted it (issue 9).

The gateway caches a key's lookup for a minute; every deletion must drop it.
"""

import pytest

from salloq.core.models import ApiKey, Company
from tests.conftest import ApiClient
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def working_key(company) -> tuple[ApiKey, ApiClient]:
    api_key, plain = make_api_key(company)
    client = ApiClient(plain, company.pk)
    assert client.get("/api/").status_code == 200  # the lookup is now cached
    return api_key, client


def assert_refused(client: ApiClient):
    response = client.get("/api/")
    assert response.status_code == 401, response.content
    assert response.json()["error"] == "Invalid API key"


def test_admin_delete_stops_the_key_at_once(admin_client, company):
    api_key, client = working_key(company)
    response = admin_client.post(f"/admin/core/apikey/{api_key.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ApiKey.objects.filter(pk=api_key.pk).exists()
    assert_refused(client)


def test_admin_delete_selected_stops_every_key_at_once(admin_client, company):
    keys = [working_key(company) for _ in range(3)]
    kept_key, kept_client = working_key(company)
    response = admin_client.post(
        "/admin/core/apikey/",
        {"action": "delete_selected", "_selected_action": [key.pk for key, _ in keys], "post": "yes"},
    )
    assert response.status_code == 302
    for _, client in keys:
        assert_refused(client)
    assert kept_client.get("/api/").status_code == 200


def test_queryset_delete_stops_the_key_at_once(company):
    api_key, client = working_key(company)
    ApiKey.objects.filter(pk=api_key.pk).delete()
    assert_refused(client)


def test_deleting_the_company_stops_its_keys_at_once(company):
    _, client = working_key(company)
    Company.objects.filter(pk=company.pk).delete()
    assert_refused(client)


def test_a_change_saved_from_anywhere_applies_at_once(company):
    api_key, client = working_key(company)
    assert client.get("/api/")["X-RateLimit-Limit"] == "1000"
    api_key.hourly_limit = 5
    api_key.save(update_fields=["hourly_limit"])
    assert client.get("/api/")["X-RateLimit-Limit"] == "5"


def test_admin_change_form_still_saves_scopes(admin_client, company):
    api_key, client = working_key(company)
    page = admin_client.get(f"/admin/core/apikey/{api_key.pk}/change/")
    assert page.status_code == 200
    response = admin_client.post(
        f"/admin/core/apikey/{api_key.pk}/change/",
        {"name": "Renamed", "scopes": '["contacts:read"]', "hourly_limit": "7", "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    answer = client.get("/api/")
    assert answer.json()["scopes"] == ["contacts:read"]
    assert answer["X-RateLimit-Limit"] == "7"
