"""Stores in the API: GET/POST /api/stores, GET/PUT/PATCH /api/stores/{external_id}."""

from urllib.parse import quote

import pytest

from catalog.models import Store
from tests.conftest import make_api_client
from tests.factories import StoreFactory

pytestmark = pytest.mark.django_db

SPLIO_STORE = {
    "external_id": "2",
    "name": "Paris Concept Store",
    "channel": "offline",
    "store_type": "Flagship",
    "manager": "Tom",
    "custom_fields": {"phone": "01 84 73 11 10"},
}


def test_create_get_and_list_a_store(api):
    created = api.post("/api/stores", SPLIO_STORE)
    assert created.status_code == 201, created.content
    assert created.json()["custom_fields"] == {"phone": "01 84 73 11 10"}
    got = api.get("/api/stores/2").json()
    assert {key: got[key] for key in SPLIO_STORE} == SPLIO_STORE
    listed = api.get("/api/stores").json()
    assert [store["external_id"] for store in listed["stores"]] == ["2"]
    assert listed["pagination"]["total"] == 1


def test_post_again_updates_and_put_patch_change_only_what_is_given(api):
    api.post("/api/stores", SPLIO_STORE)
    again = api.post("/api/stores", {"external_id": "2", "name": "Global Headquarters"})
    assert again.status_code == 200 and again.json()["manager"] == "Tom"
    put = api.put("/api/stores/2", {"custom_fields": {"phone": "01 84 73 11 11"}})
    assert put.status_code == 200, put.content
    assert put.json()["name"] == "Global Headquarters" and put.json()["custom_fields"]["phone"] == "01 84 73 11 11"
    patched = api.patch("/api/stores/2", {"channel": "online"}).json()
    assert patched["channel"] == "online" and patched["store_type"] == "Flagship"


def test_an_external_id_with_any_characters_is_reached_url_encoded(api):
    external_id = "Paris/Rive gauche?#1"
    assert api.post("/api/stores", {"external_id": external_id, "name": "Rive gauche"}).status_code == 201
    response = api.get("/api/stores/" + quote(external_id, safe=""))
    assert response.status_code == 200 and response.json()["external_id"] == external_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "No id"}, "external_id"),
        ({"external_id": "S"}, "name"),
        ({"external_id": "S", "name": "  "}, "name"),
        ({"external_id": "S", "name": "N", "channel": "mall"}, "channel"),
        ({"external_id": "S", "name": "x" * 256}, "name"),
        ({"external_id": "S", "name": "N", "colour": "red"}, "colour"),
        ({"external_id": True, "name": "N"}, "external_id"),
    ],
)
def test_a_bad_store_is_a_400_naming_the_field(api, body, field):
    response = api.post("/api/stores", body)
    assert response.status_code == 400
    assert field in response.json()["details"]
    assert not Store.objects.exists()


def test_the_external_id_cannot_change_and_a_missing_store_is_a_404(api):
    api.post("/api/stores", SPLIO_STORE)
    response = api.patch("/api/stores/2", {"external_id": "3"})
    assert response.status_code == 400 and "external_id" in response.json()["details"]
    assert api.put("/api/stores/missing", {"name": "x"}).status_code == 404
    assert api.get("/api/stores/%00").status_code == 400  # the API refuses NUL anywhere (input guard)
    assert api.get("/api/stores/" + "x" * 300).status_code == 404


def test_another_company_cannot_see_or_touch_our_stores(api, other_api, company):
    StoreFactory(company=company, external_id="OURS", name="Ours")
    assert other_api.get("/api/stores").json()["stores"] == []
    for method in ("get", "put", "patch"):
        response = getattr(other_api, method)("/api/stores/OURS", {"name": "Theirs"} if method != "get" else None)
        assert response.status_code == 404, method
    # Their own store of the same id is theirs.
    assert other_api.post("/api/stores", {"external_id": "OURS", "name": "Theirs"}).status_code == 201
    assert Store.objects.get(company=company).name == "Ours"


def test_scopes(company):
    reader = make_api_client(company, scopes=["catalog:read"])
    outsider = make_api_client(company, scopes=["contacts:read"])
    StoreFactory(company=company, external_id="S")
    assert reader.get("/api/stores/S").status_code == 200
    assert reader.post("/api/stores", {"external_id": "T", "name": "T"}).status_code == 403
    assert reader.patch("/api/stores/S", {"name": "T"}).status_code == 403
    assert outsider.get("/api/stores").status_code == 403
    writer = make_api_client(company, scopes=["catalog:write"])
    assert writer.post("/api/stores", {"external_id": "T", "name": "T"}).status_code == 201
