"""Sending campaigns: start (the audience snapshot), pause, resume, cancel, test sends, progress,
and the workers' loop that claims, sends and marks recipient rows.

The CampaignRecipient rows are the only progress record. A worker claims a batch of pending rows
(SELECT ... FOR UPDATE SKIP LOCKED, so any number of workers on any number of machines take
different rows), sends them over one SMTP connection and marks each row sent, with its Message-ID,
as soon as the server has accepted that message. The claim is a lease: the worker renews it with
every chunk it sends, and the rows of a worker that died are taken over once it expires.

The guarantee: nobody is skipped, and a crash repeats at most the one message per SMTP connection
that the server had accepted when the worker died, before its row was marked (the window between
the server's "250" and the mark's commit, a fraction of a millisecond). Everything else in flight
was never accepted, so it is sent once, by whichever worker takes the row over.
"""

import logging
import smtplib
import time
from contextlib import suppress
from datetime import timedelta

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from contacts.models import Contact, ListMembership, MembershipStatus
from contacts.services import contacts_mark_bounced
from salloq.core import mailserver

from . import audience, ratelimit, rendering, smtp
from .models import Campaign, CampaignRecipient, CampaignStatus, CampaignType, RecipientStatus

logger = logging.getLogger(__name__)

SEND_TASK = "campaigns.tasks.send_campaign_batches"
# A send task runs this long at most, then enqueues itself again: tasks stay short enough for the
# broker's visibility timeout, and other work gets a turn on the worker.
TASK_RUN_SECONDS = 300
# After the n-th temporary failure of a recipient, wait RETRY_BASE * 2**(n-1), at most RETRY_CAP.
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
MAX_TEST_RECIPIENTS = 10
# Scheduled campaigns started per beat tick (the rest wait 15 seconds).
DUE_PER_TICK = 50

_R = RecipientStatus
_UNSENT = (_R.PENDING, _R.SENDING)


def _status_error(campaign: Campaign, action: str) -> ValidationError:
    label = CampaignStatus(campaign.status).label.lower()
    return ValidationError({"status": [f"A {label} campaign cannot be {action}."]})


def _enqueue_senders(campaign_id: int) -> None:
    """One task per worker slot: each loops until no recipient is left, over its own connection."""
    task = current_app.tasks[SEND_TASK]
    for _ in range(settings.CAMPAIGN_SEND_TASKS):
        task.delay(campaign_id)


# --- Starting ---------------------------------------------------------------------------------


def _check_sendable(campaign: Campaign) -> None:
    if campaign.type != CampaignType.EMAIL:
        raise ValidationError({"type": ["Only email campaigns can be sent: SMS sending is not available yet."]})
    if not campaign.subject.strip():
        raise ValidationError({"subject": ["Give the campaign a subject before sending it."]})
    if not campaign.content.strip():
        raise ValidationError({"content": ["Give the campaign some content before sending it."]})
    if not campaign.lists.exists() and not campaign.segments.exists():
        raise ValidationError({"list_ids": ["Choose at least one list or segment to send to."]})


def send_campaign(*, campaign: Campaign, scheduled_at=None) -> Campaign:
    """Start sending now (scheduled_at None), or schedule the campaign for beat to start then."""
    if campaign.type != CampaignType.EMAIL:
        raise ValidationError({"type": ["Only email campaigns can be sent: SMS sending is not available yet."]})
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise _status_error(campaign, "sent again")
    if scheduled_at is None:
        return start_campaign(campaign_id=campaign.pk)
    if scheduled_at <= timezone.now():
        raise ValidationError({"scheduled_at": ["This time has passed: give a time to come, or none to send now."]})
    _check_sendable(campaign)
    updated = Campaign.objects.filter(
        pk=campaign.pk, status__in=(CampaignStatus.DRAFT, CampaignStatus.SCHEDULED)
    ).update(status=CampaignStatus.SCHEDULED, scheduled_at=scheduled_at, updated_at=timezone.now())
    campaign.refresh_from_db()
    if not updated:
        raise _status_error(campaign, "scheduled")
    return campaign


def start_campaign(*, campaign_id: int) -> Campaign:
    """Freeze the content, snapshot the audience into recipient rows and hand them to the workers,
    in one transaction: a campaign is either still a draft (or scheduled) or sending with all its
    recipients. The row lock makes a second start (beat and a user at once) wait and then refuse."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update(of=("self",)).select_related("company").get(pk=campaign_id)
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
            raise _status_error(campaign, "sent again")
        _check_sendable(campaign)
        rendering.freeze(campaign)
        count = audience.snapshot_recipients(campaign)
        now = timezone.now()
        campaign.status = CampaignStatus.SENDING if count else CampaignStatus.SENT
        campaign.started_at = now
        campaign.finished_at = None if count else now
        campaign.recipient_count = count
        campaign.last_error = ""
        campaign.save(
            update_fields=[
                "status",
                "started_at",
                "finished_at",
                "recipient_count",
                "last_error",
                "frozen_source",
                "updated_at",
            ]
        )
        if count:
            transaction.on_commit(lambda: _enqueue_senders(campaign_id))
    return campaign


def start_due_campaigns(*, now=None) -> int:
    """Beat's tick: start the scheduled campaigns that are due (one that cannot start is marked
    failed with the reason), finish sending campaigns whose last row is done, and enqueue senders
    again for sending campaigns that nobody is working on (their workers died, or the mail server
    or a recipient's retry time made them stop). Returns how many campaigns were started."""
    now = now or timezone.now()
    due = Campaign.objects.filter(status=CampaignStatus.SCHEDULED, scheduled_at__lte=now).order_by("scheduled_at")
    started = 0
    for campaign_id in list(due.values_list("pk", flat=True)[:DUE_PER_TICK]):
        try:
            start_campaign(campaign_id=campaign_id)
            started += 1
        except ValidationError as error:
            message = "; ".join(" ".join(messages) for messages in error.message_dict.values())
            Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SCHEDULED).update(
                status=CampaignStatus.FAILED, last_error=f"Could not start: {message}"[:500], finished_at=now
            )
    for campaign_id in Campaign.objects.filter(status=CampaignStatus.SENDING).values_list("pk", flat=True):
        _restart_if_stalled(campaign_id, now)
    return started


def _restart_if_stalled(campaign_id: int, now) -> None:
    rows = CampaignRecipient.objects.filter(campaign_id=campaign_id, status__in=_UNSENT)
    if not rows.exists():
        _finish_if_done(campaign_id)
        return
    lease_start = now - timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS)
    if rows.filter(status=_R.SENDING, claimed_at__gte=lease_start).exists():
        return  # a worker holds a live claim
    if _claimable(campaign_id, now).exists() and mailserver.may_attempt(now):
        # A worker between two batches looks the same: it then gets company, never a double send.
        _enqueue_senders(campaign_id)


# --- Pause, resume, cancel, progress --------------------------------------------------------


def _move(campaign: Campaign, from_statuses, to_status, action: str, **changes) -> Campaign:
    updated = Campaign.objects.filter(pk=campaign.pk, status__in=from_statuses).update(
        status=to_status, updated_at=timezone.now(), **changes
    )
    campaign.refresh_from_db()
    if not updated:
        raise _status_error(campaign, action)
    return campaign


def pause_campaign(*, campaign: Campaign) -> Campaign:
    """Workers stop claiming at once and stop sending after their current chunk (a fraction of a
    second); what they hold goes back to pending."""
    return _move(campaign, (CampaignStatus.SENDING,), CampaignStatus.PAUSED, "paused")


def resume_campaign(*, campaign: Campaign) -> Campaign:
    """Sending goes on from the rows: whoever is not sent yet, and nobody who is."""
    with transaction.atomic():
        campaign = _move(campaign, (CampaignStatus.PAUSED,), CampaignStatus.SENDING, "resumed", last_error="")
        transaction.on_commit(lambda: _enqueue_senders(campaign.pk))
    return campaign


def cancel_campaign(*, campaign: Campaign) -> Campaign:
    """Nobody else gets it: every unsent recipient becomes skipped (a worker's message already in
    the server's hands is still marked sent, since it was)."""
    with transaction.atomic():
        campaign = _move(
            campaign,
            (CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.PAUSED),
            CampaignStatus.CANCELLED,
            "cancelled",
            finished_at=timezone.now(),
        )
        CampaignRecipient.objects.filter(campaign=campaign, status__in=_UNSENT).update(
            status=_R.SKIPPED, error="The campaign was cancelled."
        )
    return campaign


def progress(campaign: Campaign) -> dict:
    """Where the send stands, from the rows (one query): `pending` counts rows being sent too."""
    counts = dict(
        CampaignRecipient.objects.filter(campaign_id=campaign.pk)
        .order_by()
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    return {
        "status": campaign.status,
        "recipients": sum(counts.values()),
        "sent": counts.get(_R.SENT, 0),
        "failed": counts.get(_R.FAILED, 0),
        "bounced": counts.get(_R.BOUNCED, 0),
        "skipped": counts.get(_R.SKIPPED, 0),
        "pending": counts.get(_R.PENDING, 0) + counts.get(_R.SENDING, 0),
    }


def send_test(*, campaign: Campaign, emails: list[str]) -> int:
    """Send the campaign, marked "[Test]" and untracked, to a few addresses now; returns how many
    the server accepted. Refused addresses and an unreachable server are errors on `emails`."""
    if isinstance(emails, str) or not isinstance(emails, list | tuple) or not emails:
        raise ValidationError({"emails": ["Give one or more email addresses."]})
    if len(emails) > MAX_TEST_RECIPIENTS:
        raise ValidationError({"emails": [f"Send a test to at most {MAX_TEST_RECIPIENTS} addresses."]})
    addresses = []
    for email in emails:
        if not isinstance(email, str):
            raise ValidationError({"emails": ["Each address must be a string."]})
        try:
            validate_email(email.strip())
        except ValidationError:
            raise ValidationError({"emails": [f"“{email[:100]}” is not a valid email address."]}) from None
        addresses.append(email.strip())
    messages = [rendering.render_test_message(campaign, address) for address in addresses]
    sender = smtp.SmtpSender()
    try:
        for message in messages:
            sender.send(message)
    except smtplib.SMTPRecipientsRefused as error:
        refused = ", ".join(error.recipients)
        raise ValidationError({"emails": [f"The mail server refused {refused}."]}) from None
    except (smtplib.SMTPException, OSError) as error:
        raise ValidationError({"emails": [f"The mail server could not send the test: {error}"[:300]]}) from None
    finally:
        sender.close()
    return len(messages)


# --- The workers --------------------------------------------------------------------------------


def _claimable(campaign_id: int, now):
    """Rows a worker may claim: pending ones whose retry time has come, and rows still marked
    sending whose claim expired (their worker died)."""
    lease_start = now - timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS)
    due = Q(status=_R.PENDING) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    abandoned = Q(status=_R.SENDING, claimed_at__lt=lease_start)
    # status__in repeats the partial index's condition, which the planner then uses.
    return CampaignRecipient.objects.filter(due | abandoned, campaign_id=campaign_id, status__in=_UNSENT)


def _claim(campaign: Campaign, size: int) -> tuple[object, list[int], list[CampaignRecipient]]:
    """Claim up to `size` rows of a sending campaign; returns the claim's time (its token), the ids
    claimed (none: nothing is left to claim, or the campaign stopped) and the rows to send. Rows
    whose contact may no longer be mailed (unsubscribed, bounced, blacklisted, erased or deleted
    since the snapshot, or gone from a list the campaign is sent to) become skipped instead.

    The claim is one statement, UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n)
    RETURNING id: on PostgreSQL concurrent claimers skip each other's rows, and on SQLite the
    statement is atomic. The later statements find the rows by id range and token rather than by
    a list of hundreds of ids."""
    now = timezone.now()
    if not Campaign.objects.filter(pk=campaign.pk, status=CampaignStatus.SENDING).exists():
        return now, [], []
    select_sql, select_params = _claimable(campaign.pk, now).order_by("pk").values("pk")[:size].query.sql_with_params()
    if connection.features.has_select_for_update_skip_locked:
        select_sql += " FOR UPDATE SKIP LOCKED"
    table = CampaignRecipient._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s, claimed_at = %s WHERE id IN ({select_sql}) RETURNING id",  # noqa: S608
            (_R.SENDING, connection.ops.adapt_datetimefield_value(now), *select_params),
        )
        ids = sorted(row[0] for row in cursor.fetchall())
    if not ids:
        return now, [], []
    mailable = Contact.objects.mailable().filter(pk=OuterRef("contact_id"))
    left_list = ListMembership.objects.filter(
        contact_id=OuterRef("contact_id"),
        contact_list__in=campaign.lists.all(),
        status=MembershipStatus.UNSUBSCRIBED,
        unsubscribed_at__gte=campaign.started_at,
    )
    _held(campaign.pk, ids, now).filter(~Exists(mailable) | Exists(left_list)).update(
        status=_R.SKIPPED, error="The contact may no longer be mailed."
    )
    claimed = set(ids)
    rows = [row for row in _held(campaign.pk, ids, now).order_by("pk") if row.pk in claimed]
    return now, ids, rows


def _held(campaign_id: int, ids: list[int], token):
    """The rows among `ids` (ascending) still claimed with `token` and not sent: one index range,
    not a list of ids. (Another worker's rows in the range would need the same claim time to the
    microsecond; callers that send keep to their own ids anyway.)"""
    return CampaignRecipient.objects.filter(
        campaign_id=campaign_id, pk__range=(ids[0], ids[-1]), status=_R.SENDING, claimed_at=token
    )


class _Marks:
    """Marks rows as the messages go: one UPDATE per message, in autocommit, right after the server
    accepted it.

    On PostgreSQL the UPDATE does not wait for its answer: it is sent (a statement prepared once,
    through libpq, in the session's own connection) as soon as the server has accepted the message,
    and its result is read before the next mark or before any other query of the connection (an
    execute wrapper), so an error still surfaces, one message later. What the guarantee needs holds:
    the mark is in the socket to PostgreSQL before the next message goes, and a killed worker's
    socket still delivers what was written to it, which PostgreSQL then executes and commits. The
    session skips waiting for the WAL flush (synchronous_commit off): only a crash of PostgreSQL
    itself (or of the worker's machine) within a fraction of a second could forget a mark, and
    then resend that message. This takes the mark's round trip off the path of each message."""

    SENT_SQL = (
        f"UPDATE {CampaignRecipient._meta.db_table} "  # noqa: S608
        "SET status = 'sent', sent_at = %s, message_id = %s, attempts = attempts + 1, error = '' WHERE id = %s"
    )
    _STATEMENT = b"salloq_campaign_mark_sent"

    def __enter__(self):
        connection.ensure_connection()
        self.postgres = connection.vendor == "postgresql"
        if not self.postgres:
            self.cursor = connection.cursor()
            return self
        from psycopg import pq

        self.pgconn = connection.connection.pgconn
        self.succeeded = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
        self.pending = False
        self._exec(b"SET synchronous_commit = off")
        prepared = self._exec(b"SELECT 1 FROM pg_prepared_statements WHERE name = '" + self._STATEMENT + b"'")
        if not prepared.ntuples:  # once per database connection (it outlives a task)
            sql = self.SENT_SQL.replace("%s", "$1", 1).replace("%s", "$2", 1).replace("%s", "$3", 1)
            self._check(self.pgconn.prepare(self._STATEMENT, sql.encode()))
        self.wrapper = connection.execute_wrapper(self._before_query)
        self.wrapper.__enter__()
        return self

    def sent(self, recipient_id: int, message_id: str) -> None:
        if not self.postgres:  # SQLite stores the time as the ORM writes it
            sent_at = connection.ops.adapt_datetimefield_value(timezone.now())
            self.cursor.execute(self.SENT_SQL, (sent_at, message_id, recipient_id))
            return
        self.wait()
        # libpq in blocking mode returns once the whole command is written to the socket.
        self.pgconn.send_query_prepared(
            self._STATEMENT, [timezone.now().isoformat().encode(), message_id.encode(), str(recipient_id).encode()]
        )
        self.pending = True

    def wait(self) -> None:
        """Read the last mark's result (raise its error)."""
        if not self.postgres or not self.pending:
            return
        self.pending = False
        results = []
        while (result := self.pgconn.get_result()) is not None:
            results.append(result)
        for result in results:
            self._check(result)

    def _before_query(self, execute, sql, params, many, context):
        self.wait()
        return execute(sql, params, many, context)

    def _exec(self, sql: bytes):
        return self._check(self.pgconn.exec_(sql))

    def _check(self, result):
        if result.status not in self.succeeded:
            from psycopg import DatabaseError

            raise DatabaseError(f"Marking a recipient sent failed: {result.error_message.decode(errors='replace')}")
        return result

    def __exit__(self, exc_type, *exc_info):
        if not self.postgres:
            with suppress(Exception):
                self.cursor.close()
            return
        try:
            if exc_type is None:
                self.wait()
            else:
                with suppress(Exception):
                    self.wait()
        finally:
            self.wrapper.__exit__(None, None, None)
            with suppress(Exception):
                self._exec(b"RESET synchronous_commit")


def _retry_later(recipient: CampaignRecipient, error: str) -> None:
    attempts = recipient.attempts + 1
    if attempts >= settings.CAMPAIGN_MAX_ATTEMPTS:
        changes = {"status": _R.FAILED, "next_attempt_at": None}
        error = f"Gave up after {attempts} attempts; last: {error}"[:500]
    else:
        wait = min(RETRY_CAP, RETRY_BASE * 2 ** (attempts - 1))
        changes = {"status": _R.PENDING, "next_attempt_at": timezone.now() + wait, "claimed_at": None}
    CampaignRecipient.objects.filter(pk=recipient.pk).update(attempts=attempts, error=error, **changes)


def _refused(campaign: Campaign, recipient: CampaignRecipient, kind: str, error: str) -> None:
    if kind == smtp.RETRY:
        _retry_later(recipient, error)
        return
    status = _R.BOUNCED if kind == smtp.BOUNCED else _R.FAILED
    CampaignRecipient.objects.filter(pk=recipient.pk).update(
        status=status, attempts=recipient.attempts + 1, error=error, next_attempt_at=None
    )
    if kind == smtp.BOUNCED and recipient.contact_id:
        contacts_mark_bounced(company_id=campaign.company_id, contact_ids=[recipient.contact_id])


def _release(campaign_id: int, ids: list[int], token) -> None:
    """Give back claimed rows nobody sent (they are claimed again at once, by anyone)."""
    if ids:
        _held(campaign_id, ids, token).update(status=_R.PENDING, claimed_at=None)


def _renew(campaign_id: int, ids: list[int], token) -> tuple[object, set[int]]:
    """Before each chunk: check that the campaign is still sending and extend the claim on the rows
    not sent yet (`ids`, ascending). Returns the token and the ids still held: all of them,
    normally; fewer when this worker was so slow that its lease expired and another took rows
    over (those are the other's now); none when the campaign was paused or cancelled (the rows are
    given back, or were skipped).

    While the claim is younger than a third of the lease nobody can have taken it over, so only
    the campaign's status is read (one small SELECT); after that one UPDATE renews the claim and
    checks the status together. Renewing every chunk would rewrite each row about five times."""
    now = timezone.now()
    if now - token < timedelta(seconds=settings.CAMPAIGN_CLAIM_LEASE_SECONDS / 3):
        if Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).exists():
            return token, set(ids)
        _release(campaign_id, ids, token)
        return token, set()
    renewed = (
        _held(campaign_id, ids, token)
        .filter(Exists(Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING)))
        .update(claimed_at=now)
    )
    if renewed == len(ids):
        return now, set(ids)
    if not renewed:
        _release(campaign_id, ids, token)
        return now, set()
    return now, set(_held(campaign_id, ids, now).values_list("pk", flat=True)) & set(ids)


class _Run:
    """One task's work on one campaign: batches over one SMTP connection, until no row is left,
    the campaign stops, the mail server fails or the time is up."""

    def __init__(self, campaign: Campaign, prepared, deadline: float):
        self.campaign = campaign
        self.prepared = prepared
        self.deadline = deadline
        self.rate = ratelimit.send_rate(campaign.company)
        self.chunk = ratelimit.chunk_size(self.rate)
        self.sender = smtp.SmtpSender()
        self.sent = 0
        self.connection_failures = 0
        self.stopped = False
        self.token = None  # the claim's time, renewed with every chunk

    def batch(self, token, rows: list[CampaignRecipient], marks: _Marks) -> None:
        self.token = token
        try:
            messages = self.prepared.render_batch(rows)
        except Exception as error:
            # A fault of the code or the frozen content, the same for every row: stop the
            # campaign (paused, with the reason) rather than retry it forever.
            _release(self.campaign.pk, [row.pk for row in rows], token)
            _pause_with_error(self.campaign.pk, f"Rendering failed: {type(error).__name__}: {error}")
            raise
        by_id = {row.pk: row for row in rows}
        rendered_ids = {message.recipient_id for message in messages}
        missing = [row.pk for row in rows if row.pk not in rendered_ids]
        if missing:
            CampaignRecipient.objects.filter(pk__in=missing, claimed_at=token).update(
                status=_R.SKIPPED, error="Nothing could be rendered for this contact."
            )
        held = rendered_ids
        for start in range(0, len(messages), self.chunk):
            chunk = messages[start : start + self.chunk]
            wait = ratelimit.take(self.campaign.company_id, rate=self.rate, count=len(chunk))
            if wait:
                time.sleep(wait)
            # After the wait: a pause during it stops the worker before this chunk.
            unsent = sorted(m.recipient_id for m in messages[start:] if m.recipient_id in held)
            self.token, held = _renew(self.campaign.pk, unsent, self.token)
            if not held:
                self.stopped = True
                return
            for position, message in enumerate(chunk):
                if message.recipient_id not in held:
                    continue
                if not self.send_one(message, by_id[message.recipient_id], marks):
                    unsent = sorted(m.recipient_id for m in messages[start + position :] if m.recipient_id in held)
                    _release(self.campaign.pk, unsent, self.token)
                    self.stopped = True
                    return

    def send_one(self, message, recipient: CampaignRecipient, marks: _Marks) -> bool:
        """Send and mark one message; False when the worker must stop (the mail server failed)."""
        if self.sender.smtp is None:
            try:
                self.sender.open()
            except (smtplib.SMTPException, OSError) as error:
                marks.wait()  # the last mark's result, before record_failure's transaction
                # Nothing was sent: the rows are given back as they were, and the outage recorded.
                logger.warning("SMTP server unreachable for campaign %s: %s", self.campaign.pk, error)
                mailserver.record_failure(error)
                return False
        try:
            self.sender.send(message)
        except (smtplib.SMTPException, OSError) as error:
            marks.wait()  # the last mark's result, before this row's own writes
            kind, text = smtp.refusal(error)
            if kind != smtp.CONNECTION:
                _refused(self.campaign, recipient, kind, text)
                return True
            # The server dropped the connection mid-message: whether it took this one is unknown
            # only if that was after DATA. It is retried like a temporary refusal; the next
            # message reconnects, and a second drop in one run counts as an outage.
            self.sender.close()
            _retry_later(recipient, text)
            self.connection_failures += 1
            if self.connection_failures > 1:
                logger.warning("SMTP server failed during campaign %s: %s", self.campaign.pk, text)
                mailserver.record_failure(error)
                return False
            return True
        marks.sent(message.recipient_id, message.message_id)
        self.sent += 1
        return True

    def run(self) -> bool:
        """Returns True when the time ran out with work left (the task then enqueues itself)."""
        try:
            with _Marks() as marks:
                while not self.stopped:
                    if time.monotonic() > self.deadline:
                        return True
                    token, ids, rows = _claim(self.campaign, settings.CAMPAIGN_BATCH_SIZE)
                    if not ids:
                        break
                    if rows:  # else every contact claimed had become unmailable: claim again
                        self.batch(token, rows, marks)
        finally:
            self.sender.close()
        if self.sent:
            mailserver.record_success()
        _finish_if_done(self.campaign.pk)
        return False


def _finish_if_done(campaign_id: int) -> None:
    if not CampaignRecipient.objects.filter(campaign_id=campaign_id, status__in=_UNSENT).exists():
        now = timezone.now()
        Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
            status=CampaignStatus.SENT, finished_at=now, updated_at=now
        )


def send_campaign_batches(*, campaign_id: int, run_seconds: float = TASK_RUN_SECONDS) -> bool:
    """A worker's share of a campaign: claim, send and mark batches until none is left. Any number
    of these run at once on one campaign. Returns True when it stopped for time with work left."""
    campaign = Campaign.objects.select_related("company").filter(pk=campaign_id).first()
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return False
    if not mailserver.may_attempt():
        return False  # beat enqueues the senders again once the outage's wait is over
    try:
        prepared = rendering.prepare(campaign)
    except Exception as error:
        # Nothing can be sent, now or on a retry: stop the campaign with the reason.
        _pause_with_error(campaign.pk, f"Rendering failed: {type(error).__name__}: {error}")
        raise
    return _Run(campaign, prepared, time.monotonic() + run_seconds).run()


def _pause_with_error(campaign_id: int, message: str) -> None:
    Campaign.objects.filter(pk=campaign_id, status=CampaignStatus.SENDING).update(
        status=CampaignStatus.PAUSED, last_error=message[:500], updated_at=timezone.now()
    )
