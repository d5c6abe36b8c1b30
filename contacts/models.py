"""Contacts and audiences: who a company can reach, on what terms."""

from django.conf import settings
from django.db import models
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.utils import timezone

from salloq.core.models import Company, CompanyScopedModel
from salloq.core.querysets import CompanyScopedQuerySet
from salloq.core.validators import require_header_safe


class ContactStatus(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BOUNCED = "bounced", "Bounced"


class ContactQuerySet(CompanyScopedQuerySet):
    # Here rather than in a module of its own: it reads list memberships and the blacklist, and the
    # models read it (Contact.objects), so apart the two would import each other.

    def in_list(self, list_id: int, statuses: tuple[str, ...] | None = None) -> "ContactQuerySet":
        memberships = ListMembership.objects.filter(contact=OuterRef("pk"), contact_list_id=list_id)
        if statuses:
            memberships = memberships.filter(status__in=statuses)
        return self.filter(Exists(memberships))

    def mailable(self) -> "ContactQuerySet":
        """Who an email may go to: subscribed, with an address, not erased, not blacklisted.

        List audiences add `in_list(list_id, ("subscribed",))`, which leaves out pending
        (unconfirmed double opt-in) and unsubscribed members."""
        suppressed = Suppression.objects.filter(company_id=OuterRef("company_id"), email=OuterRef("email"))
        return (
            self.filter(status=ContactStatus.SUBSCRIBED, erased_at__isnull=True)
            .exclude(email="")
            .filter(~Exists(suppressed))
        )


class Contact(CompanyScopedModel):
    # Every index of the table leads with company_id, so a lone one on it would only slow writes.
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="+", db_index=False)
    # Stored normalized (trimmed, lower-case); "" when the contact is known by phone or id only.
    email = models.CharField(max_length=254, blank=True, default="")
    external_id = models.CharField(max_length=255, null=True, blank=True)
    # E.164 when it could be normalized; otherwise kept as given, with phone_valid False.
    phone = models.CharField(max_length=40, blank=True, default="", help_text="E.164, e.g. +33612345678")
    # False when the phone is not a valid number (the API document's own "+1-555-0123", a shop's
    # "555-0123"): the contact is kept, the phone as given, and no SMS goes to it.
    # db_default too, so rows written by plain SQL (the benchmarks' COPY and INSERT) get it as well.
    phone_valid = models.BooleanField(default=True, db_default=True)
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    lang = models.CharField(max_length=10, blank=True, default="", help_text="ISO 639-1 or BCP 47")
    source = models.CharField(max_length=100, blank=True, default="")
    status = models.CharField(max_length=20, choices=ContactStatus.choices, default=ContactStatus.SUBSCRIBED)
    properties = models.JSONField(default=dict, blank=True)
    # A list of strings, in the order first given, each once. On the contact's own row rather than
    # a row per tag: a bulk upsert of 1000 contacts with two tags each wrote 2000 more rows, each
    # with its foreign key checked at commit, which cost as much as the contacts themselves
    # (bench/README.md). Matching is in contacts.tags; on PostgreSQL a GIN index (migration 0003)
    # serves the exact-tag filter.
    tags = models.JSONField(default=list, blank=True)
    # GDPR erasure wipes personal data but keeps the row, so activity stays countable.
    erased_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["company", "email"], condition=~models.Q(email=""), name="contact_unique_email_per_company"
            ),
            models.UniqueConstraint(
                fields=["company", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="contact_unique_external_id_per_company",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in ContactStatus]), name="contact_status_valid"
            ),
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="contact_email_lowercase"),
        ]
        indexes = [
            models.Index(fields=["company", "status"], name="contact_company_status"),
            models.Index(fields=["company", "created_at"], name="contact_company_created"),
            models.Index(fields=["company", "phone"], name="contact_company_phone"),
        ]

    def __str__(self) -> str:
        return self.email or self.phone or self.external_id or f"contact {self.pk}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


class FieldType(models.TextChoices):
    TEXT = "text", "Text"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"


class CustomField(CompanyScopedModel):
    """A company-defined contact attribute (Splio's `fields`: id and name), typed."""

    name = models.CharField(max_length=100)
    field_type = models.CharField(max_length=20, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(default=list, blank=True, help_text="Allowed values of a choice field")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="custom_field_unique_name"),
            models.CheckConstraint(
                condition=models.Q(field_type__in=[t.value for t in FieldType]), name="custom_field_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CustomFieldValue(models.Model):
    """One typed value per contact and field; typed columns let segments compare in SQL."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="field_values")
    field = models.ForeignKey(CustomField, on_delete=models.CASCADE, related_name="values")
    text_value = models.TextField(null=True, blank=True)
    number_value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    date_value = models.DateField(null=True, blank=True)
    bool_value = models.BooleanField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "field"], name="custom_field_value_unique")]
        indexes = [
            models.Index(fields=["field", "number_value"], name="cfv_field_number"),
            models.Index(fields=["field", "date_value"], name="cfv_field_date"),
        ]

    def __str__(self) -> str:
        return f"{self.field_id}={self.value}"

    @property
    def value(self):
        for column in ("text_value", "number_value", "date_value", "bool_value"):
            if getattr(self, column) is not None:
                return getattr(self, column)
        return None


class KeyInformation(models.Model):
    """Zero-party data (SALESmanago API v3): named numeric or text values a contact told the company."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="key_information")
    name = models.CharField(max_length=255)
    numeric_value = models.DecimalField(max_digits=30, decimal_places=6, null=True, blank=True)
    text_value = models.CharField(max_length=255, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "name"], name="key_information_unique_name"),
            models.CheckConstraint(
                condition=models.Q(numeric_value__isnull=True) | models.Q(text_value__isnull=True),
                name="key_information_one_kind",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def value(self):
        return self.numeric_value if self.numeric_value is not None else self.text_value


class ContactList(CompanyScopedModel):
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    double_opt_in = models.BooleanField(
        default=False, help_text="New subscriptions stay pending until confirmed from an email"
    )
    reminder_after_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Remind pending contacts to confirm after this many days"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="contact_list_unique_name")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # For the admin's form: services check the same (the name is its confirmation emails' subject).
        require_header_safe(field="name", value=self.name)


class MembershipStatus(models.TextChoices):
    PENDING = "pending", "Pending confirmation"
    SUBSCRIBED = "subscribed", "Subscribed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


class ListMembership(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="memberships")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="list_memberships")
    status = models.CharField(max_length=20, choices=MembershipStatus.choices, default=MembershipStatus.SUBSCRIBED)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    subscribed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirmed_ip = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact_list", "contact"], name="list_membership_unique"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in MembershipStatus]), name="list_membership_status_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["contact_list", "status"], name="list_membership_list_status"),
            models.Index(fields=["contact", "status"], name="list_membership_contact_status"),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} in {self.contact_list_id} ({self.status})"


class Suppression(CompanyScopedModel):
    """The blacklist: an address here is never mailed, whatever list or segment it is in."""

    email = models.CharField(max_length=254)
    reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["company", "email"], name="suppression_unique_email"),
            models.CheckConstraint(condition=models.Q(email=Lower("email")), name="suppression_email_lowercase"),
        ]

    def __str__(self) -> str:
        return self.email


class ConsentAction(models.TextChoices):
    SUBSCRIBED = "subscribed", "Subscribed"
    CONFIRMATION_SENT = "confirmation_sent", "Confirmation email sent"
    REMINDER_SENT = "reminder_sent", "Confirmation reminder sent"
    CONFIRMED = "confirmed", "Confirmed (double opt-in)"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    BLACKLISTED = "blacklisted", "Blacklisted"
    UNBLACKLISTED = "unblacklisted", "Removed from blacklist"
    RESUBSCRIBE_REFUSED = "resubscribe_refused", "Re-subscription refused (no fresh consent)"


class ConsentRecord(CompanyScopedModel):
    """What the contact agreed to or withdrew, when, and from where: the audit trail of consent."""

    # consent_contact_created (contact, created_at) serves every lookup by contact.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consent_records", db_index=False)
    action = models.CharField(max_length=30, choices=ConsentAction.choices)
    contact_list = models.ForeignKey(
        ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="consent_records"
    )
    source = models.CharField(max_length=100, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=400, blank=True, default="")
    note = models.CharField(max_length=400, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "created_at"], name="consent_contact_created")]

    def __str__(self) -> str:
        return f"{self.action} @ {self.created_at:%Y-%m-%d %H:%M}"


class Segment(CompanyScopedModel):
    """A dynamic audience: contacts matching `definition` (the Salloq Marketing API's rule language), counted live."""

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    definition = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="segment_unique_name")]

    def __str__(self) -> str:
        return self.name


class ImportStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactImport(CompanyScopedModel):
    """A CSV import, run by a Celery task, with progress and a per-row error report."""

    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True, default="")
    # CSV column -> target: "email", "first_name", "tag", "field:<name>", "property:<key>", "" (skip)
    mapping = models.JSONField(default=dict)
    contact_list = models.ForeignKey(ContactList, null=True, blank=True, on_delete=models.SET_NULL)
    tags = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=20, choices=ImportStatus.choices, default=ImportStatus.PENDING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{row, field, message}], first 1000")
    failure = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Set by the run with every committed chunk: a running import whose heartbeat is old lost its
    # worker, and a beat job resumes it (imports.stalled_imports_claim).
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status == ImportStatus.DONE else 0
        return min(100, round(100 * self.processed_rows / self.total_rows))


class BulkActionKind(models.TextChoices):
    TAG = "tag", "Add tags"
    UNTAG = "untag", "Remove tags"
    ADD_TO_LIST = "add_to_list", "Add to list"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe from everything"
    ERASE = "erase", "Erase"


class BulkActionStatus(models.TextChoices):
    PENDING = "pending", "Waiting for a worker"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ContactBulkAction(CompanyScopedModel):
    """One action on many contacts from the dashboard's contact list (contacts.bulk_actions): the
    ticked contacts, or every contact matching the list's filters. Large ones run in a Celery task
    that walks the selection in id order; `last_contact_id` is where a resumed run goes on from."""

    action = models.CharField(max_length=20, choices=BulkActionKind.choices)
    tags = models.JSONField(default=list, blank=True)
    contact_list = models.ForeignKey(ContactList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The selection: the ticked ids, or (contact_ids null) the contact list's filters as the page
    # sent them, limited to contacts that existed when the action was asked for.
    contact_ids = models.JSONField(null=True, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    max_contact_id = models.BigIntegerField(default=0)
    status = models.CharField(max_length=20, choices=BulkActionStatus.choices, default=BulkActionStatus.PENDING)
    total = models.PositiveIntegerField(default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(default=0)
    last_contact_id = models.BigIntegerField(default=0)
    warning_count = models.PositiveIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True, help_text="The first 100 warnings")
    # Add to list: how many selected contacts are on the list but cannot be mailed, by mailability
    # state ({"blacklisted": 2, "bounced": 1}); joining a list does not make them mailable.
    not_mailed = models.JSONField(default=dict, blank=True)
    failure = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=[k.value for k in BulkActionKind]), name="bulk_action_kind_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in BulkActionStatus]), name="bulk_action_status_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"bulk action {self.pk} ({self.action}, {self.status})"

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == BulkActionStatus.DONE else 0
        return min(100, round(100 * self.processed / self.total))

    @property
    def is_finished(self) -> bool:
        return self.status in (BulkActionStatus.DONE, BulkActionStatus.FAILED)
