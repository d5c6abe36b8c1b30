"""The Salloq Ecommerce connector's rows: one shop connection per company, and a row per sync run
recording its progress, counts, errors and where a resumed run goes on from."""

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from salloq.core.models import CompanyScopedModel


class ShopResource(models.TextChoices):
    PRODUCTS = "products", "Products"
    ORDERS = "orders", "Orders"
    CUSTOMERS = "customers", "Customers"
    LOYALTY = "loyalty", "Loyalty balances"
    SUBSCRIPTIONS = "subscriptions", "Subscriptions"


ALL_RESOURCES = [resource.value for resource in ShopResource]


def default_resources() -> list[str]:
    return list(ALL_RESOURCES)


class SyncStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    # Stopped mid-way by something that may pass (the shop unreachable, the worker gone): the beat
    # job resumes it from its last committed page.
    INTERRUPTED = "interrupted", "Interrupted"


ACTIVE_STATUSES = (SyncStatus.QUEUED, SyncStatus.RUNNING, SyncStatus.INTERRUPTED)


class SyncPhase(models.TextChoices):
    PRODUCTS = "products", "Products"
    ORDERS = "orders", "Orders, customers, loyalty and subscriptions"
    DONE = "done", "Done"


class ShopConnection(CompanyScopedModel):
    """A company's Salloq Ecommerce shop: where it is, its API key (encrypted; only the last four
    characters are ever shown), what to sync, how often, and how the last sync went."""

    base_url = models.URLField(max_length=500, help_text="The shop's API root, e.g. https://shop.example.com/api")
    api_key_encrypted = models.TextField(editable=False)
    api_key_last4 = models.CharField(max_length=4, editable=False)
    resources = models.JSONField(default=default_resources)
    # Beat starts an incremental sync this long after the last one started; 0 only syncs on demand.
    sync_interval_minutes = models.PositiveIntegerField(
        default=60, validators=[MaxValueValidator(7 * 24 * 60)], help_text="0: only when asked"
    )
    # The date_from of the next incremental run (null: the next run is a full one).
    orders_watermark = models.DateField(null=True, blank=True)
    last_sync_status = models.CharField(max_length=20, choices=SyncStatus.choices, blank=True, default="")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_sync_counts = models.JSONField(default=dict, blank=True)
    last_sync_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["company"], name="shop_connection_one_per_company")]

    def __str__(self) -> str:
        return f"{self.base_url} (…{self.api_key_last4})"

    @property
    def masked_api_key(self) -> str:
        return f"••••{self.api_key_last4}"


class ShopSyncRun(CompanyScopedModel):
    """One sync of a shop. Pages are committed one at a time with the run's counts and resume point
    (`phase`, `page`, `watermark`), so a run stopped anywhere goes on after its last committed page."""

    connection = models.ForeignKey(ShopConnection, on_delete=models.CASCADE, related_name="runs")
    full = models.BooleanField(default=False, help_text="Every order, not only those since the watermark")
    trigger = models.CharField(max_length=20, default="manual")  # manual, schedule, command
    status = models.CharField(max_length=20, choices=SyncStatus.choices, default=SyncStatus.QUEUED)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Resume point: the phase, the last page committed in it, and the date_from the run uses.
    phase = models.CharField(max_length=20, choices=SyncPhase.choices, default=SyncPhase.PRODUCTS)
    page = models.PositiveIntegerField(default=0)
    watermark = models.DateField(null=True, blank=True)
    # Progress of the current phase, in records (total as the shop counted it on the first page).
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict, blank=True)
    # The shop's customers fetched by this run, so a resumed run does not fetch them again.
    seen_customers = models.JSONField(default=dict, blank=True)  # shop customer id -> contact id
    seen_subscriptions = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first 100 errors")
    failure = models.TextField(blank=True, default="")
    requests_made = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=0, validators=[MinValueValidator(0)])

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in SyncStatus]), name="shop_sync_run_status_valid"
            ),
            # At most one run of a connection is on its way at a time.
            models.UniqueConstraint(
                fields=["connection"],
                condition=models.Q(status__in=[s.value for s in ACTIVE_STATUSES]),
                name="shop_sync_run_one_active",
            ),
        ]
        indexes = [models.Index(fields=["status", "heartbeat_at"], name="shop_sync_run_status_beat")]

    def __str__(self) -> str:
        return f"sync {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == SyncStatus.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(100, round(100 * self.done / self.total))

    @property
    def is_finished(self) -> bool:
        return self.status in (SyncStatus.SUCCEEDED, SyncStatus.FAILED)
