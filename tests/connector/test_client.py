"""The Salloq Ecommerce API client against the local shop server: the envelope, pagination, each
error status as its exception with the shop's message, retries with backoff, jitter and Retry-After,
the hourly limiter, and money as Decimal."""

from decimal import Decimal

import pytest

from connector.client import (
    HourlyLimiter,
    ShopAuthError,
    ShopClient,
    ShopInvalidRequest,
    ShopNotFound,
    ShopPermissionError,
    ShopRateLimited,
    ShopServerError,
    ShopUnavailable,
)
from tests.connector.shop_server import FULL_KEY


def client_for(shop, sleeps, key=FULL_KEY, **options):
    options.setdefault("jitter", lambda low, high: high)  # the bound itself: deterministic waits
    return ShopClient(shop.base_url, key, sleep=sleeps, timeout=5, **options)


def test_pages_follow_the_announced_pagination_and_stop_at_the_last(shop, sleeps):
    with client_for(shop, sleeps) as client:
        pages = list(client.pages(client.products_page))
    assert [page.page for page in pages] == [1, 2, 3]
    assert sum(len(page.items) for page in pages) == 230 and pages[0].total == 230
    assert shop.paths() == ["/api/products"] * 3  # no request past the last page
    assert [query["per_page"] for _, _, query in shop.requests] == ["100"] * 3
    assert client.requests_made == 3


def test_money_arrives_as_decimal_never_float(shop, sleeps):
    with client_for(shop, sleeps) as client:
        order = client.order(301)
    assert isinstance(order["total"], Decimal) and order["total"] == shop.data.orders[301]["total"]
    assert isinstance(order["items"][0]["price"], Decimal)


def test_date_from_is_sent_as_a_date_and_filters(shop, sleeps):
    from datetime import date

    with client_for(shop, sleeps) as client:
        page = client.orders_page(1, date_from=date(2025, 1, 1))
        none = client.orders_page(1, date_from=date(2030, 1, 1))
    assert page.total == 450 and none.total == 0 and none.items == []
    assert shop.requests[0][2]["date_from"] == "2025-01-01"


def test_missing_or_wrong_key_is_an_auth_error_with_the_shops_message(shop, sleeps):
    with client_for(shop, sleeps, key="ak_live_wrong") as client, pytest.raises(ShopAuthError) as caught:
        client.products_page(1)
    assert caught.value.status == 401 and "Invalid or missing API key" in str(caught.value)
    assert sleeps == []  # never retried


def test_a_key_without_the_scope_is_a_permission_error_naming_it(shop, sleeps):
    shop.keys["ak_live_products_only"] = {"products:read"}
    with client_for(shop, sleeps, key="ak_live_products_only") as client:
        assert client.products_page(1, per_page=1).total == 230
        with pytest.raises(ShopPermissionError) as caught:
            client.orders_page(1)
    assert caught.value.status == 403 and "orders:read" in caught.value.message


def test_unknown_records_are_not_found(shop, sleeps):
    with client_for(shop, sleeps) as client, pytest.raises(ShopNotFound) as caught:
        client.customer(999999)
    assert caught.value.status == 404 and caught.value.message == "Customer not found"


def test_a_refused_parameter_is_invalid_with_the_shops_details(shop, sleeps):
    with client_for(shop, sleeps) as client, pytest.raises(ShopInvalidRequest) as caught:
        client.orders_page(1, status="lost")
    assert caught.value.status == 422 and "status" in caught.value.details


def test_429_waits_at_least_retry_after_then_succeeds(shop, sleeps):
    shop.fail(429, path="^/api/products$", times=2, retry_after="7")
    with client_for(shop, sleeps, jitter=lambda low, high: 0.0) as client:
        page = client.products_page(1)
    assert len(page.items) == 100
    assert sleeps == [7.0, 7.0] and client.requests_made == 3


def test_503_is_retried_with_exponential_backoff_and_full_jitter(shop, sleeps):
    bounds = []

    def jitter(low, high):
        bounds.append((low, high))
        return high / 2

    shop.fail(503, path="^/api/orders$", times=3)
    with client_for(shop, sleeps, jitter=jitter, backoff_base=1.0) as client:
        assert client.orders_page(1).page == 1
    assert bounds == [(0, 1.0), (0, 2.0), (0, 4.0)]  # full jitter up to 1, 2, 4 s
    assert sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped(shop, sleeps):
    shop.fail(500, times=4)
    with client_for(shop, sleeps, backoff_base=10.0, backoff_cap=25.0) as client:
        client.products_page(1)
    assert sleeps == [10.0, 20.0, 25.0, 25.0]


def test_retries_give_up_with_a_server_error_carrying_the_message(shop, sleeps):
    shop.fail(503, times=10, message="Down for maintenance")
    with client_for(shop, sleeps, max_retries=2) as client, pytest.raises(ShopServerError) as caught:
        client.products_page(1)
    assert caught.value.status == 503 and "Down for maintenance" in str(caught.value)
    assert caught.value.retryable and len(sleeps) == 2 and client.requests_made == 3


def test_rate_limited_after_the_retries_is_its_own_error(shop, sleeps):
    shop.fail(429, times=10, retry_after="1")
    with client_for(shop, sleeps, max_retries=1) as client, pytest.raises(ShopRateLimited):
        client.products_page(1)


def test_a_dropped_connection_is_retried_then_unavailable(shop, sleeps):
    shop.crash_on("^/api/products$")
    with client_for(shop, sleeps, max_retries=2) as client, pytest.raises(ShopUnavailable):
        client.products_page(1)
    assert len(sleeps) == 2
    shop.crash_on(None)


def test_nothing_listens_is_unavailable(sleeps):
    client = ShopClient("http://127.0.0.1:9/api", FULL_KEY, sleep=sleeps, max_retries=1, timeout=2)
    with client, pytest.raises(ShopUnavailable) as caught:
        client.products_page(1)
    assert "could not be reached" in str(caught.value)


def test_the_limiter_keeps_under_the_hourly_limit():
    now = [0.0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        now[0] += seconds

    limiter = HourlyLimiter(3, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        limiter.acquire()
        now[0] += 10
    limiter.acquire()  # the 4th waits until the 1st is an hour old, in slices of at most 30 s
    assert now[0] == 3600 and all(wait <= 30 for wait in waits) and sum(waits) == 3570


def test_the_client_limiter_counts_every_request_including_retries(shop, sleeps):
    now = [0.0]
    shop.fail(503, times=1)
    client = client_for(shop, sleeps, hourly_limit=2, clock=lambda: now[0])
    with client:
        client.products_page(1)  # a 503 and its retry: the two requests of the hour
        assert len(client.limiter.sent) == 2
