"""The connector page: saving the connection (the key write-only, encrypted, shown as its last four
characters only), "Test connection" against the local shop, "Sync now" and its polled progress,
roles, and one company never seeing another's connection or runs."""

import pytest

from connector import services
from connector.models import ShopConnection, ShopSyncRun, SyncStatus
from salloq.core.models import Role
from tests.conftest import html, log_in
from tests.connector.shop_server import FULL_KEY

pytestmark = pytest.mark.django_db

URL = "/settings/shop/"
FORM = {"resources": ["products", "orders", "customers"], "sync_interval_minutes": "60"}


def test_saving_the_connection_encrypts_the_key_and_never_shows_it_back(marketer_client, company, shop):
    response = marketer_client.post(URL, {**FORM, "base_url": shop.base_url, "api_key": FULL_KEY})
    assert response.status_code == 302, html(response)[:2000]
    connection = ShopConnection.objects.for_company(company).get()
    assert FULL_KEY not in connection.api_key_encrypted and connection.api_key_last4 == "abcd"
    assert services.client_for(connection).http.headers["X-API-Key"] == FULL_KEY
    page = html(marketer_client.get(URL))
    assert FULL_KEY not in page and FULL_KEY[:-4] not in page
    assert "••••abcd" in page and 'type="password"' in page
    # Saving again without a key keeps the stored one.
    response = marketer_client.post(URL, {**FORM, "base_url": shop.base_url, "api_key": "", "resources": ["products"]})
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (
        connection.resources == ["products"] and services.client_for(connection).http.headers["X-API-Key"] == FULL_KEY
    )


def test_the_stored_key_is_not_in_the_database_in_clear(company, shop):
    from django.db import connection as db

    services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM connector_shopconnection")
        row = " ".join(map(str, cursor.fetchall()))
    assert FULL_KEY not in row and FULL_KEY[:-4] not in row


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"base_url": "not a url", "api_key": "k"}, "base_url"),
        ({"base_url": "ftp://shop.example.com/api", "api_key": "k"}, "base_url"),
        ({"base_url": "https://shop.example.com/api", "api_key": ""}, "api_key"),
        ({"base_url": "https://shop.example.com/api", "api_key": "a b"}, "api_key"),
        ({"base_url": "https://shop.example.com/api", "api_key": "k", "sync_interval_minutes": "5"}, "sync_interval"),
        ({"base_url": "https://shop.example.com/api", "api_key": "k", "resources": ["pets"]}, "resources"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(marketer_client, company, data, field):
    response = marketer_client.post(URL, {**FORM, **data})
    assert response.status_code == 400
    labels = {
        "base_url": "Shop API address",
        "api_key": "API key",
        "sync_interval": "Sync every (minutes)",
        "resources": "What to sync",
    }
    assert f"{labels[field]}</a>:" in html(response)
    assert not ShopConnection.objects.for_company(company).exists()


def test_test_connection_says_how_many_products_or_the_shops_error(marketer_client, company, shop):
    connection = services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )
    response = marketer_client.post(f"{URL}test/", HTTP_HX_REQUEST="true")
    assert "Connected: the shop lists 230 products." in html(response)
    assert shop.requests == [("GET", "/api/products", {"page": "1", "per_page": "1"})]
    services.connection_save(
        company=company,
        base_url=connection.base_url,
        api_key="ak_live_revoked",
        resources=["products"],
        sync_interval_minutes=0,
    )
    response = marketer_client.post(f"{URL}test/", HTTP_HX_REQUEST="true")
    assert "The shop refused the API key: Invalid or missing API key" in html(response)
    shop.keys["ak_live_revoked"] = {"customers:read"}
    response = marketer_client.post(f"{URL}test/", HTTP_HX_REQUEST="true")
    assert "lacks a permission" in html(response) and "products:read" in html(response)


def test_sync_now_enqueues_a_run_and_the_status_polls_while_it_is_on_its_way(
    marketer_client, company, shop, django_capture_on_commit_callbacks
):
    services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )
    with django_capture_on_commit_callbacks() as callbacks:
        response = marketer_client.post(f"{URL}sync/", HTTP_HX_REQUEST="true")
    assert len(callbacks) == 1  # the task, enqueued once the run is committed
    run = ShopSyncRun.objects.for_company(company).get()
    assert run.status == SyncStatus.QUEUED
    body = html(response)
    assert 'id="sync-status"' in body and 'hx-trigger="every 2s"' in body and "<html" not in body
    # A second click while it is on its way starts nothing new.
    marketer_client.post(f"{URL}sync/", HTTP_HX_REQUEST="true")
    assert ShopSyncRun.objects.for_company(company).count() == 1
    # Once it finished, the partial stops polling and lists it with its counts.
    from tests.connector.helpers import resume

    resume(run)
    body = html(marketer_client.get(URL, HTTP_HX_REQUEST="true"))
    assert "hx-trigger" not in body and "230 created" in body and "Succeeded" in body


def test_viewers_cannot_see_or_change_the_connection(client, company):
    log_in(client, company, Role.VIEWER)
    assert client.get(URL).status_code == 403
    assert client.post(URL, {**FORM, "base_url": "https://x.example/api", "api_key": "k"}).status_code == 403
    assert client.post(f"{URL}sync/").status_code == 403
    assert not ShopConnection.objects.exists()


def test_one_company_never_sees_anothers_connection_or_runs(client, company, other_company, shop):
    theirs = services.connection_save(
        company=other_company,
        base_url="https://rival.example/api",
        api_key="ak_live_rival_9999",
        resources=["products"],
        sync_interval_minutes=0,
    )
    ShopSyncRun.objects.create(company=other_company, connection=theirs, status=SyncStatus.FAILED, failure="RIVAL-RUN")
    log_in(client, company, Role.OWNER)
    page = html(client.get(URL))
    assert "rival.example" not in page and "9999" not in page and "RIVAL-RUN" not in page
    assert "No shop connected yet." in page
    # Sync and test act on the company's own connection only: it has none.
    client.post(f"{URL}sync/")
    client.post(f"{URL}test/")
    assert ShopSyncRun.objects.filter(connection=theirs).count() == 1
    # Saving creates the company's own connection; the rival's stays as it was.
    client.post(URL, {**FORM, "base_url": shop.base_url, "api_key": FULL_KEY})
    theirs.refresh_from_db()
    assert theirs.base_url == "https://rival.example/api" and theirs.api_key_last4 == "9999"
    assert ShopConnection.objects.for_company(company).get().base_url == shop.base_url
