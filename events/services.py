"""Writes for events: `record_events`, the one way events are stored (API, webhook, import, SALESmanago API v3).

    from events.services import record_events
    results = record_events(company=company, items=[{"event_type": ..., "event_data": {...}}], source="webhook")

One call is one transaction with a bounded number of queries whatever the number of items: one
read of the idempotency keys already stored, one read of the contacts named, one bulk upsert of the
contacts to create (contacts.bulk), one multi-row INSERT ... ON CONFLICT DO NOTHING per 500 events
and one read of the keys a concurrent request stored meanwhile. Nothing slow runs here: after
commit, events.dispatch hands the new events' ids to one Celery task per batch.
"""

from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone
from psycopg.types.json import Jsonb

from contacts.bulk import contacts_bulk_upsert
from contacts.consent_policy import ConsentContext
from contacts.models import Contact
from salloq.core.db import one_round_trip, prepared_cursor
from salloq.core.models import Company

from . import dispatch
from .event_input import CleanEvent, EventInputError, clean_event, idempotency_key_problem
from .models import Event, EventSource

# One INSERT carries this many rows: 500 x 10 parameters stays under every database's limit.
INSERT_CHUNK = 500
MAX_BATCH = 1000
CREATED = 201
INVALID = 400
_COLUMNS = (
    "company_id",
    "contact_id",
    "event_type",
    "data",
    "value",
    "occurred_at",
    "received_at",
    "source",
    "idempotency_key",
    "dispatched_at",
)
# EventSource.values builds a new list on every read.
_SOURCES = frozenset(EventSource.values)


@dataclass
class EventResult:
    """What happened to one item. `status` is the HTTP status the item would have alone: 201 stored
    (a retry of a stored event also gets 201 with the same event_id, and duplicate=True), 400
    refused with `errors` keyed by field path ("event_data.total")."""

    index: int
    status: int
    event_id: int | None = None
    contact_id: int | None = None
    event_type: str | None = None
    duplicate: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def created(self) -> bool:
        return self.status == CREATED and not self.duplicate

    def answer(self) -> dict:
        """A stored event as POST /api/events (and a webhook carrying one event) answers it."""
        return {
            "event_id": self.event_id,
            "contact_id": self.contact_id,
            "event_type": self.event_type,
            "duplicate": self.duplicate,
        }

    def batch_item(self) -> dict:
        return {
            "index": self.index,
            "status": self.status,
            "event_id": self.event_id,
            "contact_id": self.contact_id,
            "duplicate": self.duplicate,
            **({"errors": self.errors} if self.errors else {}),
        }


def batch_answer(results: list[EventResult]) -> dict:
    """What POST /api/events/batch (and a webhook carrying a list) answers: one result per item, in
    order, and the counts."""
    return {
        "results": [result.batch_item() for result in results],
        "created": sum(result.created for result in results),
        "duplicates": sum(result.duplicate for result in results),
        "failed": sum(result.status != CREATED for result in results),
    }


def record_events(
    *,
    company: Company,
    items: list[Any],
    source: str = EventSource.API,
    idempotency_key: str | None = None,
    item_errors: dict[int, dict[str, list[str]]] | None = None,
    dispatch_after_commit: bool = True,
) -> list[EventResult]:
    """Validate and store `items` (each {"event_type", "event_data"} or SALESmanago API v3's {"contact", "event"});
    one EventResult per item, in order. A bad item never stops the others.

    - `source`: EventSource (api, webhook, import, external); a SALESmanago API v3 body is stored as external.
    - `idempotency_key`: the caller's key (Idempotency-Key header). With one item it is the item's
      key; with several, item i gets "<key>:<i>". Without it, an item's own "idempotency_key", then
      event_data.event_id, then the type's natural key (order_id, subscription_id) makes a retry
      count once: the retry gets the stored event's id, also when two copies race.
    - `item_errors`: problems found before (the API's parser), by item index.
    - `dispatch_after_commit`: False stores the events as already dispatched (history being
      imported must not start flows).

    Only `company.pk` is read. The contact is found by email, else customer_id (its external_id),
    and created when missing with the names the event carries (names it lacks are filled in, nothing else changes). A
    blacklisted or unsubscribed contact's events are stored and never change their status.
    """
    if source not in _SOURCES:
        raise ValueError(f"Unknown event source {source!r}")
    if idempotency_key is not None and idempotency_key_problem(idempotency_key):
        raise ValueError(idempotency_key_problem(idempotency_key))
    results: list[EventResult | None] = [None] * len(items)
    valid: list[tuple[int, CleanEvent]] = []
    for index, raw in enumerate(items):
        if item_errors and index in item_errors:
            results[index] = EventResult(index=index, status=INVALID, errors=item_errors[index])
            continue
        key = idempotency_key if len(items) == 1 or idempotency_key is None else f"{idempotency_key}:{index}"
        try:
            valid.append((index, clean_event(raw, idempotency_key=key)))
        except EventInputError as exc:
            results[index] = EventResult(index=index, status=INVALID, errors=exc.errors)
    if valid:
        new_ids = _store(company, valid, results, source, dispatch_after_commit)
        if new_ids and dispatch_after_commit:
            transaction.on_commit(lambda: dispatch.enqueue(new_ids))
    return results


def _store(
    company: Company,
    valid: list[tuple[int, CleanEvent]],
    results: list,
    source: str,
    dispatch_after_commit: bool,
) -> list[int]:
    # A batch's retries first: an item whose key is stored is answered from it without resolving its
    # contact. (A single event skips this round trip: INSERT ... ON CONFLICT finds its retry anyway.)
    keys = {event.idempotency_key for _, event in valid if event.idempotency_key}
    stored = _stored_keys(company, keys) if len(valid) > 1 else {}
    pending: list[tuple[int, CleanEvent]] = []
    first_of_key: dict[str, int] = {}
    repeats: list[tuple[int, str]] = []
    for index, event in valid:
        key = event.idempotency_key
        if key and key in stored:
            results[index] = _duplicate(index, stored[key])
        elif key and key in first_of_key:
            repeats.append((index, key))
        else:
            if key:
                first_of_key[key] = index
            pending.append((index, event))

    if len(pending) == 1 and connection.vendor == "postgresql":
        index, event = pending[0]
        stored_now = _known_contact_insert(company, event, source, timezone.now(), dispatch_after_commit)
        if stored_now is not None:
            results[index] = EventResult(index, CREATED, stored_now[0], stored_now[1], event.event_type)
            return [stored_now[0]]
    found, upserts = _find_contacts(company, pending)
    now = timezone.now()
    new_ids: list[int] = []
    lost: dict[str, int] = {}
    # One transaction when the call writes more than one statement: contacts to create, or several
    # INSERTs. A single INSERT (the usual event about a known contact) is a transaction by itself.
    writes = transaction.atomic() if upserts or len(pending) > INSERT_CHUNK else nullcontext()
    with writes:
        contact_ids = _create_contacts(company, pending, found, upserts, results)
        rows = [(index, event) for index, event in pending if results[index] is None]
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = rows[start : start + INSERT_CHUNK]
            inserted = _insert(company, chunk, contact_ids, source, now, dispatch_after_commit)
            keyless = iter(inserted[None])
            for index, event in chunk:
                key = event.idempotency_key
                event_id = inserted.get(key) if key else next(keyless)
                if event_id is None:
                    lost[key] = index  # stored before (a retry) or by a concurrent request meanwhile
                    continue
                new_ids.append(event_id)
                results[index] = EventResult(index, CREATED, event_id, contact_ids[index], event.event_type)
    if lost:
        winners = _stored_keys(company, set(lost))
        for key, index in lost.items():
            results[index] = _duplicate(index, winners[key])
    for index, key in repeats:
        first = results[first_of_key[key]]
        if first.status == CREATED:
            results[index] = EventResult(
                index, CREATED, first.event_id, first.contact_id, first.event_type, duplicate=True
            )
        else:
            results[index] = EventResult(index, first.status, errors=first.errors)
    return new_ids


def _duplicate(index: int, stored: tuple[int, int | None, str]) -> "EventResult":
    event_id, contact_id, event_type = stored
    return EventResult(index, CREATED, event_id, contact_id, event_type, duplicate=True)


def _stored_keys(company: Company, keys: set[str]) -> dict[str, tuple[int, int | None, str]]:
    if not keys:
        return {}
    rows = Event.objects.for_company(company).filter(idempotency_key__in=keys).order_by()
    return {row[0]: row[1:] for row in rows.values_list("idempotency_key", "pk", "contact_id", "event_type")}


def _identity(event: CleanEvent) -> tuple[str, str]:
    return ("email", event.email) if event.email else ("external_id", event.customer_id)


def _find_contacts(company: Company, pending: list[tuple[int, CleanEvent]]) -> tuple[dict[int, int], dict]:
    """Each pending item's known contact (by email, else customer_id), and what to upsert: one entry
    per contact to create, and names a known contact lacks. One query."""
    if not pending:
        return {}, {}
    emails = {event.email for _, event in pending if event.email}
    external_ids = {event.customer_id for _, event in pending if event.customer_id}
    known = (
        Contact.objects.for_company(company)
        .filter(erased_at__isnull=True)
        .filter(Q(email__in=emails) | Q(external_id__in=external_ids))
        .order_by()
        .values_list("pk", "email", "external_id", "first_name", "last_name")
    )
    by_email: dict[str, tuple] = {}
    by_external_id: dict[str, tuple] = {}
    for row in known:
        if row[1]:
            by_email[row[1]] = row
        if row[2]:
            by_external_id[row[2]] = row

    # What to upsert, one entry per contact: new contacts, and names a known contact lacks.
    upserts: dict[tuple[str, str], dict] = {}
    found: dict[int, int] = {}
    for index, event in pending:
        row = (by_email.get(event.email) if event.email else None) or by_external_id.get(event.customer_id or "")
        if row is not None:
            found[index] = row[0]
            names = {
                name: given
                for name, given, current in (
                    ("first_name", event.first_name, row[3]),
                    ("last_name", event.last_name, row[4]),
                )
                if given and not current
            }
            if names:
                identity = ("email", row[1]) if row[1] else ("external_id", row[2])
                upserts.setdefault(identity, {identity[0]: identity[1]}).update(names)
            continue
        identity = _identity(event)
        item = upserts.setdefault(identity, {identity[0]: identity[1]})
        if event.email and event.customer_id and "external_id" not in item:
            item["external_id"] = event.customer_id
        for name in ("first_name", "last_name"):
            if getattr(event, name) and name not in item:
                item[name] = getattr(event, name)
    return found, upserts


def _create_contacts(
    company: Company, pending: list[tuple[int, CleanEvent]], found: dict[int, int], upserts: dict, results: list
) -> dict[int, int]:
    """Each pending item's contact id, the missing contacts created (contacts.bulk, one call)."""
    written: dict[tuple[str, str], Any] = {}
    if upserts:
        identities = list(upserts)
        bulk = contacts_bulk_upsert(
            company=company,
            items=[upserts[identity] for identity in identities],
            consent=ConsentContext(source="event"),
        )
        written = dict(zip(identities, bulk, strict=True))
    contact_ids: dict[int, int] = {}
    for index, event in pending:
        if index in found:
            contact_ids[index] = found[index]
            continue
        outcome = written[_identity(event)]
        if outcome.contact_id is None:
            errors = {f"event_data.{name}": messages for name, messages in (outcome.errors or {}).items()}
            results[index] = EventResult(index, INVALID, errors=errors or {"event_data": ["Contact not saved."]})
        else:
            contact_ids[index] = outcome.contact_id
    return contact_ids


def _row(company: Company, contact_id: int | None, event: CleanEvent, source: str, now, dispatch: bool) -> list:
    """An event's _COLUMNS values, as the database takes them."""
    values = (
        company.pk,
        contact_id,
        event.event_type,
        event.data,
        event.value,
        event.occurred_at,
        now,
        _source(event, source),
        event.idempotency_key,
        None if dispatch else now,
    )
    return [column.get_db_prep_save(value, connection) for column, value in zip(_fields(), values, strict=True)]


def _source(event: CleanEvent, source: str) -> str:
    return EventSource.EXTERNAL if event.external and source == EventSource.API else source


@cache
def _fields() -> list:
    return [Event._meta.get_field(name.removesuffix("_id") if name.endswith("_id") else name) for name in _COLUMNS]


def _known_contact_insert(
    company: Company, event: CleanEvent, source: str, now, dispatch_after_commit: bool
) -> tuple[int, int] | None:
    """The usual single event, about a known contact that lacks none of the names it carries, in
    one statement on PostgreSQL: (event id, contact id), or None when the general path must decide
    (an unknown contact, names to fill in, a retry).

    The statement's text never changes and its values travel apart from it, so the connection
    prepares it (DB_PREPARED_STATEMENTS) and PostgreSQL plans it once per connection:
    planning it cost more than running it (bench/README.md, events_ingest.py)."""
    values = (
        company.pk,
        event.event_type,
        _jsonb(event),
        event.value,
        event.occurred_at,
        now,
        _source(event, source),
        event.idempotency_key,
        None if dispatch_after_commit else now,
    )
    email = event.email or None
    params = [company.pk, email, company.pk, event.customer_id, *values, bool(event.first_name), bool(event.last_name)]
    # The wrapper itself, not the `connection` proxy: each attribute read through the proxy looks
    # the connection up again (a few microseconds, a dozen times here).
    database = connections[DEFAULT_DB_ALIAS]
    with prepared_cursor(database) as cursor:
        with one_round_trip(database):
            cursor.execute(_known_contact_sql(), params)
        stored = cursor.fetchone()
    return (stored[0], stored[1]) if stored else None


def _jsonb(event: CleanEvent) -> Jsonb:
    """event.data for psycopg: the JSON text clean_event wrote for its size check when it is ASCII
    (O(1) to know; other text could hold a lone surrogate, which the usual dump escapes), rather
    than a second dump of the same data."""
    text = event.data_json
    if text is not None and text.isascii():
        return Jsonb(event.data, dumps=lambda _data: text)
    return Jsonb(event.data)


@cache
def _known_contact_sql() -> str:
    # The contact by email, else by customer_id: two unique-index lookups, the second run only when
    # the first finds nobody. `email <> ''` repeats the email index's condition, which a prepared
    # (generic) plan cannot infer from `email = <parameter>`: without it, it scans the company's
    # contacts. Every value is a parameter, cast to its column's type (a value bound apart has no
    # type of its own when it is null); only fixed table and column names are formatted in.
    casts = [f"%s::{field.cast_db_type(connection)}" for field in _fields() if field.name != "contact"]
    columns = [name for name in _COLUMNS if name != "contact_id"]
    contacts = Contact._meta.db_table
    return f"""
        WITH found AS (
            (SELECT id, first_name, last_name FROM {contacts}
             WHERE company_id = %s AND email = %s AND email <> '' AND erased_at IS NULL LIMIT 1)
            UNION ALL
            (SELECT id, first_name, last_name FROM {contacts}
             WHERE company_id = %s AND external_id = %s AND erased_at IS NULL LIMIT 1)
            LIMIT 1
        ), stored AS (
            INSERT INTO {Event._meta.db_table} (contact_id, {", ".join(columns)})
            SELECT found.id, {", ".join(casts)} FROM found
            WHERE NOT (%s::boolean AND found.first_name = '') AND NOT (%s::boolean AND found.last_name = '')
            ON CONFLICT (company_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
            RETURNING id, contact_id
        )
        SELECT id, contact_id FROM stored
    """  # noqa: S608


def _insert(
    company: Company,
    chunk: list[tuple[int, CleanEvent]],
    contact_ids: dict[int, int],
    source: str,
    now,
    dispatch_after_commit: bool,
) -> dict:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id, key: {key: id} for the keyed rows stored,
    and under None the ids of the keyless rows in insertion order (they never conflict)."""
    params: list = []
    for index, event in chunk:
        params += _row(company, contact_ids[index], event, source, now, dispatch_after_commit)
    table = connection.ops.quote_name(Event._meta.db_table)
    placeholders = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    # Only the table name and fixed column names are formatted in; every value is a parameter.
    values_sql = ", ".join([placeholders] * len(chunk))
    sql = (
        f"INSERT INTO {table} ({', '.join(_COLUMNS)}) VALUES {values_sql} "  # noqa: S608
        "ON CONFLICT (company_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING "
        "RETURNING id, idempotency_key"
    )
    inserted: dict = {None: []}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        for event_id, key in cursor.fetchall():
            if key is None:
                inserted[None].append(event_id)
            else:
                inserted[key] = event_id
    if connection.vendor == "sqlite":
        # SQLite returns RETURNING rows in no promised order: keyless ids ascend with insertion.
        inserted[None].sort()
    return inserted


# What an erased contact's events keep (contacts.services.contact_erase): the commerce facts that
# segments, revenue and orders count, never who the person was. Everything else in event_data goes:
# email, names, customer_id, and any field of a custom or external event (details, parameters...),
# which may hold anything.
ERASE_KEPT_FIELDS = frozenset(
    ("order_id", "product_id", "subscription_id", "event_id", "product_name", "plan")
    + ("total", "cart_total", "value", "currency", "items")
)
ERASE_KEPT_ITEM_FIELDS = frozenset(("product_id", "name", "price", "quantity", "sku"))
ERASE_BATCH = 1000


def _kept_after_erase(data: Any) -> dict:
    if not isinstance(data, dict):
        return {}
    kept = {name: value for name, value in data.items() if name in ERASE_KEPT_FIELDS and name != "items"}
    if isinstance(data.get("items"), list):
        kept["items"] = [
            {name: value for name, value in item.items() if name in ERASE_KEPT_ITEM_FIELDS}
            for item in data["items"]
            if isinstance(item, dict)
        ]
    return kept


def forget_erased_contact(*, contact, **_signal) -> int:
    """The contacts' erase (contacts.signals.contact_erased, inside its transaction): the contact's
    events stay, linked and countable (type, time, value), but their data keeps only
    ERASE_KEPT_FIELDS. The one change ever made to stored events. Returns how many changed."""
    changed: list[Event] = []
    count = 0
    for event in Event.objects.filter(contact=contact).only("pk", "data").order_by("pk").iterator(ERASE_BATCH):
        kept = _kept_after_erase(event.data)
        if kept != event.data:
            event.data = kept
            changed.append(event)
        if len(changed) == ERASE_BATCH:
            count += Event.objects.bulk_update(changed, ["data"])
            changed = []
    if changed:
        count += Event.objects.bulk_update(changed, ["data"])
    return count
