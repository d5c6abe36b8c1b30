"""What the live schemathesis run (bin/fuzz-schema) found on the catalog, store and order operations:
each a request the schema and the server judged differently, now judged alike."""

import json

import pytest

from tests.factories import OrderFactory, ProductCatalogFactory, StoreFactory

pytestmark = pytest.mark.django_db


def _options_allow(api, path) -> set[str]:
    response = api.request("OPTIONS", path, None)
    return {method.strip() for method in response["Allow"].split(",")}


def _served_methods(client, path) -> set[str]:
    spec = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    return {method.upper() for method in spec["paths"][path]}


@pytest.mark.parametrize("value", ["null", "1", "yes", "on", ""])
def test_a_product_filter_flag_is_true_or_false_only(api, company, value):
    catalog = ProductCatalogFactory(company=company)
    response = api.get(f"/api/catalogs/{catalog.public_id}/products/", {"available": value})
    assert response.status_code == 400 and "available" in response.json()["details"]
    assert api.get(f"/api/catalogs/{catalog.public_id}/products/", {"active": "false"}).status_code == 200


@pytest.mark.parametrize(
    "value", ["", "urn:uuid:12345678-1234-5678-1234-567812345678", "12345678123456781234567812345678"]
)
def test_a_catalog_id_is_the_canonical_uuid_form_only(api, company, value):
    response = api.get("/api/collections/", {"catalog_id": value})
    assert response.status_code == 400 and "catalog_id" in response.json()["details"]
    assert api.get(f"/api/catalogs/{value or 'x'}/products/").status_code == 404


def test_an_empty_store_id_filter_is_refused_and_the_schema_says_so(api, client):
    assert api.get("/api/orders/", {"store_id": ""}).status_code == 400
    spec = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    [store_id] = [p for p in spec["paths"]["/api/orders/"]["get"]["parameters"] if p["name"] == "store_id"]
    assert store_id["schema"]["minLength"] == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_an_update_without_a_body_changes_nothing_and_the_schema_allows_it(api, client, company, method):
    StoreFactory(company=company, external_id="s1", name="Kept")
    OrderFactory(company=company, external_id="o1")
    assert api.client.generic(method, "/api/stores/s1", headers=api.headers).json()["name"] == "Kept"
    assert api.client.generic(method, "/api/orders/o1", headers=api.headers).status_code == 200
    spec = json.loads(client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").content)
    for path in ("/api/stores/{external_id}", "/api/orders/{external_id}"):
        assert spec["paths"][path][method.lower()]["requestBody"].get("required", False) is False
    assert spec["paths"]["/api/orders/"]["post"]["requestBody"]["required"] is True


def test_the_batch_paths_document_every_method_their_options_answer_allows(api, client, company):
    catalog = ProductCatalogFactory(company=company)
    for path, template in (
        ("/api/orders/batch", "/api/orders/batch"),
        (f"/api/catalogs/{catalog.public_id}/products/batch/", "/api/catalogs/{catalog_id}/products/batch/"),
    ):
        assert _options_allow(api, path) - {"HEAD", "OPTIONS"} == _served_methods(client, template)
