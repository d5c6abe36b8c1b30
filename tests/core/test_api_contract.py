"""The API contract: error shape everywhere, alias prefix, pagination bounds, wrong methods."""

import re

import pytest

from salloq.core.api import views as api_views
from tests.factories import make_api_key

pytestmark = pytest.mark.django_db


def test_alias_prefix_serves_the_same_api(api):
    assert api.get("/api.php/").json() == api.get("/api/").json()
    assert api.get("/api.php").status_code == 200
    assert api.get("/api.php/api-keys").json()["pagination"]["total"] == 1


def test_paths_work_with_and_without_trailing_slash(api):
    assert api.get("/api").status_code == 200
    assert api.get("/api/api-keys").status_code == 200
    assert api.get("/api/api-keys/").status_code == 200


def test_unknown_route_is_json_404(api):
    response = api.get("/api/no/such/thing")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": "Not found", "code": 404, "message": "No API endpoint at /api/no/such/thing."}


def test_unknown_route_on_alias_is_json_404(api):
    response = api.post("/api.php/nothing", {})
    assert response.status_code == 404
    assert response.json()["code"] == 404


def test_wrong_method_is_405_with_allow_header(api, api_key):
    response = api.put(f"/api/api-keys/{api_key[0].pk}", {"name": "x"})
    assert response.status_code == 405
    body = response.json()
    assert body == {
        "error": "Method Not Allowed",
        "code": 405,
        "message": f"Method PUT is not allowed on /api/api-keys/{api_key[0].pk}.",
    }
    assert "DELETE" in response["Allow"]


def test_unhandled_exception_is_json_500_without_traceback(api, monkeypatch):
    def explode(self, request):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(api_views.CredentialsView, "get", explode)
    response = api.get("/api/")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == 500 and body["error"] == "Internal Server Error"
    assert "secret internals" not in response.content.decode()
    assert "X-RateLimit-Limit" in response


def test_list_response_carries_total_and_pages(api, company):
    for n in range(4):
        make_api_key(company, name=f"key {n}")
    body = api.get("/api/api-keys", {"per_page": 2, "page": 2}).json()
    assert body["pagination"] == {"page": 2, "per_page": 2, "total": 5, "total_pages": 3}
    assert len(body["api_keys"]) == 2


def test_default_page_size_is_20_and_max_is_100(api, company):
    for n in range(24):
        make_api_key(company, name=f"key {n}")
    body = api.get("/api/api-keys").json()
    assert body["pagination"]["per_page"] == 20 and len(body["api_keys"]) == 20
    assert len(api.get("/api/api-keys", {"per_page": 100}).json()["api_keys"]) == 25


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"per_page": 101}, "per_page"),
        ({"per_page": 0}, "per_page"),
        ({"per_page": "ten"}, "per_page"),
        ({"page": 0}, "page"),
        ({"page": -1}, "page"),
        ({"page": "first"}, "page"),
    ],
)
def test_out_of_range_pagination_is_a_400_naming_the_parameter(api, params, field):
    response = api.get("/api/api-keys", params)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 400 and body["error"] == "Validation failed"
    assert list(body["details"]) == [field]


def test_page_past_the_end_is_empty_with_totals(api):
    body = api.get("/api/api-keys", {"page": 5}).json()
    assert body["api_keys"] == []
    assert body["pagination"] == {"page": 5, "per_page": 20, "total": 1, "total_pages": 1}


def test_empty_list_has_page_one(other_company):
    from tests.conftest import ApiClient

    key, plain = make_api_key(other_company)
    from salloq.core import services

    services.api_key_revoke(api_key=key)
    _, plain2 = make_api_key(other_company)
    body = ApiClient(plain2, other_company.pk).get("/api/api-keys").json()
    assert body["pagination"]["total"] == 2 and body["pagination"]["page"] == 1


def test_revoke_through_the_api(api, company):
    target, target_plain = make_api_key(company, name="leaked")
    response = api.delete(f"/api/api-keys/{target.pk}")
    assert response.status_code == 200
    assert response.json()["status"] == "revoked"
    from tests.conftest import ApiClient

    assert ApiClient(target_plain, company.pk).get("/api/").status_code == 401


def test_api_answers_json_whatever_the_accept_header(api):
    response = api.get("/api/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"


def test_schema_still_negotiates_yaml_or_json(client):
    assert client.get("/api/schema/", {"format": "json"})["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert client.get("/api/schema/")["Content-Type"].startswith("application/vnd.oai.openapi;")


def test_the_key_sending_the_request_cannot_revoke_itself(api, api_key):
    """An integration (or a fuzzer walking GET /api/api-keys -> DELETE) cannot lock itself out."""
    response = api.delete(f"/api/api-keys/{api_key[0].pk}")
    assert response.status_code == 409
    assert response.json()["error"] == "Conflict" and "another key" in response.json()["message"]
    assert api.get("/api/").status_code == 200


def test_options_on_every_api_path_answers_without_a_500(api):
    """DRF answers OPTIONS for every view; one without a serializer (a body checked against a JSON
    Schema) failed with a 500 until the API's metadata class (salloq.core.api.metadata)."""
    from drf_spectacular.generators import SchemaGenerator

    paths = SchemaGenerator().get_schema(request=None, public=True)["paths"]
    assert len(paths) > 20
    for path in paths:
        url = re.sub(r"\{[^}]+\}", "1", path)
        response = api.request("OPTIONS", url)
        assert response.status_code < 500, (url, response.content[:300])
