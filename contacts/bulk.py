"""Set-based writes for many contacts at once: the bulk API endpoint and the CSV import.

`contacts_bulk_upsert` keeps `services.contact_upsert`'s rules item for item (identify by
external_id else email, merge tags and properties, typed custom fields, lists, no re-subscription
without fresh consent, consent records for new contacts) but costs a constant number of queries
per batch instead of a dozen per contact:

1. every item is validated by `contact_input.clean_contact_input`, the validation every contact
   write goes through (so an item is taken, refused or warned about exactly as the same body sent
   to POST /api/contacts); a bad item gets its own errors and is left out;
2. one SELECT loads the batch's existing contacts (by email and external_id), one the suppressions;
3. the items are applied in order to in-memory contacts, so a later item in the batch sees what an
   earlier one did (same email twice: the second updates the contact the first created);
4. one UPDATE of the changed contacts, one INSERT of the new ones (tags are on the contact's row),
   then one INSERT each for custom field values and consent records: on PostgreSQL single
   statements over array parameters, elsewhere (SQLite) Django's bulk operations;
5. list subscriptions and unsubscriptions, a few statements per list named in the batch.

Concurrency: a unique violation (another request inserted one of the batch's new contacts
meanwhile) rolls the batch back to its savepoint and runs it again, now finding that contact;
past three tries the items go one at a time, so only a truly conflicting item fails.
"""

import json
import operator
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from salloq.core.db import binary_cursor
from salloq.core.models import Company

from . import bulk_sql, services
from .consent_policy import NO_CONSENT, ConsentContext, consent_with, decide_status
from .contact_input import CONTACT_COLUMNS, CompanyRefs, clean_contact_input
from .models import (
    ConsentAction,
    ConsentRecord,
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    CustomFieldValue,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from .selectors import membership_statuses
from .services import CONFLICT_MESSAGE
from .tags import merge_tags

# Columns a bulk update writes; compared before and after so unchanged contacts are not rewritten.
UPDATED_COLUMNS = (*CONTACT_COLUMNS, "properties", "tags", "erased_at")
FIELD_VALUE_COLUMNS = ["text_value", "number_value", "date_value", "bool_value"]
# A unique violation means another transaction inserted one of our new contacts meanwhile;
# re-reading the batch picks their row up. Past this many tries, items go one at a time.
BATCH_ATTEMPTS = 3
# A row's values in UPDATED_COLUMNS order, read in one C call.
_ROW_VALUES = operator.attrgetter(*UPDATED_COLUMNS)


@dataclass
class BulkItemResult:
    index: int
    status: str  # "created" | "updated" | "error"
    contact_id: int | None = None
    errors: dict[str, list[str]] | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Item:
    """One valid input item, cleaned: what contact_upsert would apply."""

    index: int
    attributes: dict[str, Any]
    status: str | None
    tags: list[str]
    properties: dict | None
    field_values: list[tuple[CustomField, dict]]
    lists: list[tuple[ContactList, str]]
    consent: ConsentContext
    warnings: list[str]


@dataclass
class _Batch:
    """What applying the items in memory produced, for the bulk writes."""

    results: list[tuple[_Item, "_Row", bool, list[str]]] = field(default_factory=list)
    new_rows: list["_Row"] = field(default_factory=list)
    touched: dict[int, "_Row"] = field(default_factory=dict)
    field_values: dict[tuple[int, int], tuple["_Row", CustomField, dict]] = field(default_factory=dict)
    records: list[tuple["_Row", str, ConsentContext]] = field(default_factory=list)
    unsuppress: set[str] = field(default_factory=set)
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def contacts_bulk_upsert(
    *,
    company: Company,
    items: list,
    consent: ConsentContext = NO_CONSENT,
    item_errors: dict[int, dict[str, list[str]]] | None = None,
) -> list[BulkItemResult]:
    """Upsert `items` (contact_upsert's input, one dict each); one result per item, in order.

    A bad item gets status "error" with `errors` naming each field at fault and never stops the
    others; `item_errors` are problems found before (the API's parser: lone surrogates, numbers out
    of range), by item index. Items are applied in order: an item whose email or external_id
    matches an earlier item's contact updates that contact ("updated", same contact_id). An item
    carrying its own "consent" has just opted in, as the same body sent to POST /api/contacts.
    """
    results: dict[int, BulkItemResult] = {}
    refs = CompanyRefs(company.pk)
    valid: list[_Item] = []
    for index, raw in enumerate(items):
        if item_errors and index in item_errors:
            results[index] = BulkItemResult(index=index, status="error", errors=item_errors[index])
            continue
        prepared = _prepare(index, raw, refs, consent)
        if isinstance(prepared, _Item):
            valid.append(prepared)
        else:
            results[index] = BulkItemResult(index=index, status="error", errors=prepared)

    written = None
    for _attempt in range(BATCH_ATTEMPTS):
        try:
            with transaction.atomic():
                written = _write(company, valid)
            break
        except IntegrityError:
            continue
    if written is None:
        # Still conflicting (a concurrent writer, or items of this batch swapping emails):
        # one item at a time, so only an item that really conflicts fails.
        written = []
        for item in valid:
            try:
                with transaction.atomic():
                    written += _write(company, [item])
            except IntegrityError:
                written.append(BulkItemResult(index=item.index, status="error", errors={"email": [CONFLICT_MESSAGE]}))
    for result in written:
        results[result.index] = result
    ordered = [results[index] for index in range(len(items))]
    _apply_lists(company, valid, ordered)
    return ordered


# --- Validation -------------------------------------------------------------------------


def _prepare(index: int, raw: Any, refs: CompanyRefs, consent: ConsentContext) -> _Item | dict[str, list[str]]:
    """The cleaned item, or its errors by field: every field at fault, not just the first."""
    try:
        cleaned = clean_contact_input(raw, refs)
    except ValidationError as exc:
        return exc.message_dict
    attributes = cleaned.attributes
    return _Item(
        index=index,
        attributes=attributes,
        status=attributes.pop("status", None),
        tags=cleaned.tags or [],
        properties=cleaned.properties or None,
        field_values=cleaned.field_values or [],
        lists=cleaned.lists,
        consent=consent_with(consent, cleaned.consent),
        warnings=cleaned.warnings,
    )


# --- Applying and writing ---------------------------------------------------------------------


class _Row:
    """A contact as the batch sees it: loaded, or new (pk None until inserted). Lighter than a
    model instance, which costs more to build than the whole rest of an item's work. The
    arguments follow UPDATED_COLUMNS, as the SELECT returns them; the defaults are Contact's."""

    __slots__ = ("pk", *UPDATED_COLUMNS)

    def __init__(
        self,
        pk=None,
        email="",
        external_id=None,
        phone="",
        first_name="",
        last_name="",
        lang="",
        source="",
        status=ContactStatus.SUBSCRIBED,
        phone_valid=True,
        properties=None,
        tags=None,
        erased_at=None,
    ):
        self.pk = pk
        self.email = email
        self.external_id = external_id
        self.phone = phone
        self.first_name = first_name
        self.last_name = last_name
        self.lang = lang
        self.source = source
        self.status = status
        self.phone_valid = phone_valid
        self.properties = {} if properties is None else properties
        self.tags = [] if tags is None else tags
        self.erased_at = erased_at

    def snapshot(self) -> tuple:
        return _ROW_VALUES(self)


def _write(company: Company, items: list[_Item]) -> list[BulkItemResult]:
    if not items:
        return []
    emails = {item.attributes["email"] for item in items if item.attributes.get("email")}
    external_ids = {item.attributes["external_id"] for item in items if item.attributes.get("external_id")}
    existing = _existing_rows(company, emails, external_ids)
    by_email = {row.email: row for row in existing if row.email}
    by_external_id = {row.external_id: row for row in existing if row.external_id}
    before = {row.pk: row.snapshot() for row in existing}
    # A contact found by external_id is checked under its stored email too.
    suppressed = _suppressed(company, emails | set(by_email))

    batch = _Batch()
    for item in items:
        _apply(item, batch, by_email, by_external_id, suppressed)

    changed = [row for pk, row in batch.touched.items() if row.snapshot() != before[pk]]
    # The same insert order in every batch keeps two concurrent batches from deadlocking on each
    # other's half-inserted unique keys.
    batch.new_rows.sort(key=lambda row: (row.email, row.external_id or ""))
    save = _save_postgresql if connection.vendor == "postgresql" else _save_orm
    now = timezone.now()
    save(company, batch, changed, now)
    _insert_batch_records(company.pk, batch.records, now)
    if batch.unsuppress:
        Suppression.objects.for_company(company).filter(email__in=batch.unsuppress).delete()

    results = [BulkItemResult(index=index, status="error", errors=errors) for index, errors in batch.errors.items()]
    results += [
        BulkItemResult(
            index=item.index, status="created" if created else "updated", contact_id=row.pk, warnings=warnings
        )
        for item, row, created, warnings in batch.results
    ]
    return results


def _save_orm(company: Company, batch: _Batch, changed: list[_Row], now) -> None:
    """The writes through Django's bulk operations: any database (SQLite, the embedded default)."""
    if changed:
        contacts = [
            Contact(pk=row.pk, updated_at=now, **{n: getattr(row, n) for n in UPDATED_COLUMNS}) for row in changed
        ]
        Contact.objects.bulk_update(contacts, [*UPDATED_COLUMNS, "updated_at"])
    if batch.new_rows:
        contacts = [
            Contact(company_id=company.pk, created_at=now, **{n: getattr(row, n) for n in UPDATED_COLUMNS})
            for row in batch.new_rows
        ]
        Contact.objects.bulk_create(contacts)
        for row, contact in zip(batch.new_rows, contacts, strict=True):
            row.pk = contact.pk
    if batch.field_values:
        CustomFieldValue.objects.bulk_create(
            [
                CustomFieldValue(contact_id=row.pk, field=custom_field, **columns)
                for row, custom_field, columns in batch.field_values.values()
            ],
            update_conflicts=True,
            unique_fields=["contact", "field"],
            update_fields=FIELD_VALUE_COLUMNS,
        )


def _insert_batch_records(company_id: int, records: list[tuple["_Row", str, ConsentContext]], now) -> None:
    """The batch's consent records: one statement per consent they came with (one, unless items
    carried their own "consent")."""
    by_consent: dict[ConsentContext, list[tuple[int, str, int | None, str]]] = {}
    for row, action, consent in records:
        by_consent.setdefault(consent, []).append((row.pk, action, None, ""))
    for consent, rows in by_consent.items():
        _insert_consent_records(company_id, rows, consent, now)


def _columns(rows: list, names) -> list[list]:
    """Column-wise lists of the rows' values: one array parameter per column."""
    return [[getattr(row, name) for row in rows] for name in names]


def _save_postgresql(company: Company, batch: _Batch, changed: list[_Row], now) -> None:
    """The same writes as _save_orm in one statement per table: Django's bulk_update builds a CASE
    per row and column, which costs many times what the rows themselves do."""

    def properties(rows: list[_Row]) -> list[str]:
        return [json.dumps(row.properties, cls=DjangoJSONEncoder) for row in rows]

    def tags(rows: list[_Row]) -> list[str]:
        return [json.dumps(row.tags) for row in rows]

    with binary_cursor() as cursor:
        if changed:
            cursor.execute(
                bulk_sql.UPDATE_CONTACTS,
                [
                    now,
                    [row.pk for row in changed],
                    *_columns(changed, CONTACT_COLUMNS),
                    properties(changed),
                    tags(changed),
                    [row.erased_at for row in changed],
                    company.pk,
                ],
            )
        if batch.new_rows:
            rows = batch.new_rows
            cursor.execute(
                bulk_sql.INSERT_CONTACTS,
                [company.pk, now, now, *_columns(rows, CONTACT_COLUMNS), properties(rows), tags(rows)],
            )
            # Rows come back in the order inserted, as Django's own bulk_create relies on.
            for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
                row.pk = pk
        if batch.field_values:
            values = list(batch.field_values.values())
            cursor.execute(
                bulk_sql.UPSERT_FIELD_VALUES,
                [
                    [row.pk for row, _, _ in values],
                    [custom_field.pk for _, custom_field, _ in values],
                    *[[columns[name] for _, _, columns in values] for name in FIELD_VALUE_COLUMNS],
                ],
            )


def _existing_rows(company: Company, emails: set[str], external_ids: set[str]) -> list[_Row]:
    """The company's contacts that have one of `emails` or `external_ids`."""
    if not emails and not external_ids:
        return []
    if connection.vendor == "postgresql":
        with binary_cursor() as cursor:
            cursor.execute(bulk_sql.LOOKUP_CONTACTS, [list(emails), company.pk, list(external_ids), company.pk])
            rows = cursor.fetchall()
        # Django's connection hands jsonb over as text, for JSONField to decode.
        return [_Row(*values[:-3], json.loads(values[-3]), json.loads(values[-2]), values[-1]) for values in rows]
    lookup = Q(email__in=emails) & ~Q(email="") | Q(external_id__in=external_ids)
    found = Contact.objects.for_company(company).filter(lookup).order_by().values_list("pk", *UPDATED_COLUMNS)
    return [_Row(*values) for values in found]


def _suppressed(company: Company, emails: set[str]) -> set[str]:
    if not emails:
        return set()
    if connection.vendor == "postgresql":
        with binary_cursor() as cursor:
            cursor.execute(bulk_sql.LOOKUP_SUPPRESSIONS, [company.pk, list(emails)])
            return {email for (email,) in cursor.fetchall()}
    suppressions = Suppression.objects.for_company(company).filter(email__in=emails).order_by()
    return set(suppressions.values_list("email", flat=True))


def _in(column: str, values, array_type: str = "varchar[]") -> Q:
    """`column IN values`; on PostgreSQL `= ANY(array)`: one parameter instead of one per value,
    which Django would otherwise prepare one by one and PostgreSQL plan one by one."""
    if connection.vendor == "postgresql":
        # The column is one of our own names; the values travel as a parameter.
        condition = RawSQL(f"{column} = ANY(%s::{array_type})", (list(values),), output_field=BooleanField())  # noqa: S611
        return Q(condition)
    return Q(**{f"{column}__in": values})


def _apply(
    item: _Item,
    batch: _Batch,
    by_email: dict[str, _Row],
    by_external_id: dict[str, _Row],
    suppressed: set[str],
) -> None:
    """contact_upsert's rules for one item, on in-memory contacts (found, or new in this batch)."""
    attributes = item.attributes
    contact = None
    if attributes.get("external_id"):
        contact = by_external_id.get(attributes["external_id"])
    if contact is None and attributes.get("email"):
        contact = by_email.get(attributes["email"])
    email = attributes.get("email")
    if email and by_email.get(email, contact) is not contact:
        batch.errors[item.index] = {"email": [CONFLICT_MESSAGE]}
        return

    created = contact is None
    if created:
        contact = _Row()
        batch.new_rows.append(contact)
    elif contact.pk is not None:
        batch.touched[contact.pk] = contact

    for name, value in attributes.items():
        if name == "email":
            _reindex(by_email, contact.email, value, contact)
        elif name == "external_id":
            _reindex(by_external_id, contact.external_id, value, contact)
        setattr(contact, name, value)
    if item.properties:
        contact.properties = {**(contact.properties or {}), **item.properties}
    if item.tags:
        contact.tags = merge_tags(contact.tags, item.tags)

    warnings = item.warnings + _apply_status(contact, item.status, item.consent, batch, suppressed, created=created)
    for custom_field, columns in item.field_values:
        batch.field_values[(id(contact), custom_field.pk)] = (contact, custom_field, columns)
    if created and contact.status == ContactStatus.SUBSCRIBED:
        batch.records.append((contact, ConsentAction.SUBSCRIBED, item.consent))
    batch.results.append((item, contact, created, warnings))


def _reindex(index: dict[str, _Row], old: str | None, new: str | None, contact: _Row) -> None:
    if old and index.get(old) is contact:
        del index[old]
    if new:
        index[new] = contact


def _apply_status(
    contact: _Row, requested: str | None, consent: ConsentContext, batch: _Batch, suppressed: set[str], *, created
) -> list[str]:
    """consent_policy.decide_status, with the consent records and suppression removals collected."""
    is_suppressed = bool(contact.email) and contact.email in suppressed
    change = decide_status(
        current=contact.status, requested=requested, suppressed=is_suppressed, fresh=consent.fresh, created=created
    )
    contact.status = change.status
    if change.lift_suppression:
        suppressed.discard(contact.email)
        batch.unsuppress.add(contact.email)
        batch.records.append((contact, ConsentAction.UNBLACKLISTED, consent))
    batch.records.extend((contact, action, consent) for action in change.actions)
    return [change.warning] if change.warning else []


def _insert_consent_records(
    company_id: int, records: list[tuple[int, str, int | None, str]], consent: ConsentContext, now
) -> None:
    """One consent record per (contact id, action, list id, note), in order, all from `consent`."""
    if not records:
        return
    if connection.vendor == "postgresql":
        columns = list(zip(*records, strict=True))
        with binary_cursor() as cursor:
            cursor.execute(
                bulk_sql.INSERT_CONSENT_RECORDS,
                [
                    company_id,
                    consent.source[:100],
                    consent.ip_address,
                    consent.user_agent[:400],
                    now,
                    *map(list, columns),
                ],
            )
        return
    ConsentRecord.objects.bulk_create(
        [
            ConsentRecord(
                company_id=company_id,
                contact_id=contact_id,
                action=action,
                contact_list_id=list_id,
                source=consent.source[:100],
                ip_address=consent.ip_address,
                user_agent=consent.user_agent[:400],
                note=note[:400],
                created_at=now,
            )
            for contact_id, action, list_id, note in records
        ]
    )


# --- Lists ------------------------------------------------------------------------------------


def _apply_lists(company: Company, items: list[_Item], results: list[BulkItemResult]) -> None:
    """The items' `lists`, as services.contact_upsert applies them, a few statements per list: for
    each list, its runs of the same action and consent (in item order) go together."""
    entries: dict[int, list[tuple[str, ConsentContext, BulkItemResult]]] = {}
    lists: dict[int, ContactList] = {}
    for item in items:
        result = results[item.index]
        if result.status == "error":
            continue
        for contact_list, list_action in item.lists:
            lists[contact_list.pk] = contact_list
            entries.setdefault(contact_list.pk, []).append((list_action, item.consent, result))
    for list_id, ops in entries.items():
        contact_list = lists[list_id]
        for (list_action, consent), run in groupby(ops, key=lambda op: op[:2]):
            run_results = [result for _, _, result in run]
            contact_ids = [result.contact_id for result in run_results]
            if list_action == "unsubscribe":
                contacts_bulk_list_unsubscribe(contact_list=contact_list, contact_ids=contact_ids, consent=consent)
                continue
            warnings = contacts_bulk_list_subscribe(contact_list=contact_list, contact_ids=contact_ids, consent=consent)
            for result in run_results:
                result.warnings = result.warnings + warnings.get(result.contact_id, [])


def contacts_bulk_list_subscribe(
    *, contact_list: ContactList, contact_ids: Iterable[int], consent: ConsentContext = NO_CONSENT
) -> dict[int, list[str]]:
    """services.list_subscribe for many contacts of the list's company, in a few queries.

    New members are subscribed (pending, with a confirmation email, on a double opt-in list);
    members who left the list stay out without fresh consent. Returns warnings by contact id.
    """
    company_id = contact_list.company_id
    contacts = Contact.objects.for_company(company_id).filter(_in("id", set(contact_ids), "bigint[]"))
    contacts = contacts.filter(erased_at__isnull=True)  # an erased contact is unknown, never a member again
    contact_ids = sorted(contacts.order_by().values_list("pk", flat=True))
    if not contact_ids:
        return {}
    now = timezone.now()
    memberships = ListMembership.objects.filter(contact_list=contact_list)
    current = dict(memberships.filter(_in("contact_id", contact_ids, "bigint[]")).values_list("contact_id", "status"))
    new = [contact_id for contact_id in contact_ids if contact_id not in current]
    left = [contact_id for contact_id in contact_ids if current.get(contact_id) == MembershipStatus.UNSUBSCRIBED]
    warnings: dict[int, list[str]] = {}
    records: list[tuple[int, str, int | None, str]] = []
    rejoining: list[int] = []
    if consent.fresh:
        rejoining = left
    else:
        for contact_id in left:
            records.append((contact_id, ConsentAction.RESUBSCRIBE_REFUSED, contact_list.pk, ""))
            warnings[contact_id] = [
                f"lists: the contact unsubscribed from '{contact_list.name}'; send consent to rejoin."
            ]
    # Members already subscribed, or waiting for their confirmation email, stay as they are.
    pending = contact_list.double_opt_in  # new and returning members alike confirm by email (as list_subscribe)
    status = MembershipStatus.PENDING if pending else MembershipStatus.SUBSCRIBED
    note = "pending confirmation" if pending else ""
    records += [(contact_id, ConsentAction.SUBSCRIBED, contact_list.pk, note) for contact_id in sorted(new + rejoining)]

    new_ids = _insert_memberships(contact_list, new, status, now)
    rejoined_ids: list[int] = []
    if rejoining:
        returning = memberships.filter(contact_id__in=rejoining)
        rejoined_ids = list(returning.values_list("pk", flat=True))
        returning.update(
            status=status,
            subscribed_at=None if pending else now,
            unsubscribed_at=None,
            confirmation_sent_at=None,
            reminder_sent_at=None,
            confirmed_at=None,
            confirmed_ip=None,
        )
    _insert_consent_records(company_id, records, consent, now)
    if pending and (new_ids or rejoined_ids):
        services.enqueue_confirmations()  # one task sends them all
    return warnings


def contacts_bulk_list_unsubscribe(
    *, contact_list: ContactList, contact_ids: Iterable[int], consent: ConsentContext = NO_CONSENT
) -> None:
    """services.list_unsubscribe for many contacts: members leave the list (the membership stays,
    unsubscribed, with a consent record); contacts that are not members are left alone."""
    memberships = ListMembership.objects.filter(contact_list=contact_list).exclude(status=MembershipStatus.UNSUBSCRIBED)
    memberships = memberships.filter(_in("contact_id", set(contact_ids), "bigint[]"))
    leaving = sorted(memberships.values_list("contact_id", flat=True))
    if not leaving:
        return
    now = timezone.now()
    memberships.update(status=MembershipStatus.UNSUBSCRIBED, unsubscribed_at=now)
    records = [(contact_id, ConsentAction.UNSUBSCRIBED, contact_list.pk, "") for contact_id in leaving]
    _insert_consent_records(contact_list.company_id, records, consent, now)


@dataclass
class MemberAddResult:
    """One item of `contact_list_add_members`: what was given ({"contact_id": n} or {"email": ...}),
    the contact it is, and the membership's status after, or the item's errors."""

    given: dict[str, Any]
    contact_id: int | None
    status: str | None = None
    errors: dict[str, list[str]] | None = None
    warnings: list[str] = field(default_factory=list)


def contact_list_add_members(
    *, contact_list: ContactList, contact_ids: list[int], emails: list[str], consent: ConsentContext = NO_CONSENT
) -> list[MemberAddResult]:
    """Subscribe contacts to the list by id (contacts of the list's company, not erased) and by email
    (unknown addresses become new contacts), as contacts_bulk_list_subscribe does. One result per
    item, contact ids first, then emails, each in the order given."""
    company = contact_list.company
    # Each item is an (input, contact id or None, errors) triple until the subscription is done.
    items: list[tuple[dict, int | None, dict | None]] = []
    known = set(
        Contact.objects.for_company(company)
        .filter(pk__in=contact_ids, erased_at__isnull=True)  # an erased contact is unknown
        .values_list("pk", flat=True)
    )
    for contact_id in contact_ids:
        missing = None if contact_id in known else {"contact_ids": [f"No contact with id {contact_id}."]}
        items.append(({"contact_id": contact_id}, contact_id if missing is None else None, missing))
    upserted = contacts_bulk_upsert(company=company, items=[{"email": email} for email in emails], consent=consent)
    for email, result in zip(emails, upserted, strict=True):
        items.append(({"email": email}, result.contact_id, result.errors))

    added = {contact_id for _, contact_id, _ in items if contact_id is not None}
    with transaction.atomic():
        warnings = contacts_bulk_list_subscribe(contact_list=contact_list, contact_ids=added, consent=consent)
    statuses = membership_statuses(contact_list=contact_list, contact_ids=added)
    results = []
    for given, contact_id, errors in items:
        if errors:
            results.append(MemberAddResult(given, contact_id, errors=errors))
        else:
            results.append(
                MemberAddResult(given, contact_id, statuses[contact_id], warnings=warnings.get(contact_id, []))
            )
    return results


def _insert_memberships(contact_list: ContactList, contact_ids: list[int], status: str, now) -> list[int]:
    if not contact_ids:
        return []
    subscribed_at = now if status == MembershipStatus.SUBSCRIBED else None
    if connection.vendor == "postgresql":
        with binary_cursor() as cursor:
            cursor.execute(bulk_sql.INSERT_MEMBERSHIPS, [contact_list.pk, status, now, subscribed_at, contact_ids])
            return [pk for (pk,) in cursor.fetchall()]
    memberships = ListMembership.objects.bulk_create(
        [
            ListMembership(
                contact_list=contact_list,
                contact_id=contact_id,
                status=status,
                created_at=now,
                subscribed_at=subscribed_at,
            )
            for contact_id in contact_ids
        ]
    )
    return [membership.pk for membership in memberships]
