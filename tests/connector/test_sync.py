"""A full sync from the local Salloq Ecommerce API server (several pages of everything), then the
runs after it: a second run changes nothing and makes only the requests pagination needs, an
incremental run picks up new orders, retries ride out a 429 and a 503, and an interrupted run
resumes after its last committed page, writing every record exactly once."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.db.models import F
from django.utils import timezone

from catalog.models import CommerceFacts, Order, OrderLine, OrderSource, Product, Subscription
from connector import sync
from connector.models import ShopSyncRun, SyncPhase, SyncStatus
from contacts.models import Contact
from tests.connector.conftest import SHOP
from tests.connector.helpers import resume, run_sync

pytestmark = pytest.mark.django_db

# Requests a full sync needs at the least: 3 pages of products, 5 of orders, each of the 250
# customers and their loyalty once, each of the 20 subscriptions once.
FULL_SYNC_REQUESTS = 3 + 5 + 250 + 250 + 20


def assert_everything_synced_once(company, shop):
    assert Contact.objects.for_company(company).count() == SHOP["customers"]
    assert Order.objects.for_company(company).count() == SHOP["orders"]
    assert OrderLine.objects.filter(order__company=company).count() == SHOP["orders"]  # one item each
    assert Product.objects.for_company(company).count() == SHOP["products"]
    assert Subscription.objects.for_company(company).count() == SHOP["subscriptions"]
    assert CommerceFacts.objects.for_company(company).count() == SHOP["customers"]


def test_a_full_sync_brings_customers_products_orders_loyalty_and_subscriptions(company, shop, connection):
    run = run_sync(connection)
    assert run.status == SyncStatus.SUCCEEDED, (run.failure, run.errors)
    assert run.error_count == 0, run.errors
    assert_everything_synced_once(company, shop)
    assert run.counts == {
        "products": {"created": 230},
        "customers": {"created": 250, "matched": 0},
        "orders": {"created": 450},
        "loyalty": {"updated": 250},
        "subscriptions": {"created": 20},
    }
    assert run.requests_made == FULL_SYNC_REQUESTS == len(shop.requests)
    # Each customer and each subscription was asked for once.
    assert len(set(shop.paths("/api/customers"))) == len(shop.paths("/api/customers")) == 500

    # A customer: matched by email, the shop's id as external id, their phone kept even though it
    # cannot be normalized.
    contact = Contact.objects.for_company(company).get(email="customer7@example.com")
    assert (contact.first_name, contact.last_name, contact.external_id) == ("First7", "Last7", "2007")
    assert "555-0007" in contact.phone
    facts = CommerceFacts.objects.get(contact=contact)
    assert (facts.loyalty_balance, facts.lifetime_points, facts.loyalty_value) == (70, 175, Decimal("0.70"))

    # An order with its lines, totals exact.
    shop_order = shop.data.orders[307]
    order = Order.objects.for_company(company).get(external_id="307")
    assert order.contact == contact and order.source == OrderSource.SHOP
    assert (order.status, order.total, order.tax) == (shop_order["status"], shop_order["total"], shop_order["tax"])
    assert order.placed_at == datetime(2025, 1, 1, 9, 7, tzinfo=UTC)
    line = order.lines.get()
    item = shop_order["items"][0]
    assert (line.product_external_id, line.quantity, line.unit_price) == (
        str(item["product_id"]),
        item["qty"],
        item["price"],
    )
    assert line.product is not None and line.product.product_id == str(item["product_id"])

    # A subscription, discovered through its order.
    shop_subscription = shop.data.subscriptions[41]
    subscription = Subscription.objects.for_company(company).get(external_id="41")
    assert subscription.contact.external_id == str(shop_subscription["customer_id"])
    assert (subscription.plan, subscription.price) == ("Every 30 days", shop_subscription["price"])

    # The connection remembers how it went and where the next run starts.
    connection.refresh_from_db()
    assert connection.last_sync_status == SyncStatus.SUCCEEDED and connection.last_sync_counts == run.counts
    assert connection.orders_watermark == (run.started_at - timedelta(days=1)).date()


def test_a_second_run_changes_nothing_and_asks_only_for_the_pages(company, shop, connection):
    first = run_sync(connection)
    orders_before = dict(Order.objects.values_list("external_id", "updated_at"))
    shop.reset_log()
    second = run_sync(connection)
    assert second.status == SyncStatus.SUCCEEDED and not second.full
    # Products have no date filter: every page again; orders only from the watermark on: none.
    assert second.counts == {"products": {"unchanged": 230}}
    assert shop.paths() == ["/api/products"] * 3 + ["/api/orders"]
    assert shop.requests[-1][2]["date_from"] == (first.started_at - timedelta(days=1)).date().isoformat()
    assert second.requests_made == 4
    assert dict(Order.objects.values_list("external_id", "updated_at")) == orders_before

    # A full run again reads everything, and everything comes back unchanged.
    third = run_sync(connection, full=True)
    assert third.counts == {
        "products": {"unchanged": 230},
        "customers": {"matched": 250, "created": 0},
        "orders": {"unchanged": 450},
        "loyalty": {"unchanged": 250},
        "subscriptions": {"unchanged": 20},
    }
    assert third.requests_made == FULL_SYNC_REQUESTS
    assert dict(Order.objects.values_list("external_id", "updated_at")) == orders_before
    assert_everything_synced_once(company, shop)


def test_an_incremental_run_brings_new_orders_and_their_customers(company, shop, connection):
    run_sync(connection)
    now = timezone.now()
    shop.data.add_order(order_id=9001, customer_id=2003, product_id=110, qty=2, status="pending", created_at=now)
    shop.data.customers[2999] = {"id": 2999, "email": "newcomer@example.com", "first_name": "New", "phone": "555-9999"}
    shop.data.loyalty[2999] = {"customer_id": 2999, "current_balance": 5, "lifetime_points": 5, "dollar_value": 0.05}
    shop.data.add_order(order_id=9002, customer_id=2999, product_id=111, qty=1, status="pending", created_at=now)
    shop.data.loyalty[2003]["current_balance"] = 999
    shop.reset_log()
    run = run_sync(connection)
    assert run.status == SyncStatus.SUCCEEDED, run.failure
    assert run.counts["orders"] == {"created": 2}
    assert run.counts["customers"] == {"created": 1, "matched": 1}
    assert run.counts["loyalty"] == {"updated": 2}
    assert sorted(shop.paths("/api/customers")) == sorted(
        ["/api/customers/2003", "/api/customers/2003/loyalty", "/api/customers/2999", "/api/customers/2999/loyalty"]
    )
    newcomer = Contact.objects.for_company(company).get(email="newcomer@example.com")
    assert Order.objects.get(external_id="9002").contact == newcomer
    assert CommerceFacts.objects.get(contact__external_id="2003").loyalty_balance == 999


def test_a_429_with_retry_after_and_a_503_mid_sync_are_ridden_out(company, shop, connection, sleeps):
    shop.fail(429, path="^/api/orders$", times=1, retry_after="30")
    shop.fail(503, path="^/api/customers/2100$", times=2)
    run = run_sync(connection, sleeps=sleeps)
    assert run.status == SyncStatus.SUCCEEDED, run.failure
    assert 30.0 in sleeps and len(sleeps) == 3
    assert run.requests_made == FULL_SYNC_REQUESTS + 3
    assert_everything_synced_once(company, shop)


def test_a_shop_down_mid_sync_interrupts_the_run_and_the_rest_comes_on_resume(company, shop, connection, sleeps):
    shop.fail(503, path="^/api/customers/2150$", times=100)  # in the 2nd page of orders
    run = run_sync(connection, sleeps=sleeps, max_retries=2)
    assert run.status == SyncStatus.INTERRUPTED and "503" in run.failure
    assert (run.phase, run.page) == (SyncPhase.ORDERS, 1)  # the 1st page of orders is committed
    assert Order.objects.for_company(company).count() == 100
    connection.refresh_from_db()
    assert connection.last_sync_status == SyncStatus.INTERRUPTED and "503" in connection.last_sync_error

    # The beat job picks it up once its backoff has passed, and the run goes on from page 2.
    assert sync.runs_to_resume() == []
    assert sync.runs_to_resume(now=timezone.now() + timedelta(minutes=2)) == [run.pk]
    shop.faults.clear()
    shop.reset_log()
    run = resume(run)
    assert run.status == SyncStatus.SUCCEEDED, run.failure
    assert "/api/products" not in shop.paths()
    assert [q["page"] for _, p, q in shop.requests if p == "/api/orders"] == ["2", "3", "4", "5"]
    assert_everything_synced_once(company, shop)
    assert run.counts["orders"] == {"created": 450} and run.counts["customers"]["created"] == 250


def test_an_exception_mid_page_loses_nothing_and_writes_nothing_twice(company, shop, connection, monkeypatch):
    real = sync.order_upsert_batch
    calls = []

    def crash_on_the_third_page(**kwargs):
        calls.append(1)
        results = real(**kwargs)  # written, then the worker dies before the page is committed
        if len(calls) == 3:
            raise RuntimeError("worker killed")
        return results

    monkeypatch.setattr(sync, "order_upsert_batch", crash_on_the_third_page)
    with pytest.raises(RuntimeError):
        run_sync(connection)
    run = ShopSyncRun.objects.for_company(company).get()
    assert run.status == SyncStatus.INTERRUPTED and (run.phase, run.page) == (SyncPhase.ORDERS, 2)
    assert Order.objects.for_company(company).count() == 200  # the 3rd page was rolled back

    monkeypatch.setattr(sync, "order_upsert_batch", real)
    run = resume(run)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.counts["orders"] == {"created": 450} and run.counts["customers"] == {"created": 250, "matched": 0}
    assert_everything_synced_once(company, shop)


def test_a_killed_worker_leaves_a_running_run_that_is_taken_over_when_stalled(company, shop, connection, settings):
    run = run_sync(connection, full=True)
    stale = ShopSyncRun.objects.create(
        company=company, connection=connection, status=SyncStatus.RUNNING, full=True,
        phase=SyncPhase.ORDERS, page=4, heartbeat_at=timezone.now(),
    )  # fmt: skip
    assert sync.runs_to_resume() == [] and sync.sync_run(run_id=stale.pk) is None  # alive: not taken
    ShopSyncRun.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert sync.runs_to_resume() == [stale.pk]
    shop.reset_log()
    stale = resume(stale)
    assert stale.status == SyncStatus.SUCCEEDED and stale.attempts == 1
    assert [q["page"] for _, p, q in shop.requests if p == "/api/orders"] == ["5"]
    assert run.status == SyncStatus.SUCCEEDED


def test_orders_listed_without_items_are_fetched_one_by_one(company, shop, connection):
    shop.list_items = False
    run = run_sync(connection)
    assert run.status == SyncStatus.SUCCEEDED
    assert len(shop.paths("/api/orders/")) == SHOP["orders"]
    assert run.requests_made == FULL_SYNC_REQUESTS + SHOP["orders"]
    assert OrderLine.objects.filter(order__company=company).count() == SHOP["orders"]


def test_without_subscription_ids_on_orders_subscriptions_are_not_discoverable(company, shop, connection):
    shop.order_subscription_ids = False
    run = run_sync(connection)
    assert run.status == SyncStatus.SUCCEEDED
    assert not Subscription.objects.for_company(company).exists()
    assert shop.paths("/api/subscriptions") == []
    assert Order.objects.for_company(company).filter(is_subscription=True).count() == SHOP["subscriptions"]


def test_a_refused_key_fails_the_run_with_the_shops_message(company, shop, connection):
    shop.keys.clear()
    run = run_sync(connection)
    assert run.status == SyncStatus.FAILED and "Invalid or missing API key" in run.failure
    connection.refresh_from_db()
    assert connection.last_sync_status == SyncStatus.FAILED and connection.orders_watermark is None


def test_a_missing_scope_fails_naming_it(company, shop, connection):
    from tests.connector.shop_server import FULL_KEY

    shop.keys[FULL_KEY] = {"products:read", "orders:read"}
    run = run_sync(connection)
    assert run.status == SyncStatus.FAILED and "customers:read" in run.failure


def test_a_customer_deleted_from_the_shop_is_an_error_not_the_end(company, shop, connection):
    del shop.data.customers[2010]
    run = run_sync(connection)
    assert run.status == SyncStatus.SUCCEEDED
    assert {"resource": "customer", "id": "2010", "message": run.errors[0]["message"]} in run.errors
    assert Order.objects.for_company(company).count() == SHOP["orders"]


def test_one_companys_sync_never_touches_anothers_data(company, other_company, shop, connection):
    from connector import services
    from tests.connector.shop_server import FULL_KEY

    run_sync(connection)
    theirs = services.connection_save(
        company=other_company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products", "orders", "customers"],
        sync_interval_minutes=0,
    )  # fmt: skip
    before = {
        "orders": dict(Order.objects.for_company(company).values_list("external_id", "contact_id")),
        "contacts": Contact.objects.for_company(company).count(),
    }
    run = run_sync(theirs)
    assert run.status == SyncStatus.SUCCEEDED
    assert run.counts["customers"] == {"created": 250, "matched": 0}  # its own contacts, not ours
    assert Order.objects.for_company(other_company).count() == SHOP["orders"]
    assert dict(Order.objects.for_company(company).values_list("external_id", "contact_id")) == before["orders"]
    assert Contact.objects.for_company(company).count() == before["contacts"]
    assert set(Order.objects.for_company(other_company).values_list("contact__company", flat=True)) == {
        other_company.pk
    }


def test_the_schedule_starts_due_syncs_once(company, shop, connection, django_capture_on_commit_callbacks):
    assert sync.due_connections() == [connection]
    from connector.tasks import schedule_shop_syncs

    with django_capture_on_commit_callbacks() as callbacks:
        schedule_shop_syncs()
        schedule_shop_syncs()  # the run is on its way: nothing new
    assert ShopSyncRun.objects.for_company(company).count() == 1 and len(callbacks) == 1
    resume(ShopSyncRun.objects.for_company(company).get())
    assert sync.due_connections() == []
    assert sync.due_connections(now=timezone.now() + timedelta(minutes=61)) == [connection]


def test_a_worker_taken_for_dead_never_writes_over_the_one_that_took_its_run_over(company, shop, connection):
    from connector import services

    def taken_over_after_the_first_page_of_orders(run):
        if run.phase == SyncPhase.ORDERS and run.page == 1:
            # The beat job took the run for stalled, and another worker claimed it.
            ShopSyncRun.objects.update(heartbeat_at=timezone.now() - timedelta(hours=1))
            assert sync.runs_to_resume() == [run.pk]
            ShopSyncRun.objects.update(attempts=F("attempts") + 1, heartbeat_at=timezone.now())  # its claim

    run = services.sync_start(connection=connection, enqueue=False)
    client = services.client_for(connection, sleep=lambda s: None, hourly_limit=100_000)
    with client, pytest.raises(RuntimeError, match="taken over"):
        sync.sync_run(run_id=run.pk, client=client, on_progress=taken_over_after_the_first_page_of_orders)
    run.refresh_from_db()
    # The first worker's second page was rolled back, and the run is left to its new owner as it was.
    assert (run.status, run.attempts, run.phase, run.page) == (SyncStatus.RUNNING, 2, SyncPhase.ORDERS, 1)
    assert Order.objects.for_company(company).count() == 100
