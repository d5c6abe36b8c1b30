"""Writes for contacts and audiences. Every function is keyword-only and company-safe:
it only touches rows of the company it is given (or of the contact's company)."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_date

from salloq.core.models import Company
from salloq.core.validators import require_header_safe

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
from .tags import merge_tags

# Numbers go to numeric(30, 6) columns: 24 integer digits, but SQLite keeps them as doubles, whose
# rounding pushes values near 10^24 past the column (InvalidOperation). One digit less is safe.
NUMBER_LIMIT = Decimal(10) ** 23

NUL_MESSAGE = "Null characters are not allowed."

# Errors that are only a clash with another row's unique value carry code "unique": the API answers 409.
CONFLICT_MESSAGE = "Another contact of this company already has this email or external_id."

# Attributes an upsert may set directly on the contact row.
CONTACT_ATTRIBUTES = ("email", "external_id", "phone", "first_name", "last_name", "lang", "source", "status")


@dataclass(frozen=True)
class ConsentContext:
    """Where a consent-relevant action came from, recorded with it.

    `fresh` is True when the caller asserts the contact has just given consent (a signup form,
    a confirmed opt-in): only then may an unsubscribed or blacklisted contact be subscribed again.
    """

    source: str = ""
    ip_address: str | None = None
    user_agent: str = ""
    fresh: bool = False


NO_CONSENT = ConsentContext()


@dataclass
class UpsertResult:
    contact: Contact
    created: bool
    warnings: list[str] = field(default_factory=list)


# --- Normalization ------------------------------------------------------------------


def normalize_email(raw: str) -> str:
    email = (raw or "").strip().lower()
    if not email:
        return ""
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f"'{raw}' is not a valid email address."}) from None
    return email


def normalize_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 (+33612345678). Accepts the 00 international prefix (Splio) and national numbers
    when a default region is given. Numbers that cannot exist are rejected."""
    text = (raw or "").strip()
    if not text:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        number = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            {"phone": f"'{raw}' is not a phone number; use the international form, e.g. +33612345678."}
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError({"phone": f"'{raw}' is not a valid phone number."})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_tags(tags) -> list[str]:
    if tags is None:
        return []
    if not isinstance(tags, list | tuple) or not all(isinstance(tag, str) for tag in tags):
        raise ValidationError({"tags": "Tags must be a list of strings."})
    cleaned = []
    for tag in tags:
        tag = tag.strip()
        if not tag:
            continue
        if "\x00" in tag:
            raise ValidationError({"tags": NUL_MESSAGE})
        if len(tag) > 100:
            raise ValidationError({"tags": f"Tag '{tag[:20]}…' is longer than 100 characters."})
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


# --- Contacts -------------------------------------------------------------------------


def _find_contact(company: Company, *, email: str, external_id: str | None) -> Contact | None:
    """The contact an upsert updates, locked until the caller's transaction ends: its properties and
    tags are merged in Python, and a concurrent upsert must read the merged row, not overwrite it."""
    contacts = Contact.objects.for_company(company).select_for_update(no_key=True)
    if external_id:
        found = contacts.filter(external_id=external_id).first()
        if found is not None:
            return found
    if email:
        return contacts.filter(email=email).first()
    return None


_MAX_LENGTHS = {name: Contact._meta.get_field(name).max_length for name in CONTACT_ATTRIBUTES}


def _clean_attributes(data: dict) -> dict:
    cleaned = {}
    for name in CONTACT_ATTRIBUTES:
        if name not in data:
            continue
        value = data[name]
        # Anything but text (ints for an external_id) would fail deep in the save as a 500.
        if value is not None and not isinstance(value, str) and not (name == "external_id" and type(value) is int):
            raise ValidationError({name: "Must be a string."})
        if isinstance(value, str) and "\x00" in value:  # PostgreSQL refuses NUL in text (a 500)
            raise ValidationError({name: NUL_MESSAGE})
        if name == "email":
            value = normalize_email(value or "")
        elif name == "phone":
            value = normalize_phone(value or "")
        elif name == "external_id":
            value = (str(value).strip() or None) if value is not None else None
        elif name == "status":
            if value not in ContactStatus.values:
                raise ValidationError({"status": f"Unknown status '{value}'; use {', '.join(ContactStatus.values)}."})
        else:
            value = (value or "").strip()
        max_length = _MAX_LENGTHS[name]
        if value and len(value) > max_length:  # PostgreSQL would refuse the row as a whole (a 500)
            raise ValidationError({name: f"Ensure this value has at most {max_length} characters."})
        cleaned[name] = value
    return cleaned


def is_suppressed(company: Company, email: str) -> bool:
    return bool(email) and Suppression.objects.for_company(company).filter(email=email).exists()


@transaction.atomic
def contact_upsert(*, company: Company, data: dict, consent: ConsentContext = NO_CONSENT) -> UpsertResult:
    """Create or update a contact found by `external_id`, else by `email` (seed 000 upsert).

    Tags and properties are merged into what the contact has; custom `fields` and attributes
    given replace the stored ones. An unsubscribed, bounced or blacklisted contact keeps that
    status unless `consent.fresh` says they just opted in again.
    """
    attributes = _clean_attributes(data)
    if not attributes.get("email") and not attributes.get("external_id") and not attributes.get("phone"):
        raise ValidationError({"email": "A contact needs an email, an external_id or a phone."})
    tags = normalize_tags(data.get("tags"))
    properties = data.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise ValidationError({"properties": "Properties must be an object of keys and values."})

    contact = _find_contact(company, email=attributes.get("email", ""), external_id=attributes.get("external_id"))
    created = contact is None
    warnings: list[str] = []
    if created:
        contact = Contact(company=company, status=ContactStatus.SUBSCRIBED)
    elif contact.erased_at is not None:
        contact.erased_at = None  # the person came back: a new relationship on the anonymized row

    requested_status = attributes.pop("status", None)
    for name, value in attributes.items():
        setattr(contact, name, value)
    if properties:
        contact.properties = {**(contact.properties or {}), **properties}
    contact.tags = merge_tags(contact.tags, tags)

    warnings += _apply_status(contact, requested_status, consent, created=created)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:
        raise ValidationError(
            {"email": ValidationError(CONFLICT_MESSAGE, code="unique")}
        ) from None

    if data.get("fields") is not None:
        contact_set_fields(contact=contact, values=data["fields"])
    if created:
        _record(contact, ConsentAction.SUBSCRIBED if contact.status == ContactStatus.SUBSCRIBED else None, consent)
    return UpsertResult(contact=contact, created=created, warnings=warnings)


@transaction.atomic
def contact_update(
    *, contact: Contact, data: dict, consent: ConsentContext = NO_CONSENT, replace: bool = False
) -> list[str]:
    """Change one known contact (PUT/PATCH by id); returns warnings.

    `replace` (PUT) clears the attributes and properties `data` leaves out and sets the tags to
    exactly those given; otherwise (PATCH) only what is given changes, properties are merged and
    tags, when given, replace the contact's. Status changes follow the upsert's consent rules.
    """
    if replace:
        cleared = {name: None for name in CONTACT_ATTRIBUTES if name != "status"}
        data = {**cleared, "properties": {}, "tags": [], **data}
    attributes = _clean_attributes(data)
    tags = normalize_tags(data["tags"]) if data.get("tags") is not None else None
    properties = data.get("properties")
    if properties is not None and not isinstance(properties, dict):
        raise ValidationError({"properties": "Properties must be an object of keys and values."})

    # The change applies to the row as stored now, locked, not as the caller loaded it: the save
    # writes every column, and a concurrent upsert's merged properties and tags must stay.
    contact.refresh_from_db(from_queryset=Contact.objects.select_for_update(no_key=True))
    requested_status = attributes.pop("status", None)
    for name, value in attributes.items():
        setattr(contact, name, value)
    if not contact.email and not contact.external_id and not contact.phone:
        raise ValidationError({"email": "A contact needs an email, an external_id or a phone."})
    others = Contact.objects.for_company(contact.company_id).exclude(pk=contact.pk)
    if contact.email and others.filter(email=contact.email).exists():
        raise ValidationError(
            {"email": ValidationError("Another contact of this company already has this email.", code="unique")}
        )
    if contact.external_id and others.filter(external_id=contact.external_id).exists():
        taken = "Another contact of this company already has this external_id."
        raise ValidationError({"external_id": ValidationError(taken, code="unique")})
    if properties is not None:
        contact.properties = properties if replace else {**(contact.properties or {}), **properties}
    if tags is not None:
        contact.tags = tags
    contact.erased_at = None  # data given again for an erased row starts a new relationship

    warnings = _apply_status(contact, requested_status, consent, created=False)
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError:  # a concurrent write took the email or external_id since the check above
        raise ValidationError(
            {"email": ValidationError(CONFLICT_MESSAGE, code="unique")}
        ) from None
    if data.get("fields") is not None:
        contact_set_fields(contact=contact, values=data["fields"])
    return warnings


@dataclass(frozen=True)
class StatusChange:
    """What an upsert's requested status leads to; contact_upsert and the bulk upsert apply it."""

    status: str
    actions: tuple[str, ...] = ()  # consent actions to record
    warning: str | None = None
    lift_suppression: bool = False


def decide_status(*, current: str, requested: str | None, suppressed: bool, fresh: bool, created: bool) -> StatusChange:
    """The consent rule: nobody unsubscribed, bounced or blacklisted is subscribed again without fresh consent."""
    if created:
        status = requested or current
        if suppressed and status == ContactStatus.SUBSCRIBED and not fresh:
            return StatusChange(
                ContactStatus.UNSUBSCRIBED,
                warning="status: the address is blacklisted; the contact was created unsubscribed.",
            )
        return StatusChange(status)
    if requested is None or requested == current:
        return StatusChange(current)
    if requested == ContactStatus.SUBSCRIBED:
        if not fresh:
            return StatusChange(
                current,
                actions=(ConsentAction.RESUBSCRIBE_REFUSED,),
                warning=(
                    f"status: the contact is {current}{' and blacklisted' if suppressed else ''}; "
                    'send "consent" with the upsert to record fresh consent and re-subscribe.'
                ),
            )
        return StatusChange(ContactStatus.SUBSCRIBED, actions=(ConsentAction.SUBSCRIBED,), lift_suppression=suppressed)
    return StatusChange(
        requested, actions=(ConsentAction.UNSUBSCRIBED,) if requested == ContactStatus.UNSUBSCRIBED else ()
    )


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


def coerce_field_value(custom_field: CustomField, raw) -> dict:
    """The typed column values for `raw` under the field's type; a ValidationError names the field."""
    columns = {"text_value": None, "number_value": None, "date_value": None, "bool_value": None}
    if raw is None or raw == "":
        return columns
    label = f"fields.{custom_field.name}"
    kind = custom_field.field_type
    if kind == FieldType.NUMBER:
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise ValidationError({label: f"'{raw}' is not a number."}) from None
        if not value.is_finite() or abs(value) >= NUMBER_LIMIT:
            raise ValidationError({label: f"'{raw}' is out of range."})
        columns["number_value"] = value
    elif kind == FieldType.DATE:
        try:
            value = raw if isinstance(raw, date) else parse_date(str(raw).strip()[:10]) if str(raw).strip() else None
        except ValueError:  # well formed but no such day, e.g. 2024-02-30
            value = None
        if value is None:
            raise ValidationError({label: f"'{raw}' is not a date (YYYY-MM-DD)."})
        columns["date_value"] = value
    elif kind == FieldType.BOOLEAN:
        if isinstance(raw, bool):
            columns["bool_value"] = raw
        elif str(raw).strip().lower() in {"1", "true", "yes", "y", "on"}:
            columns["bool_value"] = True
        elif str(raw).strip().lower() in {"0", "false", "no", "n", "off"}:
            columns["bool_value"] = False
        else:
            raise ValidationError({label: f"'{raw}' is not yes/no (true/false, 1/0)."})
    elif "\x00" in str(raw):
        raise ValidationError({label: NUL_MESSAGE})
    elif kind == FieldType.CHOICE:
        if str(raw) not in custom_field.choices:
            raise ValidationError({label: f"'{raw}' is not one of: {', '.join(custom_field.choices)}."})
        columns["text_value"] = str(raw)
    else:
        columns["text_value"] = str(raw)
    return columns


def _field_items(values) -> list[tuple[dict, object]]:
    """Accept Splio's list form [{"id"|"name", "value"}] and a plain {"name": value} object."""
    if isinstance(values, dict):
        return [({"name": name}, value) for name, value in values.items()]
    if isinstance(values, list):
        items = []
        for index, item in enumerate(values):
            if not isinstance(item, dict) or ("id" not in item and "name" not in item) or "value" not in item:
                raise ValidationError({f"fields[{index}]": "Each field needs an 'id' or a 'name', and a 'value'."})
            items.append(({k: item[k] for k in ("id", "name") if k in item}, item["value"]))
        return items
    raise ValidationError({"fields": "Fields must be an object or a list of {id|name, value}."})


def contact_set_fields(*, contact: Contact, values) -> None:
    fields = list(CustomField.objects.for_company(contact.company_id))
    by_id = {str(f.pk): f for f in fields}
    by_name = {f.name: f for f in fields}
    rows = []
    for ref, raw in _field_items(values):
        custom_field = by_id.get(str(ref["id"])) if "id" in ref else by_name.get(ref.get("name"))
        if custom_field is None:
            raise ValidationError({"fields": f"No custom field {ref}. Define it first (GET /api/fields)."})
        rows.append((custom_field, coerce_field_value(custom_field, raw)))
    for custom_field, columns in rows:
        CustomFieldValue.objects.update_or_create(contact=contact, field=custom_field, defaults=columns)


# --- Key information (seed 002) -----------------------------------------------------------


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
                    value = Decimal(str(item["value"]))
                except InvalidOperation:
                    raise ValidationError({label: f"'{item['value']}' is not a number."}) from None
                if not value.is_finite() or abs(value) >= NUMBER_LIMIT:
                    raise ValidationError({label: f"'{item['value']}' is out of range."})
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
            _enqueue_confirmation()
        return membership, []
    membership.status = MembershipStatus.SUBSCRIBED
    membership.subscribed_at = now
    membership.unsubscribed_at = None
    membership.save(update_fields=["status", "subscribed_at", "unsubscribed_at"])
    _record(contact, ConsentAction.SUBSCRIBED, consent, contact_list=contact_list)
    return membership, []


def _enqueue_confirmation() -> None:
    from . import tasks

    # The task sends every confirmation owed, so a caller adding many members enqueues it once.
    transaction.on_commit(tasks.send_double_opt_in_confirmations.delay)


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


# --- GDPR -----------------------------------------------------------------------------------


@transaction.atomic
def contact_erase(*, contact: Contact) -> Contact:
    """Erase personal data (Splio DELETE semantics): attributes, tags, fields, key information and
    list memberships go; the row stays, anonymized, so events and orders stay countable."""
    CustomFieldValue.objects.filter(contact=contact).delete()
    KeyInformation.objects.filter(contact=contact).delete()
    ListMembership.objects.filter(contact=contact).delete()
    ConsentRecord.objects.filter(contact=contact).update(ip_address=None, user_agent="", note="")
    contact.email = ""
    contact.external_id = None
    contact.phone = ""
    contact.first_name = contact.last_name = ""
    contact.lang = contact.source = ""
    contact.properties = {}
    contact.tags = []
    contact.status = ContactStatus.UNSUBSCRIBED
    contact.erased_at = timezone.now()
    contact.save()
    return contact
