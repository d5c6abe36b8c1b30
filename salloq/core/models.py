from django.conf import settings
from django.db import models
from django.utils import timezone

from .querysets import ApiKeyQuerySet, CompanyScopedQuerySet
from .validators import validate_header_safe


class Company(models.Model):
    """The tenant: every domain row belongs to exactly one company."""

    # The From name of the company's emails.
    name = models.CharField(max_length=200, unique=True, validators=[validate_header_safe])
    # Shared secret for HMAC-signed webhooks from the shop/POS (the Salloq Marketing API /api/webhook).
    webhook_secret = models.CharField(max_length=100, blank=True)
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True)
    # The secret before the last rotation, still accepted until its expiry so the shop can switch
    # to the new one without refused deliveries (WEBHOOK_PREVIOUS_SECRET_GRACE_HOURS).
    webhook_previous_secret = models.CharField(max_length=100, blank=True)
    webhook_previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Lists created without saying otherwise ask new subscribers to confirm by email.
    double_opt_in_default = models.BooleanField(default=False)
    # Campaign sender defaults (a campaign may set its own), the postal address every campaign's
    # footer shows when set (CAN-SPAM), and the send rate all workers together keep to.
    sender_name = models.CharField(max_length=200, blank=True, default="", validators=[validate_header_safe])
    sender_email = models.EmailField(blank=True, default="")
    reply_to_email = models.EmailField(blank=True, default="")
    postal_address = models.TextField(max_length=500, blank=True, default="")
    # Messages per second across every worker; empty: CAMPAIGN_DEFAULT_SEND_RATE.
    send_rate_per_second = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "companies"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def webhook_secrets(self, now=None) -> list[str]:
        """The secrets a webhook may be signed with: the current one, and the previous one until its expiry."""
        now = now or timezone.now()
        secrets = [self.webhook_secret] if self.webhook_secret else []
        expires_at = self.webhook_previous_secret_expires_at
        if self.webhook_previous_secret and expires_at is not None and now < expires_at:
            secrets.append(self.webhook_previous_secret)
        return secrets

    @property
    def webhook_previous_secret_active(self) -> bool:
        return len(self.webhook_secrets()) == 2


class CompanyScopedModel(models.Model):
    """Base for every domain model: a company and a queryset that scopes by it."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+")

    objects = CompanyScopedQuerySet.as_manager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MARKETER = "marketer", "Marketer"
    VIEWER = "viewer", "Viewer"


# What each role may do, from least to most.
ROLE_RANK = {Role.VIEWER: 0, Role.MARKETER: 1, Role.OWNER: 2}


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "company"], name="membership_unique_user_company"),
            models.CheckConstraint(condition=models.Q(role__in=[r.value for r in Role]), name="membership_role_valid"),
        ]
        ordering = ["company__name"]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"

    def allows(self, role: str) -> bool:
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(role)]


class Scope(models.TextChoices):
    ALL = "*", "Full access"
    CONTACTS_READ = "contacts:read", "Read contacts"
    CONTACTS_WRITE = "contacts:write", "Write contacts"
    CAMPAIGNS_READ = "campaigns:read", "Read campaigns"
    CAMPAIGNS_WRITE = "campaigns:write", "Write campaigns"
    FLOWS_READ = "flows:read", "Read flows"
    FLOWS_WRITE = "flows:write", "Write flows"
    EVENTS_READ = "events:read", "Read events"
    EVENTS_WRITE = "events:write", "Track events"
    CATALOG_READ = "catalog:read", "Read catalog"
    CATALOG_WRITE = "catalog:write", "Write catalog"


def default_hourly_limit() -> int:
    """The hourly request limit of a new key unless its creator says otherwise (API_DEFAULT_HOURLY_LIMIT)."""
    return settings.API_DEFAULT_HOURLY_LIMIT


class ApiKey(CompanyScopedModel):
    """An API key; only its SHA-256 is stored, the key itself is shown once."""

    name = models.CharField(max_length=100)
    # Public part of the key (shown in lists, used for lookup); not secret.
    prefix = models.CharField(max_length=20, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    hourly_limit = models.PositiveIntegerField(default=default_hourly_limit)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(hourly_limit__gte=1), name="apikey_hourly_limit_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.is_revoked:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "active"

    def has_scope(self, scope: str) -> bool:
        return Scope.ALL in self.scopes or scope in self.scopes


class TaskProbe(models.Model):
    """A round trip through the broker and a worker, asked for by `check_worker`."""

    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"probe {self.pk} ({'done' if self.completed_at else 'waiting'})"


class Heartbeat(models.Model):
    """Last time a periodic job ran; shown on the system status page."""

    name = models.CharField(max_length=100, unique=True)
    last_seen_at = models.DateTimeField()
    worker = models.CharField(max_length=200, blank=True)

    def __str__(self) -> str:
        return f"{self.name} @ {self.last_seen_at:%Y-%m-%d %H:%M:%S}"


class MailServerState(models.Model):
    """Whether the SMTP server (EMAIL_HOST:EMAIL_PORT) is answering, as the workers that send mail
    last found it: one row, written by workers, read by the dashboard (another process).

    `failures` counts failed attempts in a row and sets how long senders wait before the next one
    (`next_attempt_at`); a message the server accepts clears it all."""

    unreachable_since = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    # The server the failing worker tried, which may differ from the web process's settings.
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        if self.unreachable_since is None:
            return "mail server reachable"
        return f"mail server {self.host}:{self.port} unreachable since {self.unreachable_since:%Y-%m-%d %H:%M:%S}"


class Invitation(models.Model):
    """An invitation to join a company's team with a role, sent by email (salloq.core.invitations).

    Only the SHA-256 of its token is stored: the token is in the emailed link (and shown once to
    whoever invited), like an API key. Pending until accepted, revoked or past `expires_at`."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(max_length=254)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MARKETER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(role__in=[r.value for r in Role]), name="invitation_role_valid"),
            # One open invitation per address and company (an expired one is revoked when re-inviting).
            models.UniqueConstraint(
                fields=["company", "email"],
                condition=models.Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_open_per_email",
            ),
        ]

    def __str__(self) -> str:
        return f"invitation of {self.email} to {self.company} ({self.role})"

    def is_expired(self, now=None) -> bool:
        return self.expires_at <= (now or timezone.now())

    @property
    def status(self) -> str:
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        if self.is_expired():
            return "expired"
        return "pending"
