"""Products (SALESmanago API v3 product/upsert): every field limit with its reason code, trimming
warnings (reason 12), the 100-product cap (reason 19), exact prices, set-based writes, the list with
its filters, product ids of any character, scopes and tenant isolation."""

import json
import re
from contextlib import contextmanager
from decimal import Decimal
from urllib.parse import quote

import pytest
from django.db import connection

from catalog.models import Product
from catalog.services.catalogs import catalog_upsert
from catalog.services.products import product_upsert_batch
from tests.conftest import make_api_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog(company):
    return catalog_upsert(company=company, data={"name": "Shop", "currency": "USD", "location": "shop"})


def product(n: int = 1, **fields) -> dict:
    return {
        "product_id": f"P{n}",
        "name": f"Turtleneck sweater {n}",
        "main_category": "sweaters",
        "product_url": f"https://example.com/shop/sweaters/{n}",
        "available": True,
        "price": Decimal("79.99"),
        **fields,
    }


NUMBER_MARK = "@@number@@"


def encode(body) -> str:
    """JSON with Decimals written as the exact numbers they are, never through a float."""

    def mark(value):
        if isinstance(value, Decimal):
            return f"{NUMBER_MARK}{value}{NUMBER_MARK}"
        if isinstance(value, dict):
            return {key: mark(item) for key, item in value.items()}
        if isinstance(value, list):
            return [mark(item) for item in value]
        return value

    return json.dumps(mark(body)).replace(f'"{NUMBER_MARK}', "").replace(f'{NUMBER_MARK}"', "")


def batch(api, catalog, items):
    path = f"/api/catalogs/{catalog.public_id}/products/batch"
    return api.client.post(path, encode({"products": items}), content_type="application/json", headers=api.headers)


def result(api, catalog, item) -> dict:
    response = batch(api, catalog, [item])
    assert response.status_code == 200, response.json()
    return response.json()["results"][0]


def refused(api, catalog, item, field: str, reason: int) -> dict:
    row = result(api, catalog, item)
    assert row["status"] == "invalid", row
    assert field in row["errors"], row
    assert row["reasons"][field] == reason, row
    return row


# --- Writes ---------------------------------------------------------------------------------------


def test_a_batch_creates_then_updates_then_leaves_unchanged(api, catalog):
    items = [product(1), product(2, categories=["Winter collection"], custom_details={"detail1": "linen"})]
    first = batch(api, catalog, items).json()
    assert [r["status"] for r in first["results"]] == ["created", "created"]
    assert (first["created"], first["updated"], first["unchanged"], first["invalid"]) == (2, 0, 0, 0)
    assert first["product_ids"] == ["P1", "P2"]
    again = batch(api, catalog, [product(1), product(2, price=Decimal("19.99"))]).json()
    assert [r["status"] for r in again["results"]] == ["unchanged", "updated"]
    stored = Product.objects.get(catalog=catalog, product_id="P2")
    assert stored.price == Decimal("19.99") and stored.categories == ["Winter collection"]
    assert stored.custom_details == {"detail1": "linen"}  # left out: kept
    assert stored.company_id == catalog.company_id
    # Lists, objects and prices read back compare equal to what is sent: nothing is written.
    items[1]["price"] = Decimal("19.990")
    third = batch(api, catalog, items).json()
    assert [r["status"] for r in third["results"]] == ["unchanged", "unchanged"]


def test_null_clears_an_optional_field_and_a_left_out_one_keeps_its_value(api, catalog):
    batch(api, catalog, [product(1, brand="My Brand", quantity=5, discount_price=Decimal("9.50"))])
    batch(api, catalog, [product(1, brand=None, discount_price=None)])
    stored = Product.objects.get(product_id="P1")
    assert (stored.brand, stored.discount_price, stored.quantity) == ("", None, 5)


def test_a_bad_item_never_sinks_the_others(api, catalog):
    body = batch(api, catalog, [product(1), product(2, price="79.99"), product(3)]).json()
    assert [r["status"] for r in body["results"]] == ["created", "invalid", "created"]
    assert body["results"][1]["reason"] == 14 and body["results"][1]["errors"]["price"]
    assert set(Product.objects.values_list("product_id", flat=True)) == {"P1", "P3"}


def test_the_same_product_id_twice_in_a_batch_is_reason_15(api, catalog):
    body = batch(api, catalog, [product(1), product(1, name="Again")]).json()
    assert body["results"][0]["status"] == "created"
    assert body["results"][1]["status"] == "invalid" and body["results"][1]["reasons"] == {"product_id": 15}


def test_a_batch_of_100_is_one_select_and_one_insert(api, catalog):
    items = [product(n) for n in range(100)]
    with product_statements() as statements:
        body = batch(api, catalog, items).json()
    assert body["created"] == 100
    assert len(statements) == STATEMENTS_PER_BATCH, statements
    with product_statements() as statements:
        body = batch(api, catalog, [product(n, price=Decimal(n)) for n in range(100)]).json()
    assert body["updated"] == 100
    assert len(statements) == STATEMENTS_PER_BATCH, statements


@contextmanager
def product_statements():
    """The statements run on the products table inside the block, as the code ran them (Django's
    query log has no text for a prepared statement: the batch's are)."""
    statements: list[str] = []

    def record(execute, sql, params, many, context):
        if re.search(r"\bcatalog_product\b", sql):
            statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        yield statements


def test_a_batchs_lookup_probes_the_unique_index_by_product_id_on_stale_statistics(catalog):
    """The lookup of a batch's stored products reads them by (catalog, product_id), never the whole
    catalog, also when the table has grown since its statistics were taken (a catalog's first
    import): each batch would otherwise read every product stored before it."""
    from catalog.services.products import SELECT_PRODUCTS
    from salloq.core.db import binary_cursor

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's plans")
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Product._meta.db_table} CASCADE")  # no statistics: as a fresh table has
    for first in range(0, 2000, 100):
        product_upsert_batch(catalog=catalog, items=[product(n) for n in range(first, first + 100)])
    wanted = sorted(f"P{n}" for n in range(1990, 2010))
    with binary_cursor() as cursor:
        plan = "\n".join(row[0] for row in cursor.execute(f"EXPLAIN {SELECT_PRODUCTS}", [wanted, catalog.pk]))
    # As the connection runs it after its first time: prepared, with a plan for any values.
    statement = SELECT_PRODUCTS.replace("%b", "$1", 1).replace("%b", "$2", 1)
    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE product_lookup AS {statement}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        cursor.execute("EXPLAIN EXECUTE product_lookup(%s, %s)", [wanted, catalog.pk])
        generic = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE product_lookup")
    for text in (plan, generic):
        assert "product_unique_id_per_catalog" in text, text
        assert re.search(r"Index Cond: .*product_id", text), text
        assert "Seq Scan on catalog_product" not in text and "Filter" not in text, text


# One SELECT and one INSERT ... ON CONFLICT; SQLite allows 999 parameters a statement, so Django
# splits the insert of 100 products (28 columns each) in 4 there.
STATEMENTS_PER_BATCH = 2 if connection.vendor == "postgresql" else 5


def test_101_products_is_a_400_with_reason_19_naming_products(api, catalog):
    response = batch(api, catalog, [product(n) for n in range(101)])
    assert response.status_code == 400
    details = response.json()["details"]
    assert details["reason_codes"] == {"products": 19} and "100" in details["products"][0]
    assert not Product.objects.exists()
    assert batch(api, catalog, []).status_code == 400


# --- Limits and their reason codes ----------------------------------------------------------------


@pytest.mark.parametrize("field", ["product_id", "name", "main_category", "product_url", "available", "price"])
def test_each_required_field_missing_is_reason_13_and_null_is_reason_17(api, catalog, field):
    item = product(1)
    del item[field]
    refused(api, catalog, item, field, 13)
    refused(api, catalog, {**product(1), field: None}, field, 17)


@pytest.mark.parametrize("field", ["product_id", "name", "main_category", "product_url"])
def test_a_blank_required_text_is_reason_13(api, catalog, field):
    refused(api, catalog, product(1, **{field: "   "}), field, 13)
    refused(api, catalog, product(1, **{field: ""}), field, 13)


@pytest.mark.parametrize(
    ("field", "limit"),
    [("product_id", 255), ("name", 255), ("main_category", 255), ("category_external_id", 255), ("slug", 255)],
)
def test_identifiers_and_names_over_their_limit_are_refused_with_reason_11(api, catalog, field, limit):
    assert result(api, catalog, product(1, **{field: "x" * limit}))["status"] in ("created", "updated")
    row = refused(api, catalog, product(2, **{field: "x" * (limit + 1)}), field, 11)
    assert str(limit) in row["errors"][field][0]


@pytest.mark.parametrize(
    ("field", "limit"), [("description", 16384), ("brand", 255), ("manufacturer", 100), ("season", 40), ("color", 40)]
)
def test_prose_over_its_limit_is_stored_trimmed_with_a_warning_reason_12(api, catalog, field, limit):
    row = result(api, catalog, product(1, **{field: "y" * (limit + 7)}))
    assert row["status"] == "created" and row["warning_reason"] == 12
    assert "trimmed" in row["warnings"][field][0]
    assert getattr(Product.objects.get(product_id="P1"), field) == "y" * limit
    exact = result(api, catalog, product(2, **{field: "y" * limit}))
    assert "warnings" not in exact


@pytest.mark.parametrize("field", ["product_url", "main_image_url"])
def test_urls_over_2048_are_refused_with_reason_11_and_malformed_with_reason_18(api, catalog, field):
    base = "https://example.com/"
    assert result(api, catalog, product(1, **{field: base + "a" * (2048 - len(base))}))["status"] == "created"
    refused(api, catalog, product(2, **{field: base + "a" * (2049 - len(base))}), field, 11)
    for bad in ("example.com/shoe", "javascript:alert(1)", "https://", "ftp://example.com/a"):
        refused(api, catalog, product(3, **{field: bad}), field, 18)


def test_categories_are_up_to_5_of_up_to_255(api, catalog):
    assert result(api, catalog, product(1, categories=["c" * 255] * 5))["status"] == "created"
    refused(api, catalog, product(2, categories=["a", "b", "c", "d", "e", "f"]), "categories", 11)
    refused(api, catalog, product(3, categories=["c" * 256]), "categories", 11)
    refused(api, catalog, product(4, categories="sweaters"), "categories", 14)
    refused(api, catalog, product(5, categories=[7]), "categories", 14)


def test_image_urls_are_up_to_5_urls_of_up_to_2048(api, catalog):
    urls = [f"https://example.com/{n}.jpg" for n in range(5)]
    assert result(api, catalog, product(1, image_urls=urls))["status"] == "created"
    refused(api, catalog, product(2, image_urls=[*urls, "https://example.com/6.jpg"]), "image_urls", 11)
    refused(api, catalog, product(3, image_urls=["https://example.com/" + "a" * 2040]), "image_urls", 11)
    refused(api, catalog, product(4, image_urls=["not a url"]), "image_urls", 18)


@pytest.mark.parametrize("price", [Decimal("0"), Decimal("79.99"), Decimal("79.9"), Decimal("79.990"), 12])
def test_prices_of_up_to_19_digits_before_and_2_after_the_point_are_stored_exactly(api, catalog, price):
    assert result(api, catalog, product(1, price=price, discount_price=price))["status"] == "created"
    stored = Product.objects.get(product_id="P1")
    assert stored.price == Decimal(price) and stored.discount_price == Decimal(price)


# SQLite keeps numeric columns as doubles (about 15 significant digits): 21 exact digits need PostgreSQL.
@pytest.mark.postgres
@pytest.mark.parametrize("price", ["1234567890123456789.12", "9999999999999999999.99", "0.01"])
def test_a_21_digit_price_is_stored_and_comes_back_exact_as_text(api, catalog, price):
    result(api, catalog, product(1, price=Decimal(price)))
    assert Product.objects.get(product_id="P1").price == Decimal(price)
    body = api.get(f"/api/catalogs/{catalog.public_id}/products/P1").json()
    assert body["price"] == price


def test_on_sqlite_a_price_beyond_15_significant_digits_is_reason_11(api, catalog):
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL keeps all 21 digits (test_a_21_digit_price_...)")
    assert result(api, catalog, product(1, price=Decimal("9999999999999.99")))["status"] == "created"
    assert Product.objects.get(product_id="P1").price == Decimal("9999999999999.99")
    row = refused(api, catalog, product(2, price=Decimal("10000000000000.00")), "price", 11)
    assert "SQLite" in row["errors"]["price"][0]


@pytest.mark.parametrize("field", ["price", "discount_price", "unit_price"])
@pytest.mark.parametrize(
    "price", [Decimal("79.999"), Decimal("0.001"), Decimal("1" + "0" * 19), Decimal("-1"), Decimal("1e19")]
)
def test_prices_with_more_digits_or_negative_are_reason_11(api, catalog, field, price):
    refused(api, catalog, product(1, **{field: price}), field, 11)


@pytest.mark.parametrize("price", ["79.99", True, [79], {"amount": 79}])
def test_a_price_that_is_not_a_number_is_reason_14(api, catalog, price):
    refused(api, catalog, product(1, price=price), "price", 14)


def test_quantity_is_an_integer(api, catalog):
    assert result(api, catalog, product(1, quantity=90, stock_qty=3))["status"] == "created"
    refused(api, catalog, product(2, quantity=1.5), "quantity", 14)
    refused(api, catalog, product(3, quantity="90"), "quantity", 14)
    refused(api, catalog, product(4, quantity=2**31), "quantity", 11)


def test_popularity_is_0_to_100(api, catalog):
    assert result(api, catalog, product(1, popularity=100))["status"] == "created"
    assert result(api, catalog, product(2, popularity=0))["status"] == "created"
    refused(api, catalog, product(3, popularity=101), "popularity", 11)
    refused(api, catalog, product(4, popularity=-1), "popularity", 11)


@pytest.mark.parametrize("gender", [-1, 0, 1, 2, 3, 4])
def test_gender_takes_salesmanagos_enum(api, catalog, gender):
    assert result(api, catalog, product(1, gender=gender))["status"] == "created"
    assert Product.objects.get(product_id="P1").gender == gender


def test_gender_outside_the_enum_is_reason_18_and_not_an_integer_reason_14(api, catalog):
    refused(api, catalog, product(1, gender=5), "gender", 18)
    refused(api, catalog, product(1, gender="female"), "gender", 14)


@pytest.mark.parametrize("field", ["available", "active", "bestseller", "new_product", "subscription_enabled"])
def test_flags_are_booleans(api, catalog, field):
    assert result(api, catalog, product(1, **{field: False}))["status"] == "created"
    refused(api, catalog, product(2, **{field: "true"}), field, 14)
    refused(api, catalog, product(3, **{field: 1}), field, 14)


def test_custom_details_are_up_to_5_keys_with_values_trimmed_to_255(api, catalog):
    details = {f"detail{n}": "v" for n in range(1, 6)}
    assert result(api, catalog, product(1, custom_details=details))["status"] == "created"
    refused(api, catalog, product(2, custom_details={**details, "detail6": "v"}), "custom_details", 11)
    refused(api, catalog, product(3, custom_details={"detail1": 5}), "custom_details", 14)
    refused(api, catalog, product(4, custom_details=["linen"]), "custom_details", 14)
    row = result(api, catalog, product(5, custom_details={"detail1": "z" * 300}))
    assert row["status"] == "created" and row["warning_reason"] == 12
    assert Product.objects.get(product_id="P5").custom_details == {"detail1": "z" * 255}


def test_unknown_fields_are_reason_18_and_a_non_object_item_reason_14(api, catalog):
    refused(api, catalog, product(1, productId="P1"), "productId", 18)
    body = batch(api, catalog, ["P1"]).json()
    assert body["results"][0]["status"] == "invalid" and body["results"][0]["reason"] == 14


def test_an_item_the_parser_refuses_is_that_items_error_only(api, catalog):
    bad = encode(product(2)).replace('"P2"', '"P\\u00002"')
    body = f'{{"products": [{encode(product(1))}, {bad}]}}'
    path = f"/api/catalogs/{catalog.public_id}/products/batch"
    response = api.client.post(path, body, content_type="application/json", headers=api.headers).json()
    assert [r["status"] for r in response["results"]] == ["created", "invalid"]
    assert response["results"][1]["reasons"] == {"product_id": 18}


def test_the_service_takes_floats_from_internal_callers_exactly(catalog):
    [row] = product_upsert_batch(catalog=catalog, items=[{**product(1), "price": 145.0, "discount_price": 79.99}])
    assert row.status == "created"
    stored = Product.objects.get(product_id="P1")
    assert stored.price == Decimal("145.00") and stored.discount_price == Decimal("79.99")


# --- Reads ----------------------------------------------------------------------------------------


def test_the_list_filters_by_category_search_available_and_active(api, catalog):
    batch(
        api,
        catalog,
        [
            product(1, name="Wool Sweater", main_category="sweaters", categories=["Winter"]),
            product(2, name="Linen shirt", main_category="shirts", description="Light SUMMER wear", available=False),
            product(3, name="Müller Mütze", main_category="hats", categories=["Winter", "Sale"], active=False),
        ],
    )
    path = f"/api/catalogs/{catalog.public_id}/products"

    def ids(**query) -> list[str]:
        response = api.get(path, query)
        assert response.status_code == 200, response.json()
        return [row["product_id"] for row in response.json()["products"]]

    assert ids() == ["P2", "P3", "P1"]  # by name
    assert ids(category="Winter") == ["P3", "P1"]
    assert ids(category="shirts") == ["P2"]
    assert ids(category="Wint") == []
    assert ids(search="summer") == ["P2"]
    assert ids(search="mütze") == ["P3"]
    assert ids(search="wool sweater") == ["P1"]
    assert ids(available="false") == ["P2"]
    assert ids(active="false") == ["P3"]
    assert ids(active="true", available="true") == ["P1"]
    assert api.get(path, {"available": "maybe"}).status_code == 400
    page = api.get(path, {"per_page": 2, "page": 2}).json()
    assert page["pagination"] == {"page": 2, "per_page": 2, "total": 3, "total_pages": 2}


def test_the_list_costs_the_same_queries_for_3_or_60_products(api, catalog, django_assert_max_num_queries):
    batch(api, catalog, [product(n) for n in range(60)])
    with django_assert_max_num_queries(8):
        assert len(api.get(f"/api/catalogs/{catalog.public_id}/products", {"per_page": 60}).json()["products"]) == 60


@pytest.mark.parametrize("product_id", ["a/b", "a b?c#d", "50%", "é/ü", "batch", "batch/", "x/"])
def test_a_product_id_of_any_characters_is_read_url_encoded(api, catalog, product_id):
    result(api, catalog, product(1, product_id=product_id))
    response = api.get(f"/api/catalogs/{catalog.public_id}/products/{quote(product_id, safe='')}")
    assert response.status_code == 200, response.json()
    assert response.json()["product_id"] == product_id
    assert response.json()["catalog_id"] == str(catalog.public_id)


def test_an_unknown_product_or_catalog_is_a_404(api, catalog):
    assert api.get(f"/api/catalogs/{catalog.public_id}/products/nope").status_code == 404
    response = batch(api, type(catalog)(public_id="00000000-0000-0000-0000-000000000000"), [product(1)])
    assert response.status_code == 404 and response.json()["details"]["reason_codes"] == {"catalog_id": 16}


# --- Scopes and tenants ---------------------------------------------------------------------------


def test_reading_needs_catalog_read_and_writing_catalog_write(company, catalog):
    reader = make_api_client(company, scopes=["catalog:read"])
    writer = make_api_client(company, scopes=["catalog:write"])
    assert batch(reader, catalog, [product(1)]).status_code == 403
    assert batch(writer, catalog, [product(1)]).status_code == 200
    assert reader.get(f"/api/catalogs/{catalog.public_id}/products").status_code == 200
    assert reader.get(f"/api/catalogs/{catalog.public_id}/products/P1").status_code == 200
    assert writer.get(f"/api/catalogs/{catalog.public_id}/products").status_code == 403


def test_another_companys_products_are_invisible_and_untouchable(api, other_api, catalog):
    batch(api, catalog, [product(1)])
    base = f"/api/catalogs/{catalog.public_id}/products"
    assert other_api.get(base).status_code == 404
    assert other_api.get(f"{base}/P1").status_code == 404
    response = batch(other_api, catalog, [product(1, name="Hijacked"), product(2)])
    assert response.status_code == 404
    assert list(Product.objects.values_list("name", flat=True)) == ["Turtleneck sweater 1"]
