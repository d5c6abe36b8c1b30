"""Product catalogs (SALESmanago API v3 catalogUpsert): name, currency, location, one default, and
the API's catalogs endpoints with their reason codes, scopes and tenant isolation."""

import uuid

import pytest
from django.core.exceptions import ValidationError

from catalog.models import ProductCatalog
from catalog.services.catalogs import catalog_upsert, default_catalog
from tests.conftest import make_api_client
from tests.factories import ProductCatalogFactory

pytestmark = pytest.mark.django_db

SHOP = {"name": "Example_com", "currency": "USD", "location": "examplecom"}


def create(api, **data) -> dict:
    response = api.post("/api/catalogs", {**SHOP, **data})
    assert response.status_code == 201, response.json()
    return response.json()


def refused(response, field: str, reason: int, status: int = 400) -> dict:
    assert response.status_code == status, response.json()
    details = response.json()["details"]
    assert details["reason_codes"][field] == reason, details
    assert details[field], details
    return details


def test_a_catalog_is_created_read_and_listed(api):
    body = create(api)
    assert body["name"] == "Example_com" and body["currency"] == "USD" and body["location"] == "examplecom"
    assert body["is_default"] is False
    assert api.get(f"/api/catalogs/{body['catalog_id']}").json() == body
    listed = api.get("/api/catalogs").json()
    assert [row["catalog_id"] for row in listed["catalogs"]] == [body["catalog_id"]]
    assert listed["pagination"]["total"] == 1


def test_with_catalog_id_only_the_given_fields_change(api):
    body = create(api)
    response = api.post("/api/catalogs", {"catalog_id": body["catalog_id"], "currency": "EUR"})
    assert response.status_code == 200
    assert response.json()["currency"] == "EUR" and response.json()["name"] == "Example_com"
    assert ProductCatalog.objects.count() == 1


@pytest.mark.parametrize("name", ["a" * 64, "Shop_2024", "_"])
def test_names_of_letters_digits_and_underscore_up_to_64_are_taken(api, name):
    assert create(api, name=name)["name"] == name


def test_a_name_over_64_is_reason_11(api):
    refused(api.post("/api/catalogs", {**SHOP, "name": "a" * 65}), "name", 11)


@pytest.mark.parametrize("name", ["Example.com", "my shop", "sklep-ą", ""])
def test_a_name_with_other_characters_is_reason_18(api, name):
    refused(api.post("/api/catalogs", {**SHOP, "name": name}), "name", 18)


@pytest.mark.parametrize("field", ["name", "currency", "location"])
def test_each_required_field_missing_is_reason_13(api, field):
    data = {key: value for key, value in SHOP.items() if key != field}
    refused(api.post("/api/catalogs", data), field, 13)


@pytest.mark.parametrize("field", ["name", "currency", "location"])
def test_a_field_of_the_wrong_type_is_reason_14(api, field):
    refused(api.post("/api/catalogs", {**SHOP, field: 42}), field, 14)


@pytest.mark.parametrize("currency", ["EUR", "PLN", "JPY", "CHF", "XAU"])
def test_current_iso_4217_currencies_are_taken(api, currency):
    assert create(api, currency=currency)["currency"] == currency


@pytest.mark.parametrize("currency", ["DEM", "FRF", "ITL", "ABC", "XXX", "usd", "US", "EURO"])
def test_withdrawn_unknown_and_malformed_currencies_are_reason_18(api, currency):
    details = refused(api.post("/api/catalogs", {**SHOP, "currency": currency}), "currency", 18)
    assert "ISO 4217" in details["currency"][0]


@pytest.mark.parametrize("location", ["examplecom", "_shop", "Shop_2", "a" * 255])
def test_locations_follow_salesmanagos_pattern(api, location):
    assert create(api, location=location)["location"] == location


@pytest.mark.parametrize("location", ["1shop", "shop.com", "shop-pl", "sklep ą"])
def test_a_location_starting_with_a_digit_or_with_other_characters_is_reason_18(api, location):
    refused(api.post("/api/catalogs", {**SHOP, "location": location}), "location", 18)


def test_a_location_over_255_is_reason_11(api):
    refused(api.post("/api/catalogs", {**SHOP, "location": "a" * 256}), "location", 11)


def test_a_taken_name_or_location_is_a_409_with_reason_15(api):
    create(api)
    details = refused(api.post("/api/catalogs", {**SHOP, "location": "other"}), "name", 15, status=409)
    assert "name" in details
    refused(api.post("/api/catalogs", {**SHOP, "name": "Other"}), "location", 15, status=409)


def test_an_unknown_catalog_id_is_a_404_with_reason_16(api):
    response = api.post("/api/catalogs", {"catalog_id": str(uuid.uuid4()), "currency": "EUR"})
    refused(response, "catalog_id", 16, status=404)


def test_unknown_fields_and_a_null_catalog_id_are_refused(api):
    refused(api.post("/api/catalogs", {**SHOP, "catalogName": "x"}), "catalogName", 18)
    refused(api.post("/api/catalogs", {**SHOP, "catalog_id": None}), "catalog_id", 14)
    assert api.post("/api/catalogs", ["not", "an", "object"]).status_code == 400


def test_a_new_default_takes_the_flag_from_the_old_one(api, company):
    first = create(api, is_default=True)
    second = create(api, name="Second", location="second", is_default=True)
    defaults = list(ProductCatalog.objects.filter(company=company, is_default=True).values_list("name", flat=True))
    assert defaults == ["Second"]
    assert api.get(f"/api/catalogs/{first['catalog_id']}").json()["is_default"] is False
    api.post("/api/catalogs", {"catalog_id": first["catalog_id"], "is_default": True})
    assert api.get(f"/api/catalogs/{second['catalog_id']}").json()["is_default"] is False
    assert default_catalog(company).public_id == uuid.UUID(first["catalog_id"])


def test_default_catalog_is_made_once_when_asked(company, other_company):
    assert default_catalog(company) is None
    made = default_catalog(company, create=True, currency="EUR")
    assert (made.name, made.location, made.currency, made.is_default) == ("default", "default", "EUR", True)
    assert default_catalog(company, create=True) == made
    assert ProductCatalog.objects.filter(company=company).count() == 1
    # Another company's default is its own.
    assert default_catalog(other_company) is None


def test_default_catalog_promotes_a_catalog_already_named_default(company):
    existing = catalog_upsert(company=company, data={"name": "default", "currency": "USD", "location": "shop"})
    assert default_catalog(company, create=True).pk == existing.pk


def test_the_service_refuses_with_codes_the_api_maps_to_reasons(company):
    with pytest.raises(ValidationError) as caught:
        catalog_upsert(company=company, data={"name": "bad name", "currency": "DEM"})
    codes = {name: [error.code for error in errors] for name, errors in caught.value.error_dict.items()}
    assert codes == {"name": ["structure"], "currency": ["structure"], "location": ["required"]}


def test_scopes_read_and_write(company):
    body = catalog_upsert(company=company, data=SHOP)
    reader = make_api_client(company, scopes=["catalog:read"])
    assert reader.get(f"/api/catalogs/{body.public_id}").status_code == 200
    assert reader.post("/api/catalogs", {**SHOP, "name": "x", "location": "x"}).status_code == 403
    writer = make_api_client(company, scopes=["catalog:write"])
    assert writer.post("/api/catalogs", {**SHOP, "name": "x", "location": "x"}).status_code == 201
    assert writer.get("/api/catalogs").status_code == 403
    contacts_only = make_api_client(company, scopes=["contacts:read"])
    assert contacts_only.get("/api/catalogs").status_code == 403


def test_another_companys_catalog_is_invisible_and_untouchable(api, other_api, company):
    ours = create(api)
    assert other_api.get(f"/api/catalogs/{ours['catalog_id']}").status_code == 404
    assert other_api.get("/api/catalogs").json()["catalogs"] == []
    response = other_api.post("/api/catalogs", {"catalog_id": ours["catalog_id"], "name": "Stolen"})
    assert response.status_code == 404
    assert ProductCatalog.objects.get(company=company).name == "Example_com"
    # The same name and location are free in another company.
    assert other_api.post("/api/catalogs", SHOP).status_code == 201


def test_a_malformed_catalog_id_in_the_path_is_a_404(api):
    assert api.get("/api/catalogs/not-a-uuid").status_code == 404
    ProductCatalogFactory()
    assert api.get(f"/api/catalogs/{uuid.uuid4()}").status_code == 404
