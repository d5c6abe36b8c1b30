"""Email campaigns and their delivery: templates, campaigns with their audience, one row per
recipient (the send's only progress record), tracked links and activity, the per-company send-rate
bucket, and the outbox of the embedded mail catcher.

The Salloq Marketing API's campaigns (name, type, subject, preview_text, content, list_id,
scheduled_at) are the public shape. Writes go through campaigns.services; sending through
campaigns.delivery, which claims recipient rows with SELECT ... FOR UPDATE SKIP LOCKED, so any
number of workers share one campaign and a crash neither skips nor repeats anyone.
"""

from django.db import models
from django.utils import timezone

from contacts.models import Contact, ContactList, Segment
from salloq.core.models import Company, CompanyScopedModel
from salloq.core.querysets import CompanyScopedQuerySet


class EmailTemplate(CompanyScopedModel):
    """A reusable layout; `{{ content }}` in its HTML is where a campaign's content goes."""

    name = models.CharField(max_length=200)
    html = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["company", "name"], name="email_template_unique_name")]

    def __str__(self) -> str:
        return self.name


class CampaignType(models.TextChoices):
    EMAIL = "email", "Email"
    # Accepted by the model; sending refuses it with a 400 until SMS exists.
    SMS = "sms", "SMS"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    SENDING = "sending", "Sending"
    PAUSED = "paused", "Paused"
    SENT = "sent", "Sent"
    CANCELLED = "cancelled", "Cancelled"
    FAILED = "failed", "Failed"


# Content, subject and audience may change only while the campaign has not started sending.
EDITABLE_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED})


class Campaign(CompanyScopedModel):
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=10, choices=CampaignType.choices, default=CampaignType.EMAIL)
    subject = models.CharField(max_length=255, blank=True, default="")
    # The hidden preheader mail clients show after the subject.
    preview_text = models.CharField(max_length=255, blank=True, default="")
    # Sanitized HTML with Django template personalization ({{ contact.first_name|default:"there" }}).
    content = models.TextField(blank=True, default="")
    template = models.ForeignKey(
        EmailTemplate, on_delete=models.SET_NULL, null=True, blank=True, related_name="campaigns"
    )
    # The audience: members of `lists` and `segments`, minus members of the excluded ones.
    lists = models.ManyToManyField(ContactList, blank=True, related_name="+")
    segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    excluded_lists = models.ManyToManyField(ContactList, blank=True, related_name="+")
    excluded_segments = models.ManyToManyField(Segment, blank=True, related_name="+")
    # Empty: the company's defaults (Company.sender_name / sender_email / reply_to_email).
    from_name = models.CharField(max_length=200, blank=True, default="")
    from_email = models.EmailField(blank=True, default="")
    reply_to = models.EmailField(blank=True, default="")
    scheduled_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    # The template and content merged when sending started: what every recipient gets, whatever
    # later happens to the template.
    frozen_source = models.TextField(blank=True, default="")
    recipient_count = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["company", "status"], name="campaign_company_status"),
            # celery-beat's tick: scheduled campaigns that are due.
            models.Index(
                fields=["scheduled_at"],
                condition=models.Q(status="scheduled"),
                name="campaign_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in CampaignStatus]), name="campaign_status_valid"
            ),
            models.CheckConstraint(
                condition=models.Q(type__in=[t.value for t in CampaignType]), name="campaign_type_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_STATUSES


class RecipientStatus(models.TextChoices):
    PENDING = "pending", "Waiting"
    # Claimed by a worker (claimed_at says when); a claim older than the lease is taken over.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    # Refused for good (a permanent 5xx), or temporary failures past the retry limit.
    FAILED = "failed", "Failed"
    # A mailbox-level permanent refusal: the contact is marked bounced and suppressed.
    BOUNCED = "bounced", "Bounced"
    # Left unsent because the campaign was cancelled, or the contact became unmailable
    # (unsubscribed, blacklisted, erased) between the snapshot and the send.
    SKIPPED = "skipped", "Skipped"


class CampaignRecipient(models.Model):
    """One contact's copy of one campaign: created when sending starts (the audience snapshot),
    claimed, sent and marked by the workers. The rows are the progress; nothing else is."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    # Null once the contact is deleted; the row stays for the campaign's figures.
    contact = models.ForeignKey(Contact, on_delete=models.SET_NULL, null=True, related_name="+")
    email = models.CharField(max_length=254)
    status = models.CharField(max_length=10, choices=RecipientStatus.choices, default=RecipientStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # After a temporary failure: not claimed again before this.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    first_opened_at = models.DateTimeField(null=True, blank=True)
    open_count = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "contact"], name="campaign_recipient_unique_contact"),
            models.CheckConstraint(
                condition=models.Q(status__in=[s.value for s in RecipientStatus]),
                name="campaign_recipient_status_valid",
            ),
        ]
        indexes = [
            # The workers' claim: the pending rows of one campaign, in id order.
            models.Index(
                fields=["campaign", "id"],
                condition=models.Q(status__in=["pending", "sending"]),
                name="campaign_recipient_unsent",
            ),
            models.Index(fields=["campaign", "status"], name="campaign_recipient_status"),
        ]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class CampaignLink(models.Model):
    """A URL found in a campaign's content when sending started. A click redirects only to one of
    these (by id, from a signed token), so the tracker is never an open redirect."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="links")
    url = models.TextField()
    # Order of first appearance in the content (1, 2, ...), for the report.
    position = models.PositiveIntegerField()

    class Meta:
        ordering = ["position"]
        constraints = [models.UniqueConstraint(fields=["campaign", "position"], name="campaign_link_unique_position")]

    def __str__(self) -> str:
        return self.url


class ActivityKind(models.TextChoices):
    OPEN = "open", "Open"
    CLICK = "click", "Click"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe"


class CampaignActivity(models.Model):
    """One open, click or unsubscribe of a recipient, for the report's figures over time."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="activities")
    recipient = models.ForeignKey(CampaignRecipient, on_delete=models.CASCADE, related_name="activities")
    kind = models.CharField(max_length=12, choices=ActivityKind.choices)
    link = models.ForeignKey(CampaignLink, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    occurred_at = models.DateTimeField(default=timezone.now)
    # Link scanners and prefetchers (known user agents, a click within seconds of delivery): kept,
    # but never counted as a unique open or click.
    is_machine = models.BooleanField(default=False)
    user_agent = models.CharField(max_length=400, blank=True, default="")

    class Meta:
        indexes = [models.Index(fields=["campaign", "kind", "occurred_at"], name="campaign_activity_time")]

    def __str__(self) -> str:
        return f"{self.kind} of {self.recipient_id}"


class SendRateBucket(models.Model):
    """A company's token bucket for Company.send_rate_per_second, shared by every worker on every
    machine: a worker takes tokens for a batch (one locked UPDATE) before it sends it."""

    company = models.OneToOneField(Company, on_delete=models.CASCADE, primary_key=True, related_name="+")
    tokens = models.FloatField(default=0)
    refilled_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.company_id}: {self.tokens:.1f}"


class OutboxMessage(models.Model):
    """A message the embedded mail catcher received (bin/run with no EMAIL_HOST): what recipients
    would have got. The company is read from the message's Feedback-ID header; messages without one
    (none of a company's) are shown to no company."""

    company = models.ForeignKey(Company, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    received_at = models.DateTimeField(default=timezone.now)
    mail_from = models.CharField(max_length=320, blank=True, default="")
    recipients = models.TextField(blank=True, default="")
    subject = models.CharField(max_length=998, blank=True, default="")
    message_id = models.CharField(max_length=255, blank=True, default="")
    raw = models.BinaryField()

    objects = CompanyScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["company", "-received_at"], name="outbox_company_received")]

    def __str__(self) -> str:
        return self.subject
