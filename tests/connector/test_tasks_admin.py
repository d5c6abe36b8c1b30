"""The Celery task through a real worker, the beat job's registration, and the admin pages."""

import pytest

from catalog.models import Product
from connector import services
from connector.models import ShopSyncRun, SyncStatus
from tests.connector.shop_server import FULL_KEY


def test_sync_now_runs_in_a_real_worker(transactional_db, celery_worker_thread, company, shop):
    import time

    connection = services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )
    run = services.sync_start(connection=connection)  # enqueued on commit (autocommit here)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status == SyncStatus.SUCCEEDED:
            break
        time.sleep(0.2)
    assert run.status == SyncStatus.SUCCEEDED, run.failure
    assert Product.objects.for_company(company).count() == 230


def test_the_beat_job_is_registered_in_code():
    from django.conf import settings

    from salloq.celery import app

    job = settings.CELERY_BEAT_SCHEDULE["connector-schedule-shop-syncs"]
    assert job["task"] in app.tasks and job["schedule"] == 60.0


@pytest.mark.django_db
def test_admin_lists_connections_and_runs_without_the_key(admin_client, company, shop):
    connection = services.connection_save(
        company=company, base_url=shop.base_url, api_key=FULL_KEY, resources=["products"], sync_interval_minutes=0
    )
    run = ShopSyncRun.objects.create(company=company, connection=connection, status=SyncStatus.SUCCEEDED)
    for url in (
        "/admin/connector/shopconnection/",
        f"/admin/connector/shopconnection/{connection.pk}/change/",
        "/admin/connector/shopsyncrun/",
        f"/admin/connector/shopsyncrun/{run.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert (
            FULL_KEY not in response.content.decode() and connection.api_key_encrypted not in response.content.decode()
        )
    assert "••••abcd" in admin_client.get("/admin/connector/shopconnection/").content.decode()
