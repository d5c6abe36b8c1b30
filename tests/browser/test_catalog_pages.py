"""The catalog and order pages in a real browser: browse and filter products (htmx swaps the table and
pushes the filters into the URL), the shop's https images load under the product pages' policy,
open an order from the orders page, follow it to the contact's Commerce card and back; at 390 px no
page is wider than the window; no console error or CSP violation anywhere."""

import base64
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.commerce import refresh_commerce_facts
from catalog.models import OrderStatus, StoreChannel
from salloq.core.models import Role
from tests.factories import (
    CollectionItemFactory,
    ContactFactory,
    OrderFactory,
    ProductCatalogFactory,
    ProductFactory,
    StoreFactory,
    order_with_lines,
)

pytestmark = pytest.mark.browser

# A 1×1 PNG, served for the shop's image host (the test machine has no network).
PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
IMAGE_HOST = "https://cdn.shop.example"


@pytest.fixture
def shop(company):
    catalog = ProductCatalogFactory(company=company, name="main", currency="EUR", is_default=True)
    beans = ProductFactory(
        catalog=catalog,
        name="Ethiopia Beans",
        main_category="Coffee",
        price=Decimal("24.00"),
        discount_price=Decimal("19.50"),
        main_image_url=f"{IMAGE_HOST}/beans.png",
    )
    kettle = ProductFactory(
        catalog=catalog, name="Gooseneck Kettle", main_category="Gear", price=Decimal("89.00"), available=False
    )
    for n in range(6):
        ProductFactory(catalog=catalog, name=f"Filter Papers {n}", main_category="Gear", price=Decimal("4.00"))
    ann = ContactFactory(company=company, email="ann@example.com", first_name="Ann")
    CollectionItemFactory(collection__catalog=catalog, collection__name="Wishlist", contact=ann, product=kettle)
    store = StoreFactory(company=company, name="Paris Left Bank", channel=StoreChannel.OFFLINE)
    order = order_with_lines(
        company=company,
        external_id="ORD-1001",
        contact=ann,
        store=store,
        currency="EUR",
        placed_at=timezone.now() - timedelta(days=1),
        lines=[{"product": beans, "quantity": 2, "unit_price": "19.50"}],
    )
    cart = OrderFactory(
        company=company, external_id="CART-7", contact=ann, completed=False, status=OrderStatus.PENDING, currency="EUR"
    )
    refresh_commerce_facts(company_id=company.pk, contact_ids=[ann.pk])
    return {"beans": beans, "kettle": kettle, "ann": ann, "order": order, "cart": cart, "store": store}


def test_browse_filter_and_follow_an_order_to_the_contact(
    live_server, page, log_in, shop, member, browser_errors, screenshot
):
    page.route(f"{IMAGE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    log_in(member(Role.VIEWER))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Catalog").click()
    page.wait_for_url(re.compile(r"/catalog/$"))
    expect(page.locator("#product-count")).to_contain_text("8 products")

    # The shop's https image loads (the product pages allow https: images); the kettle has a placeholder.
    image = page.locator(f"#product-{shop['beans'].pk} img")
    expect(image).to_have_attribute("loading", "lazy")
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    expect(page.locator(f"#product-{shop['kettle'].pk} .product-thumb-none")).to_be_visible()
    expect(page.locator(f"#product-{shop['beans'].pk}")).to_contain_text("19.50 EUR")
    screenshot("products")

    # Search as you type: htmx swaps the table and pushes the filter into the URL.
    page.locator("#product-search").press_sequentially("kettle")
    expect(page.locator("#product-count")).to_contain_text("1 product")
    expect(page).to_have_url(re.compile(r"search=kettle"))
    expect(page.locator(f"#product-{shop['kettle'].pk}")).to_contain_text("Unavailable")
    page.locator("#product-search").fill("")
    page.locator("#product-search").press("Enter")
    expect(page.locator("#product-count")).to_contain_text("8 products")
    page.locator("#product-available").select_option("no")
    expect(page.locator("#product-count")).to_contain_text("1 product")
    expect(page).to_have_url(re.compile(r"available=no"))
    page.locator("#product-available").select_option("")
    page.locator("#product-category").fill("Coffee")
    page.locator("#product-category").press("Enter")
    expect(page.locator("#product-count")).to_contain_text("1 product")

    page.get_by_role("link", name="Ethiopia Beans").click()
    expect(page.locator("h1")).to_have_text("Ethiopia Beans")
    expect(page.locator("#product-orders")).to_contain_text("ORD-1001")

    # The orders page: open carts only, then the order itself.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Orders").click()
    page.wait_for_url(re.compile(r"/catalog/orders/$"))  # loaded: htmx has taken the filter bar
    expect(page.locator(f"#order-{shop['order'].pk}")).to_be_visible()
    page.locator("#order-show").select_option("carts")
    expect(page.locator(f"#order-{shop['order'].pk}")).to_have_count(0)
    expect(page.locator(f"#order-{shop['cart'].pk}")).to_contain_text("open cart")
    expect(page).to_have_url(re.compile(r"show=carts"))
    page.locator("#order-show").select_option("")
    page.get_by_role("link", name="ORD-1001").click()
    expect(page.locator("h1")).to_have_text("Order ORD-1001")
    expect(page.locator("#order-lines")).to_contain_text("Ethiopia Beans")
    expect(page.locator("#order-totals")).to_contain_text("39.00 EUR")
    expect(page.locator("#order-store")).to_have_text("Paris Left Bank")
    screenshot("order")

    # The contact's Commerce card, and back to the order from it.
    page.locator("#order-contact").click()
    commerce = page.locator("#commerce")
    expect(commerce).to_contain_text("39.00")
    expect(commerce.locator("#commerce-orders")).to_contain_text("CART-7")
    expect(commerce.locator("#commerce-collections")).to_contain_text("Gooseneck Kettle")
    screenshot("contact")
    commerce.get_by_role("link", name="ORD-1001").click()
    expect(page.locator("h1")).to_have_text("Order ORD-1001")

    assert browser_errors == []


def test_the_pages_hold_at_phone_width(live_server, page, log_in, shop, member, browser_errors, screenshot):
    page.route(f"{IMAGE_HOST}/**", lambda route: route.fulfill(status=200, content_type="image/png", body=PIXEL))
    log_in(member(Role.VIEWER))
    page.set_viewport_size({"width": 390, "height": 844})
    urls = [
        "/catalog/",
        f"/catalog/products/{shop['beans'].pk}/",
        "/catalog/collections/",
        "/catalog/stores/",
        f"/catalog/stores/{shop['store'].pk}/",
        "/catalog/orders/",
        f"/catalog/orders/{shop['order'].pk}/",
        f"/contacts/{shop['ann'].pk}/",
    ]
    for url in urls:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{url} is {width} px wide"
        screenshot(url.strip("/").replace("/", "-"))
    assert browser_errors == []
