"""Writes for contacts and audiences. Every function is keyword-only and company-safe:
it only touches rows of the company it is given (or of the contact's company)."""

from dataclasses import dataclass, field

from celery import current_app
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from salloq.core.models import Company
from salloq.core.numbers import NumberError, parse_decimal
from salloq.core.validators import require_header_safe

from .consent_policy import NO_CONSENT, ConsentContext, decide_status
from .contact_input import (
    CLEARED,
    IDENTIFIERS,
    NEEDS_IDENTIFIER,
    TEXT_ATTRIBUTES,
    CompanyRefs,
    ContactInput,
    clean_contact_input,
    normalize_email,
    normalize_tags,
)
from .models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    CustomFieldValue,
    FieldType,
    KeyInformation,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from .signals import contact_erased
from .tags import merge_tags

# Tasks are enqueued by name, not imported: contacts.tasks imports the services (and apps.py loads it
# with the app, so the name is registered).
CONFIRMATIONS_TASK = "contacts.tasks.send_double_opt_in_confirmations"
# Errors that are only a clash with another row's unique value carry code "unique": the API answers 409.
CONFLICT_MESSAGE = "Another contact of this company already has this email or external_id."


@dataclass
class UpsertResult:
    contact: Contact
    created: bool
    warnings: list[str] = field(default_factory=list)


def _cleaned(company_id: int, data: dict | ContactInput, *, partial: bool = False) -> ContactInput:
    """What callers hand in: input already cleaned (the API's serializers), or raw (the dashboard)."""
    if isinstance(data, ContactInput):
        return data
    return clean_contact_input(data, CompanyRefs(company_id), partial=partial)


# --- Contacts -------------------------------------------------------------------------


def _find_contact(company: Company, *, email: str, external_id: str | None) -> Contact | None:
    """The contact an upsert updates, locked until the caller's transaction ends: its properties and
    tags are merged in Python, and a concurrent upsert must read the merged row, not overwrite it.
    An erased contact is never found: the person coming back is a new contact."""
    contacts = Contact.objects.for_company(company).filter(erased_at__isnull=True).select_for_update(no_key=True)
    if external_id:
        found = contacts.filter(external_id=external_id).first()
        if found is not None:
            return found
    if email:
        return contacts.filter(email=email).first()
    return None


def is_suppressed(company: Company, email: str) -> bool:
    return bool(email) and Suppression.objects.for_company(company).filter(email=email).exists()


@transaction.atomic
def contact_upsert(
    *, company: Company, data: dict | ContactInput, consent: ConsentContext = NO_CONSENT
) -> UpsertResult:
    """Create or update a contact found by `external_id`, else by `email` (the Salloq Marketing API upsert).

    Tags and properties are merged into what the contact has; custom `fields` and attributes
    given replace the stored ones; `lists` are joined or left. An unsubscribed, bounced or
    blacklisted contact keeps that status unless `consent.fresh` says they just opted in again.
    """
    cleaned = _cleaned(company.pk, data)
    attributes = dict(cleaned.attributes)
    contact = _find_contact(company, email=attributes.get("email", ""), external_id=attributes.get("external_id"))
    created = contact is None
    warnings = list(cleaned.warnings)
    if created:
        contact = Contact(company=company, status=ContactStatus.SUBSCRIBED)

    requested_status = attributes.pop("status", None)
    for name, value in attributes.items():
        setattr(contact, name, value)
    if cleaned.properties:
        contact.properties = {**(contact.properties or {}), **cleaned.properties}
    if cleaned.tags:
        contact.tags = merge_tags(contact.tags, cleaned.tags)

    warnings += _apply_status(contact, requested_status, consent, created=created)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise ValidationError({"email": ValidationError(CONFLICT_MESSAGE, code="unique")}) from None

    if cleaned.field_values:
        _save_field_values(contact, cleaned.field_values)
    if created:
        _record(contact, ConsentAction.SUBSCRIBED if contact.status == ContactStatus.SUBSCRIBED else None, consent)
    warnings += _apply_lists(contact, cleaned.lists, consent)
    return UpsertResult(contact=contact, created=created, warnings=warnings)


@transaction.atomic
def contact_update(
    *, contact: Contact, data: dict | ContactInput, consent: ConsentContext = NO_CONSENT, replace: bool = False
) -> list[str]:
    """Change one known contact (PUT/PATCH by id); returns warnings.

    `replace` (PUT) clears the attributes and properties `data` leaves out and sets the tags to
    exactly those given; otherwise (PATCH) only what is given changes, properties are merged and
    tags, when given, replace the contact's. Status changes follow the upsert's consent rules.
    An erased contact is gone: it cannot be changed (its row only keeps activity countable).
    """
    cleaned = _cleaned(contact.company_id, data, partial=not replace)
    # The change applies to the row as stored now, locked, not as the caller loaded it: the save
    # writes every column, and a concurrent upsert's merged properties and tags must stay.
    contact.refresh_from_db(from_queryset=Contact.objects.select_for_update(no_key=True))
    if contact.erased_at is not None:
        raise ValidationError({"contact": "This contact was erased; there is nothing left to change."})
    attributes = dict(cleaned.attributes)
    if replace:
        cleared = {name: "" for name in TEXT_ATTRIBUTES if name not in IDENTIFIERS}
        for name in ("email", "external_id", "phone"):
            cleared.update(CLEARED[name])
        attributes = {**cleared, **attributes}
    requested_status = attributes.pop("status", None)
    for name, value in attributes.items():
        setattr(contact, name, value)
    if not contact.email and not contact.external_id and not contact.phone:
        raise ValidationError({"email": NEEDS_IDENTIFIER})
    others = Contact.objects.for_company(contact.company_id).exclude(pk=contact.pk)
    if contact.email and others.filter(email=contact.email).exists():
        raise ValidationError(
            {"email": ValidationError("Another contact of this company already has this email.", code="unique")}
        )
    if contact.external_id and others.filter(external_id=contact.external_id).exists():
        taken = "Another contact of this company already has this external_id."
        raise ValidationError({"external_id": ValidationError(taken, code="unique")})
    if replace:
        contact.properties = cleaned.properties or {}
        contact.tags = cleaned.tags or []
    else:
        if cleaned.properties is not None:
            contact.properties = {**(contact.properties or {}), **cleaned.properties}
        if cleaned.tags is not None:
            contact.tags = cleaned.tags

    warnings = list(cleaned.warnings) + _apply_status(contact, requested_status, consent, created=False)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:  # a concurrent write took the email or external_id since the check above
        raise ValidationError({"email": ValidationError(CONFLICT_MESSAGE, code="unique")}) from None
    if cleaned.field_values:
        _save_field_values(contact, cleaned.field_values)
    return warnings + _apply_lists(contact, cleaned.lists, consent)


def _apply_lists(contact: Contact, lists: list[tuple[ContactList, str]], consent: ConsentContext) -> list[str]:
    warnings: list[str] = []
    for contact_list, list_action in lists:
        if list_action == "unsubscribe":
            list_unsubscribe(contact=contact, contact_list=contact_list, consent=consent)
        else:
            warnings += list_subscribe(contact=contact, contact_list=contact_list, consent=consent)[1]
    return warnings


def _apply_status(contact: Contact, requested: str | None, consent: ConsentContext, *, created: bool) -> list[str]:
    change = decide_status(
        current=contact.status,
        requested=requested,
        suppressed=is_suppressed(contact.company, contact.email),
        fresh=consent.fresh,
        created=created,
    )
    contact.status = change.status
    if change.lift_suppression:
        suppression_remove(company=contact.company, email=contact.email, consent=consent)
    for action in change.actions:
        _record(contact, action, consent, save_first=True)
    return [change.warning] if change.warning else []


def _record(contact: Contact, action, consent: ConsentContext, *, contact_list=None, note="", save_first=False):
    if action is None:
        return None
    if save_first and contact.pk is None:
        return None  # new contacts record their consent after the first save
    return ConsentRecord.objects.create(
        company_id=contact.company_id,
        contact=contact,
        action=action,
        contact_list=contact_list,
        source=consent.source[:100],
        ip_address=consent.ip_address,
        user_agent=consent.user_agent[:400],
        note=note[:400],
    )


def contact_add_tags(*, contact: Contact, tags: list[str]) -> None:
    contact.tags = merge_tags(contact.tags, normalize_tags(tags))
    contact.save(update_fields=["tags", "updated_at"])


def contact_remove_tags(*, contact: Contact, tags: list[str]) -> None:
    removed = set(normalize_tags(tags))
    contact.tags = [tag for tag in contact.tags if tag not in removed]
    contact.save(update_fields=["tags", "updated_at"])


def contact_set_tags(*, contact: Contact, tags: list[str]) -> None:
    contact.tags = normalize_tags(tags)
    contact.save(update_fields=["tags", "updated_at"])


# --- Custom fields ----------------------------------------------------------------------


def custom_field_create(*, company: Company, name: str, field_type: str, choices: list | None = None) -> CustomField:
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = "A field needs a name."
    if field_type not in FieldType.values:
        errors["field_type"] = f"Unknown type '{field_type}'; use {', '.join(FieldType.values)}."
    choices = choices or []
    if field_type == FieldType.CHOICE and (not choices or not all(isinstance(c, str) and c for c in choices)):
        errors["choices"] = "A choice field needs a list of allowed values."
    if name and CustomField.objects.for_company(company).filter(name=name).exists():
        errors["name"] = ValidationError(f"A field named '{name}' already exists.", code="unique")
    if errors:
        raise ValidationError(errors)
    return CustomField.objects.create(
        company=company, name=name, field_type=field_type, choices=choices if field_type == FieldType.CHOICE else []
    )


def contact_set_fields(*, contact: Contact, values) -> None:
    """Set custom field values given as a write's `fields` (name to value, or Splio's list form)."""
    cleaned = clean_contact_input({"fields": values}, CompanyRefs(contact.company_id), partial=True)
    _save_field_values(contact, cleaned.field_values or [])


def _save_field_values(contact: Contact, values: list[tuple[CustomField, dict]]) -> None:
    for custom_field, columns in values:
        CustomFieldValue.objects.update_or_create(contact=contact, field=custom_field, defaults=columns)


# --- Key information (SALESmanago API v3) -----------------------------------------------------------


def key_information_upsert(
    *, contact: Contact, numeric: list | None = None, text: list | None = None, set_as_null: list | None = None
) -> list[KeyInformation]:
    entries: dict[str, dict] = {}
    for kind, items in (("numeric", numeric or []), ("text", text or [])):
        for index, item in enumerate(items):
            label = f"keyInformation.{kind}[{index}]"
            if not isinstance(item, dict) or not str(item.get("name", "")).strip() or "value" not in item:
                raise ValidationError({label: "Each entry needs a 'name' and a 'value'."})
            name = str(item["name"]).strip()
            if len(name) > 255:
                raise ValidationError({label: "The name is longer than 255 characters."})
            if kind == "numeric":
                try:
                    value = parse_decimal(item["value"])
                except NumberError as exc:
                    raise ValidationError({label: f"The value {exc}."}) from None
                entries[name] = {"numeric_value": value, "text_value": None}
            else:
                value = str(item["value"])
                if len(value) > 255:
                    raise ValidationError({label: "The value is longer than 255 characters."})
                entries[name] = {"numeric_value": None, "text_value": value}
    nulls = [str(name).strip() for name in (set_as_null or [])]
    if len(nulls) > 20:
        raise ValidationError({"setAsNull": "At most 20 names at once."})
    with transaction.atomic():
        for name, values in entries.items():
            KeyInformation.objects.update_or_create(contact=contact, name=name, defaults=values)
        for name in nulls:
            KeyInformation.objects.update_or_create(
                contact=contact, name=name, defaults={"numeric_value": None, "text_value": None}
            )
    return list(KeyInformation.objects.filter(contact=contact))


# --- Lists and consent --------------------------------------------------------------------


def contact_list_create(
    *,
    company: Company,
    name: str,
    description: str = "",
    double_opt_in: bool | None = None,
    reminder_after_days: int | None = None,
) -> ContactList:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A list needs a name."})
    require_header_safe(field="name", value=name)  # the subject of its confirmation emails
    if ContactList.objects.for_company(company).filter(name=name).exists():
        raise ValidationError({"name": ValidationError(f"A list named '{name}' already exists.", code="unique")})
    if reminder_after_days is not None and reminder_after_days < 1:
        raise ValidationError({"reminder_after_days": "Must be at least 1 day."})
    return ContactList.objects.create(
        company=company,
        name=name,
        description=description,
        double_opt_in=company.double_opt_in_default if double_opt_in is None else double_opt_in,
        reminder_after_days=reminder_after_days,
    )


LIST_ATTRIBUTES = ("name", "description", "double_opt_in", "reminder_after_days")


def contact_list_update(*, contact_list: ContactList, data: dict) -> ContactList:
    """Change the attributes `data` gives (LIST_ATTRIBUTES); the others stay. Switching double
    opt-in on does not touch existing members: it applies to subscriptions from then on."""
    changes = {name: data[name] for name in LIST_ATTRIBUTES if name in data}
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationError({"name": "A list needs a name."})
        require_header_safe(field="name", value=changes["name"])
        others = ContactList.objects.for_company(contact_list.company_id).exclude(pk=contact_list.pk)
        if others.filter(name=changes["name"]).exists():
            taken = f"A list named '{changes['name']}' already exists."
            raise ValidationError({"name": ValidationError(taken, code="unique")})
    if changes.get("reminder_after_days") is not None and changes["reminder_after_days"] < 1:
        raise ValidationError({"reminder_after_days": "Must be at least 1 day."})
    if "description" in changes:
        changes["description"] = changes["description"] or ""
    for name, value in changes.items():
        setattr(contact_list, name, value)
    contact_list.save(update_fields=list(changes))
    return contact_list


def contact_list_delete(*, contact_list: ContactList) -> None:
    """Memberships go with the list; contacts stay, and their consent records keep the history
    (their list reference becomes empty)."""
    contact_list.delete()


def list_subscribe(
    *, contact: Contact, contact_list: ContactList, consent: ConsentContext = NO_CONSENT
) -> tuple[ListMembership, list[str]]:
    """Subscribe to a list. On a double opt-in list the membership stays pending and a
    confirmation email is sent; a contact who left the list needs fresh consent to rejoin."""
    if contact.company_id != contact_list.company_id:
        raise ValidationError({"list_id": "No such list."})
    now = timezone.now()
    membership, created = ListMembership.objects.get_or_create(
        contact_list=contact_list, contact=contact, defaults={"status": MembershipStatus.PENDING}
    )
    if not created and membership.status == MembershipStatus.SUBSCRIBED:
        return membership, []
    if not created and membership.status == MembershipStatus.UNSUBSCRIBED and not consent.fresh:
        _record(contact, ConsentAction.RESUBSCRIBE_REFUSED, consent, contact_list=contact_list)
        return membership, [f"lists: the contact unsubscribed from '{contact_list.name}'; send consent to rejoin."]
    # Rejoining a double opt-in list after leaving it is confirmed again, like a first subscription.
    rejoining = membership.status == MembershipStatus.UNSUBSCRIBED
    if contact_list.double_opt_in and (membership.confirmed_at is None or rejoining):
        if membership.status != MembershipStatus.PENDING or created:
            # A new round of confirmation: the email task claims `confirmation_sent_at` being empty.
            membership.status = MembershipStatus.PENDING
            membership.confirmation_sent_at = membership.reminder_sent_at = None
            membership.confirmed_at = membership.confirmed_ip = None
            membership.save(
                update_fields=["status", "confirmation_sent_at", "reminder_sent_at", "confirmed_at", "confirmed_ip"]
            )
            _record(contact, ConsentAction.SUBSCRIBED, consent, contact_list=contact_list, note="pending confirmation")
            enqueue_confirmations()
        return membership, []
    membership.status = MembershipStatus.SUBSCRIBED
    membership.subscribed_at = now
    membership.unsubscribed_at = None
    membership.save(update_fields=["status", "subscribed_at", "unsubscribed_at"])
    _record(contact, ConsentAction.SUBSCRIBED, consent, contact_list=contact_list)
    return membership, []


def enqueue_confirmations() -> None:
    # The task sends every confirmation owed, so a caller adding many members enqueues it once.
    transaction.on_commit(current_app.tasks[CONFIRMATIONS_TASK].delay)


def list_unsubscribe(
    *, contact: Contact, contact_list: ContactList, consent: ConsentContext = NO_CONSENT
) -> ListMembership | None:
    membership = ListMembership.objects.filter(contact_list=contact_list, contact=contact).first()
    if membership is None or membership.status == MembershipStatus.UNSUBSCRIBED:
        return membership
    membership.status = MembershipStatus.UNSUBSCRIBED
    membership.unsubscribed_at = timezone.now()
    membership.save(update_fields=["status", "unsubscribed_at"])
    _record(contact, ConsentAction.UNSUBSCRIBED, consent, contact_list=contact_list)
    return membership


@transaction.atomic
def contact_unsubscribe_all(*, contact: Contact, consent: ConsentContext = NO_CONSENT) -> Contact:
    """Global unsubscribe: the contact status and every list membership."""
    now = timezone.now()
    ListMembership.objects.filter(contact=contact).exclude(status=MembershipStatus.UNSUBSCRIBED).update(
        status=MembershipStatus.UNSUBSCRIBED, unsubscribed_at=now
    )
    if contact.status != ContactStatus.UNSUBSCRIBED:
        contact.status = ContactStatus.UNSUBSCRIBED
        contact.save(update_fields=["status", "updated_at"])
    _record(contact, ConsentAction.UNSUBSCRIBED, consent, note="all lists")
    return contact


def membership_confirm(*, membership: ListMembership, ip_address: str | None, user_agent: str = "") -> ListMembership:
    """Double opt-in confirmation from the signed link; idempotent."""
    if membership.status == MembershipStatus.SUBSCRIBED and membership.confirmed_at:
        return membership
    now = timezone.now()
    membership.status = MembershipStatus.SUBSCRIBED
    membership.confirmed_at = now
    membership.confirmed_ip = ip_address
    membership.subscribed_at = now
    membership.unsubscribed_at = None
    membership.save(update_fields=["status", "confirmed_at", "confirmed_ip", "subscribed_at", "unsubscribed_at"])
    _record(
        membership.contact,
        ConsentAction.CONFIRMED,
        ConsentContext(source="double opt-in link", ip_address=ip_address, user_agent=user_agent, fresh=True),
        contact_list=membership.contact_list,
    )
    return membership


# --- Blacklist ----------------------------------------------------------------------------


def suppression_add(*, company: Company, email: str, reason: str = "", consent: ConsentContext = NO_CONSENT):
    email = normalize_email(email)
    if not email:
        raise ValidationError({"email": "An email address is required."})
    suppression, created = Suppression.objects.get_or_create(
        company=company, email=email, defaults={"reason": reason[:200]}
    )
    if created:
        for contact in Contact.objects.for_company(company).filter(email=email):
            _record(contact, ConsentAction.BLACKLISTED, consent, note=reason)
    return suppression, created


def suppression_remove(*, company: Company, email: str, consent: ConsentContext = NO_CONSENT) -> bool:
    email = normalize_email(email)
    deleted, _ = Suppression.objects.for_company(company).filter(email=email).delete()
    if deleted:
        for contact in Contact.objects.for_company(company).filter(email=email):
            _record(contact, ConsentAction.UNBLACKLISTED, consent)
    return bool(deleted)


# --- Bounces --------------------------------------------------------------------------------


def contacts_mark_bounced(*, company_id: int, contact_ids: list[int]) -> int:
    """The mail server refused these contacts' mailboxes for good (a permanent, mailbox-level SMTP
    reply to a campaign): they become bounced, so no email goes to them again (mailability,
    segments, every audience) until fresh consent. Erased contacts stay as they are. Returns how
    many changed."""
    return (
        Contact.objects.for_company(company_id)
        .filter(pk__in=contact_ids, erased_at__isnull=True)
        .exclude(status=ContactStatus.BOUNCED)
        .update(status=ContactStatus.BOUNCED, updated_at=timezone.now())
    )


# --- GDPR -----------------------------------------------------------------------------------


@transaction.atomic
def contact_erase(*, contact: Contact) -> Contact:
    """Erase personal data (Splio DELETE semantics): attributes, tags, fields, key information and
    list memberships go; the row stays, anonymized, so events and orders stay countable. From then
    on the contact is unknown: it is never found, changed or revived (the person coming back with
    the same address is a new contact), and its unsubscribe and preference links are dead."""
    CustomFieldValue.objects.filter(contact=contact).delete()
    KeyInformation.objects.filter(contact=contact).delete()
    ListMembership.objects.filter(contact=contact).delete()
    ConsentRecord.objects.filter(contact=contact).update(ip_address=None, user_agent="", note="")
    contact.email = ""
    contact.external_id = None
    contact.phone = ""
    contact.phone_valid = True
    contact.first_name = contact.last_name = ""
    contact.lang = contact.source = ""
    contact.properties = {}
    contact.tags = []
    contact.status = ContactStatus.UNSUBSCRIBED
    contact.erased_at = timezone.now()
    contact.save()
    contact_erased.send(sender=Contact, contact=contact)
    return contact
