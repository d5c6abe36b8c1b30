"""Products from the local Salloq Ecommerce API server into the company's default catalog."""

from decimal import Decimal

import pytest

from catalog.models import Product, ProductCatalog
from connector import services
from connector.models import SyncStatus
from tests.connector.helpers import run_sync
from tests.connector.shop_server import FULL_KEY

pytestmark = pytest.mark.django_db


@pytest.fixture
def products_only(company, shop):
    return services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )


def test_products_land_in_the_default_catalog_with_the_shops_fields(company, shop, products_only):
    run = run_sync(products_only)
    assert run.status == SyncStatus.SUCCEEDED, run.failure
    catalog = ProductCatalog.objects.for_company(company).get(is_default=True)
    assert Product.objects.filter(catalog=catalog).count() == 230
    assert run.counts["products"] == {"created": 230}
    shop_product = shop.data.products[107]  # stock 0: not available
    product = Product.objects.get(catalog=catalog, product_id="107")
    assert product.name == shop_product["name"] and product.slug == "fragrance-7"
    assert product.price == shop_product["price"] and isinstance(product.price, Decimal)
    assert (product.stock_qty, product.available) == (0, False)
    assert product.main_category == shop_product["categories"][0]
    assert product.categories == shop_product["categories"]
    assert product.main_image_url == "https://cdn.example.com/p/107/front.jpg"  # the primary image
    assert product.image_urls == ["https://cdn.example.com/p/107/side.jpg"]
    assert product.product_url == shop.base_url.removesuffix("/api") + "/products/fragrance-7"
    assert Product.objects.get(catalog=catalog, product_id="105").subscription_enabled is True
    assert Product.objects.get(catalog=catalog, product_id="108").available is True
    assert shop.paths() == ["/api/products"] * 3 and run.requests_made == 3


def test_a_second_run_changes_no_product(company, shop, products_only):
    run_sync(products_only)
    before = dict(Product.objects.values_list("product_id", "updated_at"))
    again = run_sync(products_only)
    assert again.counts["products"] == {"unchanged": 230}
    assert dict(Product.objects.values_list("product_id", "updated_at")) == before


def test_a_changed_price_is_updated_and_nothing_else(company, shop, products_only):
    run_sync(products_only)
    shop.data.products[150]["price"] = Decimal("99.95")
    again = run_sync(products_only)
    assert again.counts["products"] == {"unchanged": 229, "updated": 1}
    assert Product.objects.get(product_id="150").price == Decimal("99.95")
