"""A sync run of a company's Salloq Ecommerce shop.

The Salloq Ecommerce API lists products and orders, but neither customers nor subscriptions: a run
reads the products pages into the default catalog, then the orders pages (from the watermark's date
on, for an incremental run), and discovers customers and subscriptions through those orders. Each
customer the run meets is fetched once (GET /customers/{id}, GET /customers/{id}/loyalty), each
subscription an order names once (GET /subscriptions/{id}). An order list without items costs one
GET /orders/{id} per order; one with them costs nothing more.

Every page is fetched first, then written in one transaction together with the run's counts and its
resume point (phase, page), so a run stopped anywhere (the shop unreachable, the worker killed, an
exception) goes on after its last committed page and writes every record exactly once. The writers
are the catalog's services: products through product_upsert_batch, contacts through
resolve_contacts (by email, then the shop's customer id as external id), orders with their lines
through order_upsert_batch (which keeps the commerce facts), loyalty through set_loyalty, and
subscriptions through subscription_upsert_batch. A record already as the shop has it comes back
"unchanged": a second run changes nothing."""

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.commerce import set_loyalty
from catalog.customers import resolve_contacts
from catalog.models import CommerceFacts, OrderSource
from catalog.services.catalogs import default_catalog
from catalog.services.orders import order_upsert_batch
from catalog.services.products import product_upsert_batch
from catalog.services.subscriptions import subscription_upsert_batch
from contacts.models import Contact

from . import mapping, services
from .client import PER_PAGE, Page, ShopApiError, ShopClient, ShopNotFound
from .models import ShopConnection, ShopResource, ShopSyncRun, SyncPhase, SyncStatus

KEPT_ERRORS = 100
# An interrupted run is resumed by the beat job after 1, 2, 4, 8 minutes; after that it has failed.
MAX_ATTEMPTS = 5
# The run's heartbeat is written at most this often while it waits (rate limit, retries).
HEARTBEAT_EVERY = timedelta(seconds=20)

Progress = Callable[[ShopSyncRun], None]


def _claim(run_id: int) -> bool:
    """Take the run: a queued or interrupted one, or a running one whose worker went silent."""
    now = timezone.now()
    runs = ShopSyncRun.objects.filter(pk=run_id)
    changes = {
        "status": SyncStatus.RUNNING,
        "heartbeat_at": now,
        "started_at": Coalesce(F("started_at"), Value(now)),
        "attempts": F("attempts") + 1,
    }
    if runs.filter(status__in=(SyncStatus.QUEUED, SyncStatus.INTERRUPTED)).update(**changes):
        return True
    stalled = now - timedelta(seconds=settings.CONNECTOR_STALLED_AFTER)
    return bool(runs.filter(status=SyncStatus.RUNNING, heartbeat_at__lt=stalled).update(**changes))


def sync_run(
    *, run_id: int, client: ShopClient | None = None, on_progress: Progress | None = None
) -> ShopSyncRun | None:
    """Carry the run out from where it stopped; None when another worker has it."""
    if not _claim(run_id):
        return None
    run = ShopSyncRun.objects.select_related("connection", "company").get(pk=run_id)
    own_client = client is None
    try:
        if own_client:
            client = services.client_for(run.connection)
    except ValueError as error:  # the key cannot be decrypted: only entering it again helps
        return _finish(run, SyncStatus.FAILED, str(error))
    heartbeat = _Heartbeat(run)
    client.on_wait = heartbeat
    try:
        _Run(run, client, on_progress, heartbeat).carry_out()
    except ShopApiError as error:
        status = SyncStatus.INTERRUPTED if error.retryable else SyncStatus.FAILED
        return _finish(run, status, str(error), requests=client.requests_made)
    except Exception as error:
        # A bug or the database gone: what was committed stays, the beat job resumes the rest.
        _finish(run, SyncStatus.INTERRUPTED, f"Unexpected error ({type(error).__name__}): {error}"[:2000])
        raise
    finally:
        if own_client:
            client.close()
    return _finish(run, SyncStatus.SUCCEEDED, "")


def _finish(run: ShopSyncRun, status: str, failure: str, requests: int = 0) -> ShopSyncRun:
    """Record how the run ended (unless someone else took it) and, when it ended for good, on the
    connection too. A failed run's watermark is not moved: the next run fetches those orders again."""
    now = timezone.now()
    if status == SyncStatus.INTERRUPTED and run.attempts >= MAX_ATTEMPTS:
        status, failure = SyncStatus.FAILED, f"Gave up after {run.attempts} attempts. {failure}"
    with transaction.atomic():
        fields = {"status": status, "failure": failure[:2000], "heartbeat_at": now}
        if status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED):
            fields["finished_at"] = now
        if requests:
            fields["requests_made"] = F("requests_made") + requests
        if not _owned(run).update(**fields):
            return ShopSyncRun.objects.get(pk=run.pk)
        run.refresh_from_db()
        connection = ShopConnection.objects.select_for_update().get(pk=run.connection_id)
        connection.last_sync_status = status
        connection.last_sync_counts = run.counts
        connection.last_sync_error = run.failure
        if status != SyncStatus.INTERRUPTED:
            connection.last_sync_at = now
        if status == SyncStatus.SUCCEEDED and ShopResource.ORDERS in connection.resources:
            # The API filters by date, "created after" it: a day's overlap misses nothing created
            # while this run went, whether the shop reads the date as inclusive or not.
            connection.orders_watermark = (run.started_at - timedelta(days=1)).date()
        connection.save()
    return run


def _owned(run: ShopSyncRun):
    """The run, while this worker holds it: running, and claimed by this attempt (a worker that took
    a stalled run over counted one more), so a worker thought dead never writes over its successor."""
    return ShopSyncRun.objects.filter(pk=run.pk, status=SyncStatus.RUNNING, attempts=run.attempts)


class _Heartbeat:
    def __init__(self, run: ShopSyncRun):
        self.run, self.last = run, timezone.now()

    def __call__(self) -> None:
        now = timezone.now()
        if now - self.last >= HEARTBEAT_EVERY:
            _owned(self.run).update(heartbeat_at=now)
            self.last = now


class _Run:
    def __init__(self, run: ShopSyncRun, client: ShopClient, on_progress: Progress | None, heartbeat: _Heartbeat):
        self.run, self.client, self.on_progress, self.heartbeat = run, client, on_progress, heartbeat
        self.connection = run.connection
        self.company = run.company
        self.resources = set(self.connection.resources)
        self.storefront = mapping.storefront_url(self.connection.base_url)
        self.committed_requests = client.requests_made

    def carry_out(self) -> None:
        run = self.run
        if run.phase == SyncPhase.PRODUCTS:
            if ShopResource.PRODUCTS in self.resources:
                self.catalog = default_catalog(self.company, create=True)
                for page in self.client.pages(self.client.products_page, start=run.page + 1):
                    self._commit(page, self._write_products(page), phase=SyncPhase.PRODUCTS)
            self._next_phase(SyncPhase.ORDERS)
        if run.phase == SyncPhase.ORDERS:
            if ShopResource.ORDERS in self.resources:

                def orders_page(number: int) -> Page:
                    return self.client.orders_page(number, date_from=None if run.full else run.watermark)

                for page in self.client.pages(orders_page, start=run.page + 1):
                    fetched = self._fetch_for_orders(page)
                    self._commit(page, partial(self._write_orders, page, fetched), phase=SyncPhase.ORDERS)
            self._next_phase(SyncPhase.DONE)

    # --- Bookkeeping ---------------------------------------------------------------------------------

    def _commit(self, page: Page, write: Callable[[], None], *, phase: str) -> None:
        """Write one page and move the resume point past it, in one transaction."""
        run = self.run
        with transaction.atomic():
            write()
            run.page = page.page
            run.total = page.total
            run.done = min(page.total, (page.page - 1) * PER_PAGE + len(page.items))
            run.requests_made += self.client.requests_made - self.committed_requests
            run.heartbeat_at = timezone.now()
            updated = _owned(run).update(
                page=run.page,
                total=run.total,
                done=run.done,
                requests_made=run.requests_made,
                counts=run.counts,
                errors=run.errors,
                error_count=run.error_count,
                seen_customers=run.seen_customers,
                seen_subscriptions=run.seen_subscriptions,
                heartbeat_at=run.heartbeat_at,
            )
            if not updated:  # taken for stalled meanwhile: the page is not ours to commit
                raise RuntimeError("The run was taken over by another worker.")
        self.committed_requests = self.client.requests_made
        self.heartbeat.last = run.heartbeat_at
        if self.on_progress:
            self.on_progress(run)

    def _next_phase(self, phase: str) -> None:
        run = self.run
        run.phase, run.page, run.done, run.total = phase, 0, 0, 0
        _owned(run).update(phase=phase, page=0, done=0, total=0, heartbeat_at=timezone.now())
        if self.on_progress:
            self.on_progress(run)

    def _count(self, resource: str, outcome: str, n: int = 1) -> None:
        counts = self.run.counts.setdefault(resource, {})
        counts[outcome] = counts.get(outcome, 0) + n

    def _error(self, resource: str, record_id, message) -> None:
        self.run.error_count += 1
        if len(self.run.errors) < KEPT_ERRORS:
            self.run.errors.append({"resource": resource, "id": str(record_id), "message": str(message)[:500]})

    # --- Products --------------------------------------------------------------------------------------

    def _write_products(self, page: Page) -> Callable[[], None]:
        def write() -> None:
            items = [mapping.product_item(product, self.storefront) for product in page.items]
            for result in product_upsert_batch(catalog=self.catalog, items=items):
                self._count("products", result.status)
                if result.status == "invalid":
                    self._error("product", result.product_id, _messages(result.errors))

        return write

    # --- Orders, and the customers and subscriptions they name ----------------------------------------

    def _fetch_for_orders(self, page: Page) -> dict:
        """Everything the page needs from the shop beyond the page itself, before any write."""
        fetched = {"orders": [], "customers": {}, "loyalty": {}, "subscriptions": {}}
        seen_subscriptions = set(self.run.seen_subscriptions)
        for order in page.items:
            if "items" not in order:  # a list without items: the order's own answer has them
                order = self._get(self.client.order, "order", order.get("id"))
                if order is None:
                    continue
            fetched["orders"].append(order)
            customer_id = str(order.get("customer_id") or "")
            if customer_id and customer_id not in self.run.seen_customers and customer_id not in fetched["customers"]:
                customer = None
                if ShopResource.CUSTOMERS in self.resources:
                    customer = self._get(self.client.customer, "customer", customer_id)
                fetched["customers"][customer_id] = customer or {"id": customer_id}
                if ShopResource.LOYALTY in self.resources:
                    loyalty = self._get(self.client.customer_loyalty, "loyalty", customer_id)
                    if loyalty is not None:
                        fetched["loyalty"][customer_id] = loyalty
            subscription_id = str(order.get("subscription_id") or "")
            if (
                subscription_id
                and ShopResource.SUBSCRIPTIONS in self.resources
                and subscription_id not in seen_subscriptions
                and subscription_id not in fetched["subscriptions"]
            ):
                subscription = self._get(self.client.subscription, "subscription", subscription_id)
                if subscription is not None:
                    fetched["subscriptions"][subscription_id] = subscription
        return fetched

    def _get(self, fetch, resource: str, record_id):
        """One record; a 404 (deleted meanwhile) is an error of the run, not the end of it."""
        try:
            return fetch(record_id)
        except ShopNotFound as error:
            self._error(resource, record_id, error)
            return None

    def _write_orders(self, page: Page, fetched: dict) -> None:
        run = self.run
        # 1. The customers met for the first time in this run become (or are matched to) contacts.
        new_ids = list(fetched["customers"])
        refs = [mapping.customer_ref(fetched["customers"][cid], cid) for cid in new_ids]
        if refs:
            newest_before = _newest_contact_id(self.company)
            contact_ids = resolve_contacts(company=self.company, refs=refs)
            created = {pk for pk in contact_ids if pk is not None and pk > newest_before}
            for customer_id, contact_id in zip(new_ids, contact_ids, strict=True):
                run.seen_customers[customer_id] = contact_id
                if contact_id is None:
                    self._count("customers", "invalid")
                    self._error("customer", customer_id, "No contact could be made from this customer.")
            self._count("customers", "created", len(created))
            self._count("customers", "matched", len({pk for pk in contact_ids if pk} - created))
        # 2. The orders with their lines.
        items = []
        for order in fetched["orders"]:
            customer_id = str(order.get("customer_id") or "")
            items.append(mapping.order_item(order, run.seen_customers.get(customer_id), customer_id))
        for result in order_upsert_batch(company=self.company, items=items, source=OrderSource.SHOP):
            self._count("orders", result.status)
            if result.status == "invalid":
                self._error("order", result.external_id, _messages(result.errors))
        # 3. Loyalty balances, written only when they differ from what is stored.
        self._write_loyalty(fetched["loyalty"])
        # 4. Subscriptions the orders named.
        if fetched["subscriptions"]:
            ids = list(fetched["subscriptions"])
            items = [mapping.subscription_item(fetched["subscriptions"][sid], run.seen_customers) for sid in ids]
            for sid, result in zip(ids, subscription_upsert_batch(company=self.company, items=items), strict=True):
                self._count("subscriptions", result.status)
                if result.status == "invalid":
                    self._error("subscription", sid, _messages(result.errors))
            run.seen_subscriptions = [*run.seen_subscriptions, *ids]

    def _write_loyalty(self, loyalty: dict[str, dict]) -> None:
        wanted = {}
        for customer_id, answer in loyalty.items():
            contact_id = self.run.seen_customers.get(customer_id)
            if contact_id is not None:
                wanted[contact_id] = (customer_id, mapping.loyalty_values(answer))
        stored = {
            row[0]: tuple(row[1:])
            for row in CommerceFacts.objects.for_company(self.company)
            .filter(contact_id__in=wanted)
            .values_list("contact_id", "loyalty_balance", "lifetime_points", "loyalty_value")
        }
        for contact_id, (customer_id, values) in wanted.items():
            if values is None:
                self._count("loyalty", "invalid")
                self._error("loyalty", customer_id, "The loyalty answer holds no whole points.")
                continue
            if stored.get(contact_id) == values:
                self._count("loyalty", "unchanged")
                continue
            balance, lifetime, value = values
            try:
                set_loyalty(
                    company=self.company, contact_id=contact_id, balance=balance, lifetime_points=lifetime, value=value
                )
            except ValidationError as error:
                self._count("loyalty", "invalid")
                self._error("loyalty", customer_id, _messages(error.message_dict))
            else:
                self._count("loyalty", "updated")


def _newest_contact_id(company) -> int:
    return Contact.objects.for_company(company).order_by("-pk").values_list("pk", flat=True).first() or 0


def _messages(errors: dict) -> str:
    return "; ".join(f"{field}: {' '.join(map(str, messages))}" for field, messages in (errors or {}).items())


# --- Scheduling (the beat job) ------------------------------------------------------------------------


def runs_to_resume(*, now=None) -> list[int]:
    """Runs a worker should be carrying out and is not: running with no heartbeat for
    CONNECTOR_STALLED_AFTER (the worker died), queued that long (the message was lost), or
    interrupted and past their backoff (1, 2, 4, 8 minutes after the attempt)."""
    now = now or timezone.now()
    stalled = now - timedelta(seconds=settings.CONNECTOR_STALLED_AFTER)
    candidates = ShopSyncRun.objects.filter(
        Q(status=SyncStatus.RUNNING, heartbeat_at__lt=stalled)
        | Q(status=SyncStatus.QUEUED, created_at__lt=stalled)
        | Q(status=SyncStatus.INTERRUPTED)
    ).order_by("pk")
    due = []
    for pk, status, attempts, heartbeat_at in candidates.values_list("pk", "status", "attempts", "heartbeat_at")[:100]:
        if (
            status == SyncStatus.INTERRUPTED
            and heartbeat_at
            and now - heartbeat_at < timedelta(minutes=2 ** max(0, attempts - 1))
        ):
            continue
        due.append(pk)
    return due


def due_connections(*, now=None) -> list[ShopConnection]:
    """Connections on a schedule whose interval has passed since their last sync ended."""
    now = now or timezone.now()
    due = []
    for connection in ShopConnection.objects.filter(sync_interval_minutes__gt=0).order_by("pk"):
        last = connection.last_sync_at
        if last is None or now - last >= timedelta(minutes=connection.sync_interval_minutes):
            due.append(connection)
    return due
