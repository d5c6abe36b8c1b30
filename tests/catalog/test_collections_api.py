"""Product collections (SALESmanago API v3 product/collection/*): create, add and remove products for
contacts (by id or email, unknown ones reported), list a contact's products, delete; limits, scopes
and tenant isolation."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import CollectionItem, ProductCollection
from catalog.services.catalogs import catalog_upsert
from catalog.services.collections import collection_add_products
from catalog.services.products import product_upsert_batch
from tests.conftest import make_api_client
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def make_catalog(company, name="Shop", products=("P0123", "P1234", "P2345", "P3456")):
    catalog = catalog_upsert(company=company, data={"name": name, "currency": "EUR", "location": name.lower()})
    items = [
        {
            "product_id": product_id,
            "name": product_id,
            "main_category": "shoes",
            "product_url": f"https://example.com/{product_id}",
            "available": True,
            "price": 10,
        }
        for product_id in products
    ]
    assert all(r.status == "created" for r in product_upsert_batch(catalog=catalog, items=items))
    return catalog


@pytest.fixture
def catalog(company):
    return make_catalog(company)


@pytest.fixture
def wishlist(api, catalog) -> str:
    response = api.post("/api/collections", {"name": "Wishlist", "catalog_id": str(catalog.public_id)})
    assert response.status_code == 201, response.json()
    return response.json()["collection_id"]


def products_of(api, collection_id: str, contact_id: int) -> list[str]:
    response = api.get(f"/api/collections/{collection_id}/contacts/{contact_id}/products")
    assert response.status_code == 200, response.json()
    return response.json()["products"]


def test_a_collection_is_created_listed_read_and_named_once_per_catalog(api, catalog, wishlist):
    listed = api.get("/api/collections").json()["collections"]
    assert [(c["collection_id"], c["name"], c["catalog_id"]) for c in listed] == [
        (wishlist, "Wishlist", str(catalog.public_id))
    ]
    assert api.get(f"/api/collections/{wishlist}").json()["name"] == "Wishlist"
    response = api.post("/api/collections", {"name": "Wishlist", "catalog_id": str(catalog.public_id)})
    assert response.status_code == 409 and response.json()["details"]["reason_codes"] == {"name": 15}
    assert api.get("/api/collections", {"catalog_id": str(catalog.public_id)}).json()["pagination"]["total"] == 1


def test_creating_checks_name_and_catalog(api, catalog):
    catalog_id = str(catalog.public_id)
    response = api.post("/api/collections", {"name": "x" * 256, "catalog_id": catalog_id})
    assert response.status_code == 400 and response.json()["details"]["reason_codes"] == {"name": 11}
    assert api.post("/api/collections", {"name": "x" * 255, "catalog_id": catalog_id}).status_code == 201
    response = api.post("/api/collections", {"name": "Wishlist", "catalog_id": "00000000-0000-0000-0000-000000000000"})
    assert response.status_code == 404 and response.json()["details"]["reason_codes"] == {"catalog_id": 16}
    response = api.post("/api/collections", {"name": "Wishlist"})
    assert response.status_code == 400 and response.json()["details"]["reason_codes"] == {"catalog_id": 13}
    response = api.post("/api/collections", {"name": "  ", "catalog_id": catalog_id})
    assert response.status_code == 400 and response.json()["details"]["reason_codes"] == {"name": 13}
    response = api.post("/api/collections", {"name": 5, "catalog_id": catalog_id})
    assert response.status_code == 400 and response.json()["details"]["reason_codes"] == {"name": 14}


def test_products_are_added_for_contacts_by_id_or_email_and_unknown_ones_reported(api, company, wishlist):
    anna, ben = ContactFactory(company=company), ContactFactory(company=company, email="ben@example.com")
    body = {
        "contacts": [
            {"contact_id": anna.pk, "product_ids": ["P0123", "P1234", "P2345"]},
            {"email": "BEN@example.com", "product_ids": ["P0123", "P3456"]},
            {"contact_id": 987654, "product_ids": ["P0123"]},
            {"email": "nobody@example.com", "product_ids": ["P0123"]},
        ]
    }
    response = api.post(f"/api/collections/{wishlist}/products/add", body)
    assert response.status_code == 200
    answer = response.json()
    assert answer["message"] == "Products added for 2 out of 4 contacts."
    assert (answer["success"], answer["contacts_done"], answer["items_changed"]) == (False, 2, 5)
    assert [(p["index"], p["reason"], list(p["errors"])) for p in answer["problems"]] == [
        (2, 16, ["contact_id"]),
        (3, 16, ["email"]),
    ]
    assert products_of(api, wishlist, anna.pk) == ["P0123", "P1234", "P2345"]
    assert products_of(api, wishlist, ben.pk) == ["P0123", "P3456"]
    # Adding what a contact has is no change.
    again = api.post(f"/api/collections/{wishlist}/products/add", {"contacts": body["contacts"][:1]}).json()
    assert again["success"] is True and again["items_changed"] == 0


def test_an_entry_naming_a_product_outside_the_catalog_changes_nothing(api, company, wishlist):
    anna = ContactFactory(company=company)
    other = make_catalog(company, name="Other", products=("ELSEWHERE",))
    assert other.pk
    answer = api.post(
        f"/api/collections/{wishlist}/products/add",
        {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123", "ELSEWHERE", "NOPE"]}]},
    ).json()
    assert answer["message"] == "Products added for 0 out of 1 contacts."
    [problem] = answer["problems"]
    assert problem["reason"] == 16 and "ELSEWHERE, NOPE" in problem["errors"]["product_ids"][0]
    assert products_of(api, wishlist, anna.pk) == []


def test_entries_are_checked_one_by_one_with_reason_codes(api, company, wishlist):
    anna = ContactFactory(company=company)
    entries = [
        {"contact_id": anna.pk, "product_ids": ["P0123"]},
        {"product_ids": ["P0123"]},
        {"contact_id": "12", "product_ids": ["P0123"]},
        {"contact_id": anna.pk, "product_ids": [f"P{n}" for n in range(101)]},
        {"contact_id": anna.pk, "product_ids": ["x" * 256]},
        {"contact_id": anna.pk, "product_ids": "P0123"},
        {"contact_id": anna.pk, "product_ids": ["P0123"], "extra": 1},
        "P0123",
        {"contact_id": anna.pk},
    ]
    answer = api.post(f"/api/collections/{wishlist}/products/add", {"contacts": entries}).json()
    assert answer["contacts_done"] == 1
    assert [(p["index"], p["reason"]) for p in answer["problems"]] == [
        (1, 13),
        (2, 14),
        (3, 11),
        (4, 11),
        (5, 14),
        (6, 18),
        (7, 14),
        (8, 13),
    ]


def test_more_than_1000_entries_is_a_400_with_reason_19_and_1000_are_taken(api, company, wishlist):
    anna = ContactFactory(company=company)
    entry = {"contact_id": anna.pk, "product_ids": ["P0123"]}
    response = api.post(f"/api/collections/{wishlist}/products/add", {"contacts": [entry] * 1001})
    assert response.status_code == 400 and response.json()["details"]["reason_codes"] == {"contacts": 19}
    answer = api.post(f"/api/collections/{wishlist}/products/add", {"contacts": [entry] * 1000}).json()
    assert answer["contacts_done"] == 1000 and answer["items_changed"] == 1
    assert api.post(f"/api/collections/{wishlist}/products/add", {"contacts": []}).status_code == 400


def test_adding_for_many_contacts_costs_a_few_queries(company, catalog):
    collection = ProductCollection.objects.create(company=company, catalog=catalog, name="Interested in")
    contacts = [ContactFactory(company=company) for _ in range(30)]
    entries = [{"contact_id": c.pk, "product_ids": ["P0123", "P1234"]} for c in contacts]
    with CaptureQueriesContext(connection) as queries:
        change = collection_add_products(collection=collection, entries=entries)
    assert change.done == 30 and change.changed_items == 60
    assert len(queries.captured_queries) <= 6, [q["sql"][:80] for q in queries.captured_queries]


def test_products_are_removed_and_a_contacts_list_follows(api, company, wishlist):
    anna = ContactFactory(company=company)
    api.post(
        f"/api/collections/{wishlist}/products/add",
        {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123", "P1234", "P2345"]}]},
    )
    answer = api.post(
        f"/api/collections/{wishlist}/products/remove",
        {
            "contacts": [
                {"email": anna.email, "product_ids": ["P1234", "P3456"]},
                {"contact_id": 999999, "product_ids": ["P0123"]},
            ]
        },
    ).json()
    assert answer["message"] == "Products removed for 1 out of 2 contacts."
    assert answer["items_changed"] == 1 and answer["problems"][0]["reason"] == 16
    assert products_of(api, wishlist, anna.pk) == ["P0123", "P2345"]


def test_deleting_a_collection_deletes_its_items_only(api, company, catalog, wishlist):
    anna = ContactFactory(company=company)
    other = api.post("/api/collections", {"name": "Interested in", "catalog_id": str(catalog.public_id)}).json()
    for collection_id in (wishlist, other["collection_id"]):
        api.post(
            f"/api/collections/{collection_id}/products/add",
            {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123"]}]},
        )
    response = api.delete(f"/api/collections/{wishlist}")
    assert response.status_code == 200 and response.json() == {"collection_id": wishlist, "deleted": True}
    assert api.get(f"/api/collections/{wishlist}").status_code == 404
    assert api.delete(f"/api/collections/{wishlist}").status_code == 404
    assert CollectionItem.objects.count() == 1
    assert products_of(api, other["collection_id"], anna.pk) == ["P0123"]


def test_an_unknown_contact_or_collection_is_a_404_when_listing(api, company, wishlist, other_company):
    stranger = ContactFactory(company=other_company)
    assert api.get(f"/api/collections/{wishlist}/contacts/{stranger.pk}/products").status_code == 404
    assert api.get(f"/api/collections/{wishlist}/contacts/99999999999999999999/products").status_code == 404
    assert api.get("/api/collections/00000000-0000-0000-0000-000000000000").status_code == 404
    assert api.get("/api/collections/nope").status_code == 404


def test_scopes_read_and_write(company, catalog, wishlist):
    anna = ContactFactory(company=company)
    reader = make_api_client(company, scopes=["catalog:read"])
    writer = make_api_client(company, scopes=["catalog:write"])
    add = {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123"]}]}
    assert reader.post(f"/api/collections/{wishlist}/products/add", add).status_code == 403
    assert reader.delete(f"/api/collections/{wishlist}").status_code == 403
    assert reader.post("/api/collections", {"name": "x", "catalog_id": str(catalog.public_id)}).status_code == 403
    assert writer.post(f"/api/collections/{wishlist}/products/add", add).status_code == 200
    assert reader.get(f"/api/collections/{wishlist}/contacts/{anna.pk}/products").json()["products"] == ["P0123"]
    assert writer.get("/api/collections").status_code == 403


def test_another_companys_collections_are_invisible_and_untouchable(api, other_api, company, other_company, wishlist):
    anna = ContactFactory(company=company)
    api.post(
        f"/api/collections/{wishlist}/products/add", {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123"]}]}
    )
    assert other_api.get("/api/collections").json()["collections"] == []
    assert other_api.get(f"/api/collections/{wishlist}").status_code == 404
    assert other_api.get(f"/api/collections/{wishlist}/contacts/{anna.pk}/products").status_code == 404
    for action in ("add", "remove"):
        response = other_api.post(
            f"/api/collections/{wishlist}/products/{action}",
            {"contacts": [{"contact_id": anna.pk, "product_ids": ["P0123"]}]},
        )
        assert response.status_code == 404
    assert other_api.delete(f"/api/collections/{wishlist}").status_code == 404
    assert CollectionItem.objects.count() == 1
    # Their own collection cannot reach our catalog, nor our contacts.
    catalog_id = api.get(f"/api/collections/{wishlist}").json()["catalog_id"]
    assert other_api.post("/api/collections", {"name": "Mine", "catalog_id": catalog_id}).status_code == 404
    theirs = make_catalog(other_company)
    their_list = other_api.post("/api/collections", {"name": "W", "catalog_id": str(theirs.public_id)}).json()
    answer = other_api.post(
        f"/api/collections/{their_list['collection_id']}/products/add",
        {
            "contacts": [
                {"contact_id": anna.pk, "product_ids": ["P0123"]},
                {"email": anna.email, "product_ids": ["P0123"]},
            ]
        },
    ).json()
    assert answer["contacts_done"] == 0 and [p["reason"] for p in answer["problems"]] == [16, 16]
