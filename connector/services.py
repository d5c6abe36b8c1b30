"""Writes of the connector's settings: a company's shop connection (its API key encrypted), the
connection test, and starting a sync run (enqueued once the row is committed)."""

from celery import current_app
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import IntegrityError, transaction

from salloq.core.models import Company

from . import crypto
from .client import ShopClient
from .models import ACTIVE_STATUSES, ALL_RESOURCES, ShopConnection, ShopSyncRun

# Tasks are enqueued by name, not imported: connector.tasks imports this module.
RUN_TASK = "connector.tasks.run_shop_sync"
MAX_API_KEY_LENGTH = 500


def connection_for(company: Company) -> ShopConnection | None:
    return ShopConnection.objects.for_company(company).first()


def connection_save(
    *,
    company: Company,
    base_url: str,
    api_key: str | None,
    resources: list[str],
    sync_interval_minutes: int,
) -> ShopConnection:
    """Create or change the company's shop connection. An empty `api_key` keeps the stored one (the
    form never shows it back), but a new connection needs one."""
    errors: dict[str, list[str]] = {}
    base_url = (base_url or "").strip().rstrip("/")
    try:
        URLValidator(schemes=["http", "https"])(base_url)
    except ValidationError:
        errors["base_url"] = ["Enter the shop's API address, e.g. https://shop.example.com/api."]
    api_key = (api_key or "").strip()
    connection = connection_for(company)
    if not api_key and connection is None:
        errors["api_key"] = ["Enter the shop's API key."]
    elif len(api_key) > MAX_API_KEY_LENGTH or any(ord(c) < 33 or ord(c) == 127 for c in api_key):
        errors["api_key"] = [f"An API key is up to {MAX_API_KEY_LENGTH} printable characters without spaces."]
    unknown = [r for r in resources if r not in ALL_RESOURCES]
    if unknown or not resources:
        errors["resources"] = [f"Choose at least one of: {', '.join(ALL_RESOURCES)}."]
    if not isinstance(sync_interval_minutes, int) or not (
        sync_interval_minutes == 0 or 15 <= sync_interval_minutes <= 7 * 24 * 60
    ):
        errors["sync_interval_minutes"] = ["Every 15 minutes to 7 days (10080 minutes), or 0 for on demand only."]
    if errors:
        raise ValidationError(errors)
    if connection is None:
        connection = ShopConnection(company=company)
    if connection.base_url and connection.base_url != base_url:
        connection.orders_watermark = None  # another shop: the next run is a full one
    connection.base_url = base_url
    if api_key:
        connection.api_key_encrypted = crypto.encrypt(api_key)
        connection.api_key_last4 = api_key[-4:]
    connection.resources = [r for r in ALL_RESOURCES if r in resources]
    connection.sync_interval_minutes = sync_interval_minutes
    connection.save()
    return connection


def client_for(connection: ShopConnection, **options) -> ShopClient:
    """A client with the connection's decrypted key; ValueError when the key cannot be decrypted."""
    return ShopClient(connection.base_url, crypto.decrypt(connection.api_key_encrypted), **options)


def connection_test(*, connection: ShopConnection, **options) -> int:
    """One request (GET /products?per_page=1): the number of products the shop has, or the
    ShopApiError (or ValueError for an unreadable key) saying what is wrong. Not retried: the person
    waiting for the answer wants it now."""
    with client_for(connection, max_retries=0, **options) as client:
        return client.products_page(1, per_page=1).total


def sync_start(*, connection: ShopConnection, full: bool = False, trigger: str = "manual", enqueue=True) -> ShopSyncRun:
    """A new run of the connection, handed to a worker once committed; a run already on its way
    (queued, running or interrupted) is returned instead of starting a second one."""
    connection.refresh_from_db(fields=["orders_watermark"])  # the last run's, whoever holds this object
    active = ShopSyncRun.objects.filter(connection=connection, status__in=ACTIVE_STATUSES).first()
    if active is not None:
        return active
    try:
        with transaction.atomic():
            run = ShopSyncRun.objects.create(
                company_id=connection.company_id,
                connection=connection,
                full=full or connection.orders_watermark is None,
                watermark=None if full else connection.orders_watermark,
                trigger=trigger,
            )
    except IntegrityError:  # another request started one meanwhile (shop_sync_run_one_active)
        return ShopSyncRun.objects.get(connection=connection, status__in=ACTIVE_STATUSES)
    if enqueue:
        transaction.on_commit(lambda: current_app.tasks[RUN_TASK].delay(run.pk))
    return run
