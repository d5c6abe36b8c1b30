"""Consent by email: signed links (confirm, unsubscribe, preferences) and the double opt-in emails.

Links carry no database state: each is a `django.core.signing` token, salted per purpose so one
kind can never be replayed as another. Unsubscribe and preference links never expire (an old
newsletter must still let its reader leave) but are bound to the contact, its company and a keyed
digest of its current address, so they die when the contact is erased or changes address.
Confirmation links expire after `CONFIRMATION_MAX_AGE`.
"""

import logging
import smtplib
from contextlib import suppress
from dataclasses import replace
from datetime import timedelta
from email.utils import formataddr, parseaddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from salloq.core import mailserver
from salloq.core.client_ip import client_ip
from salloq.core.validators import header_safe

from . import services
from .consent_policy import ConsentContext
from .models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    ListMembership,
    MembershipStatus,
)

logger = logging.getLogger(__name__)

CONFIRMATION_MAX_AGE = timedelta(days=30)
# Emails claimed and sent per task run, over one SMTP connection; a full batch enqueues the next
# run at once.
CONFIRMATION_BATCH_SIZE = 100
REMINDER_BATCH_SIZE = 100

_CONFIRM_SALT = "contacts.consent.confirm"
_UNSUBSCRIBE_SALT = "contacts.consent.unsubscribe"
_PREFERENCES_SALT = "contacts.consent.preferences"
_EMAIL_DIGEST_SALT = "contacts.consent.email"


class InvalidLink(Exception):
    """A link that cannot be used; `status` is the HTTP status of the page that says so."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class ExpiredLink(InvalidLink):
    status = 410


# --- Tokens -----------------------------------------------------------------------------------


def _email_digest(email: str) -> str:
    # Keyed, so the token (readable base64) does not reveal a hash one could match against a list
    # of addresses; 64 bits are plenty since the signature already prevents forging.
    return salted_hmac(_EMAIL_DIGEST_SALT, email, algorithm="sha256").hexdigest()[:16]


def _load(token: str, salt: str, max_age: timedelta | None = None) -> list:
    try:
        payload = signing.loads(token, salt=salt, max_age=max_age)
    except signing.SignatureExpired:
        raise ExpiredLink("This link has expired.") from None
    except signing.BadSignature:
        raise InvalidLink("This link is not valid. Check that it was copied completely.") from None
    if not isinstance(payload, list) or len(payload) != 4:
        raise InvalidLink("This link is not valid. Check that it was copied completely.")
    return payload


def _check_contact(contact: Contact | None, digest: str) -> Contact:
    if contact is None or contact.erased_at is not None or not contact.email:
        raise ExpiredLink("This link is no longer valid.")
    if not constant_time_compare(_email_digest(contact.email), digest):
        raise ExpiredLink("This link is no longer valid: the email address it was sent to has changed.")
    return contact


def confirmation_token(membership: ListMembership) -> str:
    contact = membership.contact
    return signing.dumps(
        [contact.company_id, membership.pk, 0, _email_digest(contact.email)], salt=_CONFIRM_SALT, compress=True
    )


def read_confirmation_token(token: str) -> ListMembership:
    company_id, membership_id, _, digest = _load(token, _CONFIRM_SALT, CONFIRMATION_MAX_AGE)
    membership = (
        ListMembership.objects.filter(pk=membership_id, contact_list__company_id=company_id)
        .select_related("contact", "contact_list")
        .first()
    )
    if membership is None:
        raise ExpiredLink("This subscription no longer exists.")
    _check_contact(membership.contact, digest)
    return membership


def unsubscribe_token(contact: Contact, contact_list: ContactList | None = None) -> str:
    list_id = contact_list.pk if contact_list is not None else 0
    return signing.dumps(
        [contact.company_id, contact.pk, list_id, _email_digest(contact.email)], salt=_UNSUBSCRIBE_SALT, compress=True
    )


def read_unsubscribe_token(token: str) -> tuple[Contact, ContactList | None]:
    """The contact and the list the link unsubscribes from (None: from everything)."""
    company_id, contact_id, list_id, digest = _load(token, _UNSUBSCRIBE_SALT)
    contact = _check_contact(Contact.objects.for_company(company_id).filter(pk=contact_id).first(), digest)
    if not list_id:
        return contact, None
    contact_list = ContactList.objects.for_company(company_id).filter(pk=list_id).first()
    if contact_list is None:
        raise ExpiredLink("This list no longer exists, so you will not get emails from it.")
    return contact, contact_list


def preferences_token(contact: Contact) -> str:
    return signing.dumps(
        [contact.company_id, contact.pk, 0, _email_digest(contact.email)], salt=_PREFERENCES_SALT, compress=True
    )


def read_preferences_token(token: str) -> Contact:
    company_id, contact_id, _, digest = _load(token, _PREFERENCES_SALT)
    return _check_contact(Contact.objects.for_company(company_id).filter(pk=contact_id).first(), digest)


# --- Absolute links for emails -----------------------------------------------------------------


def _absolute(path: str) -> str:
    return settings.SITE_URL.rstrip("/") + path


def confirm_url(membership: ListMembership) -> str:
    return _absolute(reverse("consent_confirm", args=[confirmation_token(membership)]))


def unsubscribe_url(contact: Contact, contact_list: ContactList | None = None) -> str:
    """One-click unsubscribe link for an email: from `contact_list` if given, else from everything."""
    return _absolute(reverse("consent_unsubscribe", args=[unsubscribe_token(contact, contact_list)]))


def preferences_url(contact: Contact) -> str:
    return _absolute(reverse("consent_preferences", args=[preferences_token(contact)]))


def list_unsubscribe_headers(contact: Contact, contact_list: ContactList | None = None) -> dict[str, str]:
    """RFC 2369 + RFC 8058 headers: mail clients show an unsubscribe button that POSTs
    `List-Unsubscribe=One-Click` to the link (the message must be DKIM-signed over them)."""
    return {
        "List-Unsubscribe": f"<{unsubscribe_url(contact, contact_list)}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# --- Actions from the public pages ---------------------------------------------------------------


def client_consent(request, source: str) -> ConsentContext:
    """Where a public-page action came from, for the consent record."""
    return ConsentContext(
        source=source, ip_address=client_ip(request), user_agent=request.META.get("HTTP_USER_AGENT", "")[:400]
    )


@transaction.atomic
def confirm_membership(*, membership_id: int, consent: ConsentContext) -> ListMembership:
    """Confirm a pending subscription from its link; confirming twice changes nothing.

    The row is locked so two simultaneous clicks record one confirmation. A subscription the
    contact cancelled since the email went out is not revived by the old link."""
    membership = (
        ListMembership.objects.select_for_update(of=("self",))
        .select_related("contact", "contact_list")
        .get(pk=membership_id)
    )
    if membership.status == MembershipStatus.UNSUBSCRIBED:
        raise ExpiredLink("This subscription was cancelled after the link was sent.")
    if membership.status == MembershipStatus.SUBSCRIBED:
        return membership
    return services.membership_confirm(
        membership=membership, ip_address=consent.ip_address, user_agent=consent.user_agent
    )


def unsubscribe(*, contact: Contact, contact_list: ContactList | None, consent: ConsentContext) -> None:
    """From one list, or (contact_list None) from everything."""
    if contact_list is None:
        services.contact_unsubscribe_all(contact=contact, consent=consent)
    else:
        services.list_unsubscribe(contact=contact, contact_list=contact_list, consent=consent)


def is_unsubscribed(contact: Contact, contact_list: ContactList | None) -> bool:
    """Whether an unsubscribe link has nothing left to do: the contact is off the list (or off everything)."""
    if contact_list is None:
        return contact.status == ContactStatus.UNSUBSCRIBED
    return (
        not ListMembership.objects.filter(contact=contact, contact_list=contact_list)
        .exclude(status=MembershipStatus.UNSUBSCRIBED)
        .exists()
    )


def preference_memberships(contact: Contact) -> list[ListMembership]:
    """The lists the contact is or was on. Other lists of the company are not shown: their names
    are the company's business (a public page must not reveal "Churn risk" or "VIP")."""
    memberships = ListMembership.objects.filter(contact=contact).select_related("contact_list")
    return sorted(memberships, key=lambda m: m.contact_list.name.lower())


@transaction.atomic
def preferences_update(*, contact: Contact, wanted_list_ids: set[int], consent: ConsentContext) -> None:
    """Apply the preference form: leave the lists not ticked, rejoin the ticked ones.

    Rejoining is fresh consent (the contact ticked the box), so it goes through `list_subscribe`
    with `fresh=True`: a double opt-in list sends its confirmation email again. A contact who had
    unsubscribed from everything becomes subscribed again, unless the address is blacklisted: the
    blacklist is the company's decision and is not lifted from a public page."""
    memberships = list(ListMembership.objects.filter(contact=contact).select_related("contact_list"))
    unsubscribed = MembershipStatus.UNSUBSCRIBED
    rejoining = [m for m in memberships if m.contact_list_id in wanted_list_ids and m.status == unsubscribed]
    leaving = [m for m in memberships if m.contact_list_id not in wanted_list_ids and m.status != unsubscribed]
    for membership in leaving:
        services.list_unsubscribe(contact=contact, contact_list=membership.contact_list, consent=consent)
    if not rejoining:
        return
    consent = replace(consent, fresh=True)
    if contact.status == ContactStatus.UNSUBSCRIBED and not services.is_suppressed(contact.company_id, contact.email):
        services.contact_upsert(
            company=contact.company, data={"email": contact.email, "status": ContactStatus.SUBSCRIBED}, consent=consent
        )
        contact.refresh_from_db(fields=["status"])
    for membership in rejoining:
        services.list_subscribe(contact=contact, contact_list=membership.contact_list, consent=consent)


# --- Double opt-in emails ------------------------------------------------------------------------
#
# Both kinds of email are sent by draining: a run claims one batch of what is owed (a conditional
# UPDATE of `confirmation_sent_at` / `reminder_sent_at`, under `skip_locked` so concurrent runs take
# different rows) and sends it over one SMTP connection. When the server cannot be reached, the run
# stops, releases what it did not send and records the outage (salloq.core.mailserver), which
# spaces out the next attempts and shows on the dashboard: one failed connection, not a retry per
# message.


def _sender(company) -> str:
    # The recipient asked to hear from the company, so its name is what they should recognise.
    _, address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return formataddr((header_safe(company.name), address))


def _double_opt_in_email(membership: ListMembership, *, reminder: bool, connection) -> EmailMultiAlternatives:
    contact = membership.contact
    company = membership.contact_list.company
    list_name = header_safe(membership.contact_list.name)
    context = {
        "contact": contact,
        "list_name": list_name,
        "company_name": header_safe(company.name),
        "reminder": reminder,
        "confirm_url": confirm_url(membership),
        "confirm_days": CONFIRMATION_MAX_AGE.days,
        "unsubscribe_url": unsubscribe_url(contact, membership.contact_list),
        "preferences_url": preferences_url(contact),
    }
    subject = (
        f"Reminder: please confirm your subscription to {list_name}"
        if reminder
        else f"Please confirm your subscription to {list_name}"
    )
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("emails/double_opt_in.txt", context),
        from_email=_sender(company),
        to=[contact.email],
        # Feedback-ID names the company (Gmail's feedback loop; the embedded mail catcher files the
        # message under that company's Outbox, campaigns.mailcatcher).
        headers={
            **list_unsubscribe_headers(contact, membership.contact_list),
            "Feedback-ID": f"0:{company.pk}:consent:salloq",
        },
        connection=connection,
    )
    message.attach_alternative(render_to_string("emails/double_opt_in.html", context), "text/html")
    return message


def _deliver(membership: ListMembership, *, reminder: bool, connection) -> bool:
    """Send one email. False when the server refused this message for good (the recipient, or a
    permanent 5xx to its content): retrying would not help and must not hold up the batch. Any
    other SMTP error is the server's, and is raised."""
    try:
        _double_opt_in_email(membership, reminder=reminder, connection=connection).send()
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        logger.warning("Double opt-in email to contact %s refused by the SMTP server: %s", membership.contact_id, codes)
        return False
    except smtplib.SMTPDataError as exc:
        if exc.smtp_code < 500:
            raise
        logger.warning("Double opt-in email to contact %s refused by the SMTP server: %s", membership.contact_id, exc)
        return False
    return True


def _record(membership: ListMembership, action: str) -> None:
    ConsentRecord.objects.create(
        company_id=membership.contact.company_id,
        contact=membership.contact,
        contact_list=membership.contact_list,
        action=action,
        source="double opt-in",
    )


def _claim(due: QuerySet, field: str, now, batch_size: int) -> list[ListMembership]:
    """Set `field` to `now` on up to `batch_size` rows of `due` (where it is empty) and return them.

    The claim commits before anything is sent: on PostgreSQL `skip_locked` lets concurrent runs take
    different rows, SQLite's IMMEDIATE transactions serialize them, and a duplicate run finds the
    rows taken."""
    with transaction.atomic():
        ids = list(due.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[:batch_size])
        ListMembership.objects.filter(pk__in=ids, **{f"{field}__isnull": True}).update(**{field: now})
    return list(
        ListMembership.objects.filter(pk__in=ids, **{field: now})
        .select_related("contact", "contact_list__company")
        .order_by("pk")
    )


def _send_claimed(memberships: list[ListMembership], field: str, claimed_at, *, reminder: bool) -> int:
    """Send the claimed emails over one connection; returns how many were dealt with (sent, or
    refused for good). On a server failure the rest are released for a later run and the outage
    is recorded; on any other error they are released and the error raised."""
    if not memberships:
        return 0
    action = ConsentAction.REMINDER_SENT if reminder else ConsentAction.CONFIRMATION_SENT
    connection = get_connection()
    handled = 0
    try:
        connection.open()
        for membership in memberships:
            if _deliver(membership, reminder=reminder, connection=connection):
                _record(membership, action)
            handled += 1
    except Exception as error:
        unsent = [membership.pk for membership in memberships[handled:]]
        ListMembership.objects.filter(pk__in=unsent, **{field: claimed_at}).update(**{field: None})
        if not isinstance(error, (smtplib.SMTPException, OSError)):
            raise
        logger.warning(
            "SMTP server %s:%s failed (%s); %d double opt-in emails wait for the next attempt",
            settings.EMAIL_HOST,
            settings.EMAIL_PORT,
            error,
            len(unsent),
        )
        mailserver.record_failure(error)
        return handled
    finally:
        # The batch's outcome is settled; a QUIT the server does not answer changes nothing.
        with suppress(smtplib.SMTPException, OSError):
            connection.close()
    mailserver.record_success()
    return handled


def _owed_confirmations():
    """Pending memberships whose confirmation has not gone out, of contacts that may be mailed:
    blacklisted, bounced, unsubscribed or erased contacts get no email. (One whose address leaves
    the blacklist later gets the confirmation it is still owed.)"""
    mailable = Contact.objects.mailable().filter(pk=OuterRef("contact_id"))
    return (
        ListMembership.objects.filter(status=MembershipStatus.PENDING, confirmation_sent_at__isnull=True)
        .filter(Exists(mailable))
        .order_by("pk")
    )


def send_pending_confirmations(*, batch_size: int | None = None) -> int:
    """Claim one batch of the confirmation emails owed and send it; returns how many were dealt
    with. Nothing is claimed while senders back off after a mail-server failure."""
    if not mailserver.may_attempt():
        return 0
    now = timezone.now()
    memberships = _claim(_owed_confirmations(), "confirmation_sent_at", now, batch_size or CONFIRMATION_BATCH_SIZE)
    return _send_claimed(memberships, "confirmation_sent_at", now, reminder=False)


def _due_reminders(now):
    """Pending memberships of lists with a reminder delay whose confirmation went out that long
    ago, not reminded yet, of contacts that may be mailed. One condition per distinct delay keeps
    the date arithmetic out of SQL, so it reads the same on SQLite and PostgreSQL."""
    delays = (
        ContactList.objects.filter(reminder_after_days__isnull=False)
        .order_by()
        .values_list("reminder_after_days", flat=True)
        .distinct()
    )
    due = Q()
    for days in delays:
        due |= Q(contact_list__reminder_after_days=days, confirmation_sent_at__lte=now - timedelta(days=days))
    if not due:
        return ListMembership.objects.none()
    mailable = Contact.objects.mailable().filter(pk=OuterRef("contact_id"))
    return (
        ListMembership.objects.filter(due, status=MembershipStatus.PENDING, reminder_sent_at__isnull=True)
        .filter(Exists(mailable))
        .order_by("confirmation_sent_at", "pk")
    )


def send_due_reminders(*, batch_size: int | None = None) -> int:
    """Claim one batch of due reminders and send it; returns how many were dealt with. Nothing is
    claimed while senders back off after a mail-server failure."""
    if not mailserver.may_attempt():
        return 0
    now = timezone.now()
    memberships = _claim(_due_reminders(now), "reminder_sent_at", now, batch_size or REMINDER_BATCH_SIZE)
    return _send_claimed(memberships, "reminder_sent_at", now, reminder=True)
