"""Set-based writes for many contacts at once: the bulk API endpoint and the CSV import.

`contacts_bulk_upsert` keeps `services.contact_upsert`'s rules item for item (identify by
external_id else email, normalize, merge tags and properties, typed custom fields, no
re-subscription without fresh consent, consent records for new contacts) but costs a constant
number of queries per batch instead of a dozen per contact:

1. every item is validated and normalized in Python; a bad item gets its own errors and is left out;
2. one SELECT loads the batch's existing contacts (by email and external_id), one the suppressions;
3. the items are applied in order to in-memory contacts, so a later item in the batch sees what an
   earlier one did (same email twice: the second updates the contact the first created);
4. one UPDATE of the changed contacts, one INSERT of the new ones (tags are on the contact's row),
   then one INSERT each for custom field values and consent records: on PostgreSQL single
   statements over array parameters, elsewhere (SQLite) Django's bulk operations.

Concurrency: a unique violation (another request inserted one of the batch's new contacts
meanwhile) rolls the batch back to its savepoint and runs it again, now finding that contact;
past three tries the items go one at a time, so only a truly conflicting item fails.
"""

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import BooleanField, Q
from django.db.models.expressions import RawSQL
from django.utils import timezone

from salloq.core.models import Company

from . import services
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
from .services import CONTACT_ATTRIBUTES, NO_CONSENT, ConsentContext
from .tags import merge_tags

# Columns a bulk update writes; compared before and after so unchanged contacts are not rewritten.
UPDATED_COLUMNS = (*CONTACT_ATTRIBUTES, "properties", "tags", "erased_at")
FIELD_VALUE_COLUMNS = ["text_value", "number_value", "date_value", "bool_value"]
# A unique violation means another transaction inserted one of our new contacts meanwhile;
# re-reading the batch picks their row up. Past this many tries, items go one at a time.
BATCH_ATTEMPTS = 3
CONFLICT_MESSAGE = "Another contact of this company already has this email or external_id."


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


@dataclass
class _Batch:
    """What applying the items in memory produced, for the bulk writes."""

    results: list[tuple[_Item, "_Row", bool, list[str]]] = field(default_factory=list)
    new_rows: list["_Row"] = field(default_factory=list)
    touched: dict[int, "_Row"] = field(default_factory=dict)
    field_values: dict[tuple[int, int], tuple["_Row", CustomField, dict]] = field(default_factory=dict)
    records: list[tuple["_Row", str]] = field(default_factory=list)
    unsuppress: set[str] = field(default_factory=set)
    errors: dict[int, dict[str, list[str]]] = field(default_factory=dict)


def contacts_bulk_upsert(
    *, company: Company, items: list[dict], consent: ConsentContext = NO_CONSENT
) -> list[BulkItemResult]:
    """Upsert `items` (contact_upsert's input, one dict each); one result per item, in order.

    A bad item gets status "error" with `errors` naming each field at fault and never stops the
    others. Items are applied in order: an item whose email or external_id matches an earlier
    item's contact updates that contact ("updated", same contact_id).
    """
    results: dict[int, BulkItemResult] = {}
    fields = _custom_fields(company) if any(isinstance(i, dict) and i.get("fields") is not None for i in items) else {}
    valid: list[_Item] = []
    for index, raw in enumerate(items):
        prepared = _prepare(index, raw, fields)
        if isinstance(prepared, _Item):
            valid.append(prepared)
        else:
            results[index] = BulkItemResult(index=index, status="error", errors=prepared)

    written = None
    for _attempt in range(BATCH_ATTEMPTS):
        try:
            with transaction.atomic():
                written = _write(company, valid, consent)
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
                    written += _write(company, [item], consent)
            except IntegrityError:
                written.append(BulkItemResult(index=item.index, status="error", errors={"email": [CONFLICT_MESSAGE]}))
    for result in written:
        results[result.index] = result
    return [results[index] for index in range(len(items))]


# --- Validation -------------------------------------------------------------------------


def _custom_fields(company: Company) -> dict[str, CustomField]:
    """The company's fields by id (as a string) and by name, as `fields` items may refer to either."""
    by_ref: dict[str, CustomField] = {}
    for custom_field in CustomField.objects.for_company(company):
        by_ref[f"id:{custom_field.pk}"] = custom_field
        by_ref[f"name:{custom_field.name}"] = custom_field
    return by_ref


def _add_errors(errors: dict[str, list[str]], exc: ValidationError) -> None:
    for name, messages in exc.message_dict.items():
        errors.setdefault(name, []).extend(messages)


# A strict subset of the addresses Django's EmailValidator accepts (dot-atom local part, LDH
# labels, letter TLD): what matches needs no further check. The validator's IDN and literal
# handling costs more than all the rest of an item; it still judges everything else.
_PLAIN_EMAIL = re.compile(r"[a-z0-9_+-]+(?:\.[a-z0-9_+-]+)*@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_EMAIL_MAX_LENGTH = Contact._meta.get_field("email").max_length


def _clean_attributes(raw: dict) -> dict:
    """services._clean_attributes, with plain email addresses taken without the full validator."""
    email = raw.get("email")
    if isinstance(email, str):
        email = email.strip().lower()
        if len(email) <= _EMAIL_MAX_LENGTH and _PLAIN_EMAIL.fullmatch(email):
            cleaned = services._clean_attributes({name: raw[name] for name in CONTACT_ATTRIBUTES[1:] if name in raw})
            cleaned["email"] = email
            return cleaned
    return services._clean_attributes(raw)


def _prepare(index: int, raw: Any, fields: dict[str, CustomField]) -> _Item | dict[str, list[str]]:
    """The cleaned item, or its errors by field: every field at fault, not just the first."""
    if not isinstance(raw, dict):
        return {"non_field_errors": ["Each item must be an object of contact attributes."]}
    errors: dict[str, list[str]] = {}
    try:
        attributes = _clean_attributes(raw)
    except ValidationError:
        # Attribute by attribute, to report every one at fault rather than the first.
        attributes = {}
        for name in CONTACT_ATTRIBUTES:
            if name in raw:
                try:
                    attributes.update(_clean_attributes({name: raw[name]}))
                except ValidationError as exc:
                    _add_errors(errors, exc)
    identifiers = ("email", "external_id", "phone")
    if not any(attributes.get(name) for name in identifiers) and not any(name in errors for name in identifiers):
        errors["email"] = ["A contact needs an email, an external_id or a phone."]
    tags: list[str] = []
    try:
        tags = services.normalize_tags(raw.get("tags"))
    except ValidationError as exc:
        _add_errors(errors, exc)
    properties = raw.get("properties")
    if properties is not None and not isinstance(properties, dict):
        errors["properties"] = ["Properties must be an object of keys and values."]
    elif properties and _contains_nul(properties):  # PostgreSQL's jsonb refuses NUL (a 500)
        errors["properties"] = [services.NUL_MESSAGE]
    field_values: list[tuple[CustomField, dict]] = []
    if raw.get("fields") is not None:
        try:
            refs = services._field_items(raw["fields"])
        except ValidationError as exc:
            _add_errors(errors, exc)
            refs = []
        for ref, value in refs:
            key = f"id:{ref['id']}" if "id" in ref else f"name:{ref.get('name')}"
            custom_field = fields.get(key)
            if custom_field is None:
                errors.setdefault("fields", []).append(f"No custom field {ref}. Define it first (GET /api/fields).")
                continue
            try:
                field_values.append((custom_field, services.coerce_field_value(custom_field, value)))
            except ValidationError as exc:
                _add_errors(errors, exc)
    if errors:
        return errors
    return _Item(
        index=index,
        attributes=attributes,
        status=attributes.pop("status", None),
        tags=tags,
        properties=properties or None,
        field_values=field_values,
    )


def _contains_nul(value) -> bool:
    """Whether a NUL character is anywhere in the JSON value, keys included."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any("\x00" in str(key) or _contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


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
        self.properties = {} if properties is None else properties
        self.tags = [] if tags is None else tags
        self.erased_at = erased_at

    def snapshot(self) -> tuple:
        return (
            self.email,
            self.external_id,
            self.phone,
            self.first_name,
            self.last_name,
            self.lang,
            self.source,
            self.status,
            self.properties,
            self.tags,
            self.erased_at,
        )


def _write(company: Company, items: list[_Item], consent: ConsentContext) -> list[BulkItemResult]:
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
        _apply(item, consent, batch, by_email, by_external_id, suppressed)

    changed = [row for pk, row in batch.touched.items() if row.snapshot() != before[pk]]
    # The same insert order in every batch keeps two concurrent batches from deadlocking on each
    # other's half-inserted unique keys.
    batch.new_rows.sort(key=lambda row: (row.email, row.external_id or ""))
    save = _save_postgresql if connection.vendor == "postgresql" else _save_orm
    save(company, batch, changed, consent, timezone.now())
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


def _save_orm(company: Company, batch: _Batch, changed: list[_Row], consent: ConsentContext, now) -> None:
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
    _insert_consent_records(company.pk, [(row.pk, action, None, "") for row, action in batch.records], consent, now)


def _columns(rows: list, names) -> list[list]:
    """Column-wise lists of the rows' values: one array parameter per column."""
    return [[getattr(row, name) for row in rows] for name in names]


# The PostgreSQL statements send their parameters in binary, apart from the statement (%b;
# _binary_cursor).
#
# The lookups. The unique indexes on email and external_id are partial (WHERE email <> '', WHERE external_id IS
# NOT NULL); a lookup must repeat their conditions, or the planner cannot use them. Each value
# probes its index once, in a LATERAL subquery: `email = ANY(...) OR external_id = ANY(...)` is
# priced as a thousand random probes and planned as a scan of all the company's contacts (a third
# of an update batch's time at 100,000 contacts), and a plain join is hash-joined against all of
# them whenever the statistics say the company is small (every batch of a first import).
# The rows found are locked (FOR NO KEY UPDATE, what the UPDATE takes anyway, so foreign keys to
# them do not wait): properties and tags are merged in Python, and a concurrent batch holding
# the same contact must wait and read the merged row, not overwrite it. Locking in id order
# keeps two batches from deadlocking on each other's rows.
# Columns in UPDATED_COLUMNS order, as _Row takes them.
_LOOKUP_CONTACTS = """
SELECT c.id, c.email, c.external_id, c.phone, c.first_name, c.last_name, c.lang, c.source, c.status, c.properties,
    c.tags, c.erased_at
FROM contacts_contact AS c
WHERE c.id IN (
    SELECT m.id FROM UNNEST(%b::varchar[]) AS v(email) CROSS JOIN LATERAL (
        SELECT id FROM contacts_contact WHERE company_id = %b AND email = v.email AND email <> '' LIMIT 1
    ) AS m
    UNION ALL
    SELECT m.id FROM UNNEST(%b::varchar[]) AS v(external_id) CROSS JOIN LATERAL (
        SELECT id FROM contacts_contact
        WHERE company_id = %b AND external_id = v.external_id AND external_id IS NOT NULL LIMIT 1
    ) AS m
)
ORDER BY c.id
FOR NO KEY UPDATE OF c
"""
_LOOKUP_SUPPRESSIONS = "SELECT email FROM contacts_suppression WHERE company_id = %b AND email = ANY(%b::varchar[])"
# The writes: one statement per table, every row's values in array parameters.
_UPDATE_CONTACTS = """
UPDATE contacts_contact AS c SET email = v.email, external_id = v.external_id, phone = v.phone,
    first_name = v.first_name, last_name = v.last_name, lang = v.lang, source = v.source, status = v.status,
    properties = v.properties::jsonb, tags = v.tags::jsonb, erased_at = v.erased_at, updated_at = %b
FROM UNNEST(%b::bigint[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[],
    %b::varchar[], %b::varchar[], %b::text[], %b::text[], %b::timestamptz[])
    AS v(id, email, external_id, phone, first_name, last_name, lang, source, status, properties, tags, erased_at)
WHERE c.id = v.id AND c.company_id = %b
"""
_INSERT_CONTACTS = """
INSERT INTO contacts_contact (company_id, email, external_id, phone, first_name, last_name, lang, source, status,
    properties, tags, created_at, updated_at)
SELECT %b, v.email, v.external_id, v.phone, v.first_name, v.last_name, v.lang, v.source, v.status,
    v.properties::jsonb, v.tags::jsonb, %b, %b
FROM UNNEST(%b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[], %b::varchar[],
    %b::varchar[], %b::text[], %b::text[]) WITH ORDINALITY
    AS v(email, external_id, phone, first_name, last_name, lang, source, status, properties, tags, n)
ORDER BY v.n
RETURNING id
"""
_UPSERT_FIELD_VALUES = """
INSERT INTO contacts_customfieldvalue (contact_id, field_id, text_value, number_value, date_value, bool_value)
SELECT * FROM UNNEST(%b::bigint[], %b::bigint[], %b::text[], %b::numeric[], %b::date[], %b::boolean[])
ON CONFLICT (contact_id, field_id) DO UPDATE SET text_value = EXCLUDED.text_value,
    number_value = EXCLUDED.number_value, date_value = EXCLUDED.date_value, bool_value = EXCLUDED.bool_value
"""
_INSERT_CONSENT_RECORDS = """
INSERT INTO contacts_consentrecord (company_id, contact_id, action, contact_list_id, source, ip_address, user_agent,
    note, created_at)
SELECT %b, v.contact_id, v.action, v.contact_list_id, %b, %b::inet, %b, v.note, %b
FROM UNNEST(%b::bigint[], %b::varchar[], %b::bigint[], %b::varchar[]) WITH ORDINALITY
    AS v(contact_id, action, contact_list_id, note, n)
ORDER BY v.n
"""
_INSERT_MEMBERSHIPS = """
INSERT INTO contacts_listmembership (contact_list_id, contact_id, status, created_at, subscribed_at)
SELECT %b, v.contact_id, %b, %b, %b FROM UNNEST(%b::bigint[]) WITH ORDINALITY AS v(contact_id, n)
ORDER BY v.n
RETURNING id
"""


def _save_postgresql(company: Company, batch: _Batch, changed: list[_Row], consent: ConsentContext, now) -> None:
    """The same writes as _save_orm in one statement per table: Django's bulk_update builds a CASE
    per row and column, which costs many times what the rows themselves do."""

    def properties(rows: list[_Row]) -> list[str]:
        return [json.dumps(row.properties, cls=DjangoJSONEncoder) for row in rows]

    def tags(rows: list[_Row]) -> list[str]:
        return [json.dumps(row.tags) for row in rows]

    with _binary_cursor() as cursor:
        if changed:
            cursor.execute(
                _UPDATE_CONTACTS,
                [
                    now,
                    [row.pk for row in changed],
                    *_columns(changed, CONTACT_ATTRIBUTES),
                    properties(changed),
                    tags(changed),
                    [row.erased_at for row in changed],
                    company.pk,
                ],
            )
        if batch.new_rows:
            rows = batch.new_rows
            cursor.execute(
                _INSERT_CONTACTS,
                [company.pk, now, now, *_columns(rows, CONTACT_ATTRIBUTES), properties(rows), tags(rows)],
            )
            # Rows come back in the order inserted, as Django's own bulk_create relies on.
            for row, (pk,) in zip(rows, cursor.fetchall(), strict=True):
                row.pk = pk
        if batch.field_values:
            values = list(batch.field_values.values())
            cursor.execute(
                _UPSERT_FIELD_VALUES,
                [
                    [row.pk for row, _, _ in values],
                    [custom_field.pk for _, custom_field, _ in values],
                    *[[columns[name] for _, _, columns in values] for name in FIELD_VALUE_COLUMNS],
                ],
            )
    _insert_consent_records(company.pk, [(row.pk, action, None, "") for row, action in batch.records], consent, now)


def _binary_cursor():
    """A cursor on Django's PostgreSQL connection (same transaction, same query logging) that sends
    parameters apart from the statement and, where the statement says %b, in binary.

    Django's own cursors bind on the client: every value of a 1000-row array is quoted into the
    SQL text, element by element, through a regular expression. For a batch that quoting cost
    more Python time than all the rest of the batch's writes (bench/README.md); binary arrays
    cost a fraction of it and PostgreSQL does not have to parse them either.
    """
    connection.ensure_connection()
    return connection._prepare_cursor(psycopg.Cursor(connection.connection))


def _existing_rows(company: Company, emails: set[str], external_ids: set[str]) -> list[_Row]:
    """The company's contacts that have one of `emails` or `external_ids`."""
    if not emails and not external_ids:
        return []
    if connection.vendor == "postgresql":
        with _binary_cursor() as cursor:
            cursor.execute(_LOOKUP_CONTACTS, [list(emails), company.pk, list(external_ids), company.pk])
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
        with _binary_cursor() as cursor:
            cursor.execute(_LOOKUP_SUPPRESSIONS, [company.pk, list(emails)])
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
    consent: ConsentContext,
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
    else:
        if contact.pk is not None:
            batch.touched[contact.pk] = contact
        if contact.erased_at is not None:
            contact.erased_at = None  # the person came back: a new relationship on the anonymized row

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

    warnings = _apply_status(contact, item.status, consent, batch, suppressed, created=created)
    for custom_field, columns in item.field_values:
        batch.field_values[(id(contact), custom_field.pk)] = (contact, custom_field, columns)
    if created and contact.status == ContactStatus.SUBSCRIBED:
        batch.records.append((contact, ConsentAction.SUBSCRIBED))
    batch.results.append((item, contact, created, warnings))


def _reindex(index: dict[str, _Row], old: str | None, new: str | None, contact: _Row) -> None:
    if old and index.get(old) is contact:
        del index[old]
    if new:
        index[new] = contact


def _apply_status(
    contact: _Row, requested: str | None, consent: ConsentContext, batch: _Batch, suppressed: set[str], *, created
) -> list[str]:
    """services.decide_status, with the consent records and suppression removals collected."""
    is_suppressed = bool(contact.email) and contact.email in suppressed
    change = services.decide_status(
        current=contact.status, requested=requested, suppressed=is_suppressed, fresh=consent.fresh, created=created
    )
    contact.status = change.status
    if change.lift_suppression:
        suppressed.discard(contact.email)
        batch.unsuppress.add(contact.email)
        batch.records.append((contact, ConsentAction.UNBLACKLISTED))
    batch.records.extend((contact, action) for action in change.actions)
    return [change.warning] if change.warning else []


def _insert_consent_records(
    company_id: int, records: list[tuple[int, str, int | None, str]], consent: ConsentContext, now
) -> None:
    """One consent record per (contact id, action, list id, note), in order, all from `consent`."""
    if not records:
        return
    if connection.vendor == "postgresql":
        columns = list(zip(*records, strict=True))
        with _binary_cursor() as cursor:
            cursor.execute(
                _INSERT_CONSENT_RECORDS,
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


def contacts_bulk_list_subscribe(
    *, contact_list: ContactList, contact_ids: Iterable[int], consent: ConsentContext = NO_CONSENT
) -> dict[int, list[str]]:
    """services.list_subscribe for many contacts of the list's company, in a few queries.

    New members are subscribed (pending, with a confirmation email, on a double opt-in list);
    members who left the list stay out without fresh consent. Returns warnings by contact id.
    """
    company_id = contact_list.company_id
    contacts = Contact.objects.for_company(company_id).filter(_in("id", set(contact_ids), "bigint[]"))
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
        services._enqueue_confirmation()  # one task sends them all
    return warnings


def _insert_memberships(contact_list: ContactList, contact_ids: list[int], status: str, now) -> list[int]:
    if not contact_ids:
        return []
    subscribed_at = now if status == MembershipStatus.SUBSCRIBED else None
    if connection.vendor == "postgresql":
        with _binary_cursor() as cursor:
            cursor.execute(_INSERT_MEMBERSHIPS, [contact_list.pk, status, now, subscribed_at, contact_ids])
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
