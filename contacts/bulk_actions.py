"""Actions on many contacts at once, from the dashboard's contact list: tag, untag, add to a list,
unsubscribe from everything, erase; and resending the confirmation email to a double opt-in
list's pending members.

A selection is either the ticked contacts (their ids, checked against the company) or every
contact matching the list's filters, up to the newest contact when the action was asked for (one
added meanwhile is not swept in, so an erase never reaches more contacts than it said). Erased
contacts are never selected: there is nothing left of them to change.

Every action is a ContactBulkAction row. Up to INLINE_LIMIT contacts it runs in the request; a
larger one runs in a Celery task (tasks.run_contact_bulk_action) that claims the row with a
conditional UPDATE and walks the selection in id order, a chunk per transaction, recording its
progress and its place (`last_contact_id`) with each chunk, so a retried or resumed run goes on
where it stopped and the dashboard shows how far it got."""

from dataclasses import dataclass
from datetime import timedelta

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from salloq.core.models import Company

from . import bulk, services
from .consent_policy import ConsentContext
from .filters import ContactFilterSet
from .mailability import ANNOTATION as MAILABILITY
from .mailability import Mailability, contacts_with_mailability
from .models import (
    BulkActionKind,
    BulkActionStatus,
    Contact,
    ContactBulkAction,
    ContactList,
    ContactStatus,
    ListMembership,
    MembershipStatus,
)
from .tags import merge_tags

# Tasks are enqueued by name, not imported: contacts.tasks imports this module.
RUN_TASK = "contacts.tasks.run_contact_bulk_action"
# Up to this many contacts an action runs in the request; more go to a worker, with a progress page.
INLINE_LIMIT = 500
# Contacts per transaction (and per progress update) of a run.
CHUNK_SIZE = 200
# Ticked contacts travel in the form: a page holds far fewer.
MAX_TICKED = 1000
# Warnings kept on the row (all are counted).
KEPT_WARNINGS = 100
# A running action whose worker has not written for this long lost it and may be claimed again.
STALLED_AFTER = timedelta(minutes=5)
# A pending member is not sent the confirmation again within this long of the last one.
RESEND_INTERVAL = timedelta(minutes=30)
# The filters of the contact list a selection may carry (ContactFilterSet's).
FILTER_NAMES = tuple(ContactFilterSet.base_filters)


@dataclass(frozen=True)
class Selection:
    """What the dashboard ticked: `contact_ids`, or (None) all contacts matching `filters`."""

    contact_ids: list[int] | None
    filters: dict[str, str]


def _filtered(company: Company, filters: dict[str, str]) -> QuerySet[Contact]:
    filterset = ContactFilterSet(filters, queryset=Contact.objects.for_company(company))
    if not filterset.is_valid():
        problems = [f"{name}: {' '.join(errors)}" for name, errors in filterset.errors.items()]
        raise ValidationError(f"The filters cannot be used: {'; '.join(problems)}")
    return filterset.qs


def selection_contacts(*, company: Company, selection: Selection, max_contact_id: int | None = None) -> QuerySet:
    """The company's contacts a selection holds, not erased, in no particular order. Ids of another
    company's contacts (or of none) select nothing."""
    if selection.contact_ids is not None:
        contacts = Contact.objects.for_company(company).filter(pk__in=selection.contact_ids)
    else:
        contacts = _filtered(company, selection.filters)
    contacts = contacts.filter(erased_at__isnull=True)
    if max_contact_id is not None:
        contacts = contacts.filter(pk__lte=max_contact_id)
    return contacts.order_by()


def clean_selection(*, contact_ids: list[str], select_all: bool, filters: dict[str, str]) -> Selection:
    """The selection a posted form describes; a ValidationError says what is wrong with it."""
    filters = {name: value for name, value in filters.items() if name in FILTER_NAMES and value}
    if select_all:
        return Selection(contact_ids=None, filters=filters)
    ids = []
    for value in contact_ids:
        try:
            ids.append(int(value))
        except (TypeError, ValueError):
            raise ValidationError("The selection holds something that is not a contact id.") from None
    ids = sorted({pk for pk in ids if 0 < pk < 2**63})
    if not ids:
        raise ValidationError("Tick at least one contact, or choose all contacts matching the filters.")
    if len(ids) > MAX_TICKED:
        raise ValidationError(f"Tick at most {MAX_TICKED} contacts, or choose all contacts matching the filters.")
    return Selection(contact_ids=ids, filters={})


def contact_bulk_action_create(
    *,
    company: Company,
    action: str,
    selection: Selection,
    tags: list[str] | None = None,
    contact_list: ContactList | None = None,
    created_by=None,
) -> ContactBulkAction:
    """Record an action on the selection as it stands now; `run_inline` or the task carries it out."""
    if action not in BulkActionKind.values:
        raise ValidationError({"action": "Choose an action."})
    tags = services.normalize_tags(tags or [])
    if action in (BulkActionKind.TAG, BulkActionKind.UNTAG) and not tags:
        raise ValidationError({"tags": "Enter the tags, separated by commas."})
    if action == BulkActionKind.ADD_TO_LIST and (contact_list is None or contact_list.company_id != company.pk):
        raise ValidationError({"list_id": "Choose a list."})
    contacts = selection_contacts(company=company, selection=selection)
    newest = Contact.objects.for_company(company).order_by("-pk").values_list("pk", flat=True).first() or 0
    total = contacts.filter(pk__lte=newest).count()
    if not total:
        raise ValidationError("No contact is selected (erased contacts cannot be changed).")
    return ContactBulkAction.objects.create(
        company=company,
        action=action,
        tags=tags if action in (BulkActionKind.TAG, BulkActionKind.UNTAG) else [],
        contact_list=contact_list if action == BulkActionKind.ADD_TO_LIST else None,
        contact_ids=selection.contact_ids,
        filters=selection.filters,
        max_contact_id=newest,
        total=total,
        created_by=created_by,
    )


def runs_in_background(bulk_action: ContactBulkAction) -> bool:
    return bulk_action.total > INLINE_LIMIT


def contact_bulk_action_start(*, bulk_action: ContactBulkAction) -> None:
    """Carry the action out now (a small one) or hand it to a worker once the row is committed."""
    if runs_in_background(bulk_action):
        transaction.on_commit(lambda: current_app.tasks[RUN_TASK].delay(bulk_action.pk))
    else:
        contact_bulk_action_run(bulk_action_id=bulk_action.pk)


def _claim(bulk_action_id: int) -> bool:
    """Take the action for this run: a waiting one, or a running one whose worker went silent."""
    now = timezone.now()
    waiting = ContactBulkAction.objects.filter(pk=bulk_action_id, status=BulkActionStatus.PENDING)
    if waiting.update(status=BulkActionStatus.RUNNING, started_at=now, heartbeat_at=now):
        return True
    stalled = ContactBulkAction.objects.filter(
        pk=bulk_action_id, status=BulkActionStatus.RUNNING, heartbeat_at__lt=now - STALLED_AFTER
    )
    return bool(stalled.update(heartbeat_at=now))


def stalled_bulk_actions(*, limit: int = 100) -> list[int]:
    """Large actions a worker should be running and is not: running with no progress for
    STALLED_AFTER (the worker died), or still waiting that long after they were asked for (the
    message was lost). A run of each claims it, so one that is merely slow is not run twice."""
    cutoff = timezone.now() - STALLED_AFTER
    running = Q(status=BulkActionStatus.RUNNING, heartbeat_at__lt=cutoff)
    waiting = Q(status=BulkActionStatus.PENDING, created_at__lt=cutoff, total__gt=INLINE_LIMIT)
    stalled = ContactBulkAction.objects.filter(running | waiting).order_by("pk")
    return list(stalled.values_list("pk", flat=True)[:limit])


def contact_bulk_action_release(*, bulk_action_id: int) -> None:
    """Give a running action back (before a retry), so the next run may claim it at once."""
    ContactBulkAction.objects.filter(pk=bulk_action_id, status=BulkActionStatus.RUNNING).update(
        status=BulkActionStatus.PENDING
    )


def contact_bulk_action_fail(*, bulk_action_id: int, message: str) -> None:
    ContactBulkAction.objects.filter(pk=bulk_action_id).exclude(status=BulkActionStatus.DONE).update(
        status=BulkActionStatus.FAILED, failure=message[:2000], finished_at=timezone.now()
    )


def contact_bulk_action_run(*, bulk_action_id: int) -> None:
    """Carry out a recorded action from where it stopped; a run that cannot claim it does nothing."""
    if not _claim(bulk_action_id):
        return
    bulk_action = ContactBulkAction.objects.select_related("company", "contact_list").get(pk=bulk_action_id)
    if bulk_action.action == BulkActionKind.ADD_TO_LIST and bulk_action.contact_list is None:
        contact_bulk_action_fail(bulk_action_id=bulk_action_id, message="The list was deleted before the action ran.")
        return
    selection = Selection(contact_ids=bulk_action.contact_ids, filters=bulk_action.filters)
    contacts = selection_contacts(
        company=bulk_action.company, selection=selection, max_contact_id=bulk_action.max_contact_id
    )
    while True:
        with transaction.atomic():
            chunk = list(
                contacts.filter(pk__gt=bulk_action.last_contact_id)
                .order_by("pk")
                .select_for_update(no_key=True, of=("self",))[:CHUNK_SIZE]
            )
            if not chunk:
                break
            changed, warnings = _apply(bulk_action, chunk)
            if bulk_action.action == BulkActionKind.ADD_TO_LIST:
                _count_not_mailed(bulk_action, chunk)
            bulk_action.processed += len(chunk)
            bulk_action.changed += changed
            bulk_action.last_contact_id = chunk[-1].pk
            bulk_action.warning_count += len(warnings)
            bulk_action.warnings = (bulk_action.warnings + warnings)[:KEPT_WARNINGS]
            bulk_action.heartbeat_at = timezone.now()
            bulk_action.save(
                update_fields=[
                    "processed",
                    "changed",
                    "last_contact_id",
                    "warning_count",
                    "warnings",
                    "not_mailed",
                    "heartbeat_at",
                ]
            )
    now = timezone.now()
    # The selection may have shrunk since it was counted (contacts erased or no longer matching).
    ContactBulkAction.objects.filter(pk=bulk_action_id, status=BulkActionStatus.RUNNING).update(
        status=BulkActionStatus.DONE, finished_at=now, heartbeat_at=now, total=bulk_action.processed
    )


def _consent(bulk_action: ContactBulkAction) -> ConsentContext:
    return ConsentContext(source=f"dashboard bulk action {bulk_action.pk}")


def _apply(bulk_action: ContactBulkAction, contacts: list[Contact]) -> tuple[int, list[str]]:
    """Apply the action to one locked chunk; returns how many contacts it changed, and warnings."""
    now = timezone.now()
    if bulk_action.action in (BulkActionKind.TAG, BulkActionKind.UNTAG):
        changed = []
        for contact in contacts:
            if bulk_action.action == BulkActionKind.TAG:
                tags = merge_tags(contact.tags, bulk_action.tags)
            else:
                tags = [tag for tag in contact.tags if tag not in bulk_action.tags]
            if tags != contact.tags:
                contact.tags, contact.updated_at = tags, now
                changed.append(contact)
        Contact.objects.bulk_update(changed, ["tags", "updated_at"])
        return len(changed), []
    if bulk_action.action == BulkActionKind.ADD_TO_LIST:
        contact_list = bulk_action.contact_list
        ids = [contact.pk for contact in contacts]
        joined = ListMembership.objects.filter(
            contact_list=contact_list,
            contact_id__in=ids,
            status__in=(MembershipStatus.SUBSCRIBED, MembershipStatus.PENDING),
        ).count()
        warnings = bulk.contacts_bulk_list_subscribe(
            contact_list=contact_list, contact_ids=ids, consent=_consent(bulk_action)
        )
        by_id = {contact.pk: contact for contact in contacts}
        messages = [f"{by_id[pk]}: {message}" for pk, found in warnings.items() for message in found]
        return len(ids) - joined - len(warnings), messages
    if bulk_action.action == BulkActionKind.UNSUBSCRIBE:
        ids = [contact.pk for contact in contacts]
        members = set(
            ListMembership.objects.filter(contact_id__in=ids)
            .exclude(status=MembershipStatus.UNSUBSCRIBED)
            .values_list("contact_id", flat=True)
        )
        # Already off everything: nothing to record again.
        leaving = [c for c in contacts if c.status != ContactStatus.UNSUBSCRIBED or c.pk in members]
        for contact in leaving:
            services.contact_unsubscribe_all(contact=contact, consent=_consent(bulk_action))
        return len(leaving), []
    if bulk_action.action == BulkActionKind.ERASE:
        for contact in contacts:
            services.contact_erase(contact=contact)
        return len(contacts), []
    raise ValueError(f"unknown bulk action {bulk_action.action!r}")


def _count_not_mailed(bulk_action: ContactBulkAction, contacts: list[Contact]) -> None:
    """Count the chunk's contacts that are on the list now but cannot be mailed (blacklisted,
    bounced, unsubscribed from everything, no email), by state: one query for the chunk. Members
    who had left the list are not counted: they were not added, and a warning names each."""
    members = contacts_with_mailability(
        Contact.objects.filter(pk__in=[contact.pk for contact in contacts]),
        contact_list_id=bulk_action.contact_list_id,
    ).filter(list_membership_status__in=(MembershipStatus.SUBSCRIBED, MembershipStatus.PENDING))
    not_mailed = (
        members.exclude(**{f"{MAILABILITY}__in": (Mailability.SUBSCRIBED, Mailability.PENDING)})
        .values(MAILABILITY)
        .annotate(count=Count("pk"))
        .order_by()
    )
    for row in not_mailed:
        state = row[MAILABILITY]
        bulk_action.not_mailed[state] = bulk_action.not_mailed.get(state, 0) + row["count"]


# --- Resending double opt-in confirmations ----------------------------------------------------


@dataclass(frozen=True)
class ResendResult:
    queued: int
    recently_sent: int
    not_mailable: int


def list_confirmations_resend(*, contact_list: ContactList) -> ResendResult:
    """Send the confirmation email again to the list's pending members, except those sent one in the
    last RESEND_INTERVAL and those who cannot be mailed (blacklisted, unsubscribed, bounced, erased,
    no address). The members are marked as owed a confirmation (an empty `confirmation_sent_at`),
    and one task run sends what is owed in batches, as for a new subscription."""
    if not contact_list.double_opt_in:
        raise ValidationError("This list does not ask new members to confirm by email.")
    now = timezone.now()
    pending = ListMembership.objects.filter(contact_list=contact_list, status=MembershipStatus.PENDING)
    mailable = Contact.objects.mailable().filter(pk=OuterRef("contact_id"))
    with transaction.atomic():
        total = pending.count()
        reachable = pending.filter(Exists(mailable))
        recently_sent = reachable.filter(confirmation_sent_at__gt=now - RESEND_INTERVAL).count()
        owed = reachable.exclude(confirmation_sent_at__gt=now - RESEND_INTERVAL)
        # Members never sent one (the mail server was down) are owed it already and count as queued.
        queued = owed.count()
        owed.filter(confirmation_sent_at__isnull=False).update(confirmation_sent_at=None)
        if queued:
            transaction.on_commit(current_app.tasks[services.CONFIRMATIONS_TASK].delay)
    return ResendResult(queued=queued, recently_sent=recently_sent, not_mailable=total - queued - recently_sent)
