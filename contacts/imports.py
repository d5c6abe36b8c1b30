"""CSV import and export of contacts.

Import: `contact_import_create` checks the file's header and the column mapping, stores the file
and enqueues the `run_contact_import` task on commit; the upload request does nothing more, so any
size imports without timing it out. `contact_import_run` (the task's body, also run inline by
`manage.py import_contacts`) streams the file in chunks through `bulk.contacts_bulk_upsert`.
Each chunk commits together with the progress counters, so a run that dies resumes after the
last committed chunk. Per-row errors: the first 1000 in `ContactImport.errors`, all of them in a
CSV error report beside the upload. Export is exports.py.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain, islice
from pathlib import Path

from celery import current_app
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from salloq.core.models import Company

from .bulk import contacts_bulk_list_subscribe, contacts_bulk_upsert
from .consent_policy import ConsentContext
from .contact_input import ATTRIBUTE_LABELS, CONTACT_ATTRIBUTES, IDENTIFIERS, normalize_tags
from .exports import safe_cell
from .models import (
    ContactImport,
    ContactList,
    CustomField,
    ImportStatus,
)

# Enqueued by name, not imported: contacts.tasks imports this module (apps.py loads the tasks).
IMPORT_TASK = "contacts.tasks.run_contact_import"
CHUNK_SIZE = 1000
STORED_ERRORS = 1000
# Enough of the file to read the header and a few rows, and to tell a CSV from anything else.
SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
TARGET_LABELS = {
    **{name: ATTRIBUTE_LABELS[name] for name in CONTACT_ATTRIBUTES},
    "tags": "Tags (separated by | or ,)",
}
ERROR_REPORT_COLUMNS = ["row", "column", "field", "message"]
NOT_UTF8 = "The file is not UTF-8 text: save it as “CSV UTF-8” and upload it again."


class ImportAborted(Exception):
    """The file turned out unreadable part-way (bad encoding, broken CSV): the import fails."""


# --- Reading CSV files ------------------------------------------------------------------------


@dataclass
class CsvPreview:
    header: list[str]
    rows: list[list[str]]
    delimiter: str


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter the header line uses most (comma, semicolon or tab); a comma for one column.
    The header alone decides: data cells (addresses, notes) hold stray commas far more often."""
    counts = {delimiter: header_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def _clean_header(cells: list[str]) -> list[str]:
    header = [cell.strip() for cell in cells]
    if not any(header):
        raise ValidationError({"file": "The first line must be a header naming the columns."})
    seen = set()
    for name in header:
        if name and name in seen:
            raise ValidationError({"file": f"The column '{name}' appears twice in the header; rename one."})
        seen.add(name)
    return header


def csv_preview(file, rows: int = 5) -> CsvPreview:
    """Header, first rows and delimiter of an uploaded CSV; ValidationError on "file" if it is not one."""
    file.seek(0)
    raw = file.read(SAMPLE_BYTES)
    file.seek(0)
    whole = len(raw) < SAMPLE_BYTES
    try:
        text = codecs.getincrementaldecoder("utf-8-sig")().decode(raw, final=whole)
    except UnicodeDecodeError:
        raise ValidationError({"file": NOT_UTF8}) from None
    if not whole:
        text = text[: text.rfind("\n") + 1] or text  # whole lines only
    if not text.strip():
        raise ValidationError({"file": "The file is empty."})
    delimiter = _sniff_delimiter(text.lstrip("\r\n").split("\n", 1)[0])
    try:
        records = (record for record in csv.reader(io.StringIO(text), delimiter=delimiter) if record)
        header = _clean_header(next(records))
        sample = list(islice(records, rows))
    except csv.Error as exc:
        raise ValidationError({"file": f"The file is not a readable CSV: {exc}."}) from None
    return CsvPreview(header=header, rows=sample, delimiter=delimiter)


def _records(binary) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of every non-blank record, the header first; row numbers count every
    record, blank ones too, the way a spreadsheet numbers its rows (the header is row 1).
    Bad bytes or broken CSV part-way abort the import."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    number = leading_blanks = 0
    try:
        first = text.readline()
        while first and not first.strip():
            leading_blanks += 1
            first = text.readline()
        reader = csv.reader(chain([first], text), delimiter=_sniff_delimiter(first.strip("\r\n")))
        for number, record in enumerate(reader, start=leading_blanks + 1):
            if record:
                yield number, record
    except UnicodeDecodeError:
        raise ImportAborted(f"{NOT_UTF8} (after row {number})") from None
    except csv.Error as exc:
        raise ImportAborted(f"Row {number + 1} is not readable CSV: {exc}.") from None
    finally:
        text.detach()


# --- Mapping --------------------------------------------------------------------------------


def _normalized(name: str) -> str:
    """ "Prénom", "E-mail", "first_name" -> "prenom", "email", "firstname"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", ascii_name.lower())


HEADER_GUESSES = {
    "email": {"email", "emailaddress", "mail", "courriel", "emailadresse"},
    "external_id": {"externalid", "customerid", "clientid", "customernumber", "userid"},
    "phone": {"phone", "phonenumber", "mobile", "mobilephone", "cellphone", "telephone", "tel"},
    "first_name": {"firstname", "first", "givenname", "forename", "prenom"},
    "last_name": {"lastname", "last", "surname", "familyname", "nom"},
    "lang": {"lang", "language", "locale"},
    "source": {"source", "origin"},
    "status": {"status", "subscriptionstatus"},
    "tags": {"tags", "tag", "labels", "segments"},
}


def guess_mapping(header: list[str], custom_fields: Iterable[CustomField]) -> dict[str, str]:
    """A first mapping from the header names: known spellings of attributes, then custom field
    names; everything else is skipped until the user picks a target."""
    fields = {_normalized(f.name): f.name for f in custom_fields}
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for column in header:
        if not column:
            continue
        key = _normalized(column)
        target = next((t for t, names in HEADER_GUESSES.items() if key in names), "")
        if not target and key in fields:
            target = f"field:{fields[key]}"
        if target in used and target != "tags":
            target = ""
        used.add(target)
        mapping[column] = target
    return mapping


def mapping_targets(custom_fields: Iterable[CustomField]) -> list[tuple[str, str]]:
    """(value, label) of every target a column can be mapped to, for the mapping form."""
    targets = [("", "— skip this column —"), *TARGET_LABELS.items()]
    targets += [(f"field:{f.name}", f"Custom field: {f.name}") for f in custom_fields]
    return targets


def validate_mapping(header: list[str], mapping, custom_fields: Iterable[CustomField]) -> dict[str, str]:
    """The mapping cleaned (only columns mapped to something); ValidationError keyed "mapping.<column>"."""
    if not isinstance(mapping, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValidationError({"mapping": "The mapping must be an object of column name to target."})
    field_names = {f.name for f in custom_fields}
    errors: dict[str, str] = {}
    cleaned: dict[str, str] = {}
    used: dict[str, str] = {}
    for column, target in mapping.items():
        target = target.strip()
        label = f"mapping.{column}"
        if column not in header:
            errors[label] = f"The file has no column '{column}'."
            continue
        if not target:
            continue
        if target.startswith("field:"):
            if target[6:] not in field_names:
                errors[label] = f"No custom field named '{target[6:]}'. Define it first."
                continue
        elif target.startswith("property:"):
            if not target[9:].strip():
                errors[label] = "A property target needs a key, e.g. property:favorite_category."
                continue
            target = f"property:{target[9:].strip()}"
        elif target not in TARGET_LABELS:
            errors[label] = (
                f"Unknown target '{target}'; use one of {', '.join(TARGET_LABELS)}, field:<name>, property:<key>."
            )
            continue
        if target in used and target != "tags":
            errors[label] = f"'{target}' is already the target of column '{used[target]}'."
            continue
        used[target] = column
        cleaned[column] = target
    if not errors and not any(target in IDENTIFIERS for target in cleaned.values()):
        errors["mapping"] = "Map a column to email, external_id or phone, so each row can be matched to a contact."
    if errors:
        raise ValidationError(errors)
    return cleaned


# --- Creating an import ---------------------------------------------------------------------


def contact_import_create(
    *,
    company: Company,
    uploaded_file: File,
    mapping: dict[str, str],
    contact_list: ContactList | None = None,
    tags: list[str] | None = None,
    created_by=None,
    original_name: str = "",
    enqueue: bool = True,
) -> ContactImport:
    """Check the file's header and the mapping, store the file and (on commit) enqueue the import.

    `enqueue=False` leaves the import pending for the caller to run inline (the management command).
    """
    preview = csv_preview(uploaded_file)
    custom_fields = list(CustomField.objects.for_company(company))
    cleaned = validate_mapping(preview.header, mapping, custom_fields)
    tags = normalize_tags(tags)
    if contact_list is not None and contact_list.company_id != company.pk:
        raise ValidationError({"contact_list": "No such list."})
    name = (original_name or Path(uploaded_file.name or "contacts.csv").name)[:255]
    contact_import = ContactImport(
        company=company,
        original_name=name,
        mapping=cleaned,
        contact_list=contact_list,
        tags=tags,
        created_by=created_by,
    )
    uploaded_file.seek(0)
    contact_import.file.save(name, uploaded_file, save=False)
    contact_import.save()
    if enqueue:
        task = current_app.tasks[IMPORT_TASK]
        transaction.on_commit(lambda: task.delay(contact_import.pk))
    return contact_import


# --- Running an import ------------------------------------------------------------------------


def error_report_name(contact_import: ContactImport) -> str:
    return f"imports/errors/import-{contact_import.pk}-errors.csv"


def contact_import_fail(*, import_id: int, message: str) -> None:
    """End an import as failed, saying how far it got: the chunks before the failure stay imported."""
    processed = ContactImport.objects.filter(pk=import_id).values_list("processed_rows", flat=True).first()
    outcome = f"The first {processed} rows were imported." if processed else "No row was imported."
    ContactImport.objects.filter(pk=import_id).exclude(status=ImportStatus.DONE).update(
        status=ImportStatus.FAILED, failure=f"{message} {outcome}"[:2000], finished_at=timezone.now()
    )


def contact_import_run(
    *, import_id: int, on_progress: Callable[[ContactImport], None] | None = None
) -> ContactImport | None:
    """Run (or resume) an import; safe to call twice. Returns the import, None if it is gone.

    The claim is a conditional UPDATE pending -> running. A running import is one whose worker
    died (the broker re-delivers unacknowledged tasks): it resumes after its processed rows.
    """
    now = timezone.now()
    ContactImport.objects.filter(pk=import_id, status=ImportStatus.PENDING).update(
        status=ImportStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    contact_import = ContactImport.objects.select_related("company", "contact_list").filter(pk=import_id).first()
    if contact_import is None or contact_import.status != ImportStatus.RUNNING:
        return contact_import
    try:
        _run(contact_import, on_progress)
    except ImportAborted as exc:
        contact_import_fail(import_id=import_id, message=str(exc))
    except FileNotFoundError:
        message = "The uploaded file is missing from storage (do web servers and workers share MEDIA_ROOT?)."
        contact_import_fail(import_id=import_id, message=message)
    except _Superseded:
        pass  # another run of the same import got ahead of this one: it finishes the job
    contact_import.refresh_from_db()
    return contact_import


def stalled_imports_claim(*, stalled_after: timedelta, limit: int = 100) -> list[int]:
    """Running imports with no heartbeat for `stalled_after`: their worker died (killed, or the
    machine restarted) and the broker may hold their task for an hour, or have lost it. Each is
    claimed by moving its heartbeat with a conditional UPDATE, so of two resumers only one gets
    it; the caller runs it again, and it resumes after its last committed chunk."""
    now = timezone.now()
    cutoff = now - stalled_after
    stalled = ContactImport.objects.filter(status=ImportStatus.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    claimed = []
    for pk, heartbeat_at in stalled.order_by("pk").values_list("pk", "heartbeat_at")[:limit]:
        unchanged = Q(heartbeat_at=heartbeat_at) if heartbeat_at else Q(heartbeat_at__isnull=True)
        if ContactImport.objects.filter(unchanged, pk=pk, status=ImportStatus.RUNNING).update(heartbeat_at=now):
            claimed.append(pk)
    return claimed


class _Superseded(Exception):
    """Another run of the same import committed the chunk this one was about to commit."""


def _run(contact_import: ContactImport, on_progress: Callable[[ContactImport], None] | None) -> None:
    with contact_import.file.open("rb") as field_file, closing(_records(field_file.file)) as records:
        try:
            header = _clean_header(next(records, (1, []))[1])
        except ValidationError as exc:
            raise ImportAborted(" ".join(exc.messages)) from None
        if not contact_import.total_rows and not contact_import.processed_rows:
            # Reading the whole file once up front: a bad byte anywhere fails the import before any row.
            contact_import.total_rows = sum(1 for _ in records)
            ContactImport.objects.filter(pk=contact_import.pk).update(
                total_rows=contact_import.total_rows, heartbeat_at=timezone.now()
            )

    with contact_import.file.open("rb") as field_file, closing(_records(field_file.file)) as records:
        next(records, None)  # the header
        columns = [
            (i, contact_import.mapping[name]) for i, name in enumerate(header) if contact_import.mapping.get(name)
        ]
        report = _ErrorReport(contact_import)
        # Resuming: the rows already committed are skipped, and errors written past them dropped.
        last_done = 1
        for number, _cells in islice(records, contact_import.processed_rows):
            last_done = number
        report.keep_rows_up_to(last_done)
        consent = ConsentContext(source=f"CSV import {contact_import.pk}: {contact_import.original_name}"[:100])
        analyzed_at = contact_import.processed_rows
        while chunk := list(islice(records, CHUNK_SIZE)):
            _import_chunk(contact_import, chunk, columns, len(header), consent, report)
            if contact_import.processed_rows >= 2 * max(analyzed_at, CHUNK_SIZE):
                _analyze()
                analyzed_at = contact_import.processed_rows
            if on_progress:
                on_progress(contact_import)
    finished = ContactImport.objects.filter(pk=contact_import.pk, status=ImportStatus.RUNNING).update(
        status=ImportStatus.DONE, finished_at=timezone.now()
    )
    if not finished:
        raise _Superseded


def _analyze() -> None:
    """Refresh PostgreSQL's statistics of the tables an import grows. Planned on stale numbers (a
    company of a few rows), each chunk's lookups scan all the company's contacts instead of using
    the unique indexes, and an import slows down as it goes; autovacuum, when it runs at all, comes
    by a minute or more apart. Run each time the import has doubled its rows: a few times in all."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE contacts_contact, contacts_listmembership")


def _split_tags(value: str) -> list[str]:
    return [tag for tag in re.split(r"[|,]", value) if tag.strip()]


def _row_item(cells: list[str], columns: list[tuple[int, str]], width: int, tags: list[str]) -> dict | str:
    """The contact_upsert input a row stands for (empty cells leave stored values alone), or
    what is wrong with the row as a whole."""
    if len(cells) > width and any(cell.strip() for cell in cells[width:]):
        return f"The row has {len(cells)} cells but the header names {width} columns."
    item: dict = {}
    for index, target in columns:
        value = cells[index].strip() if index < len(cells) else ""
        if not value:
            continue
        if target == "tags":
            item.setdefault("tags", []).extend(_split_tags(value))
        elif target == "status":
            item["status"] = value.lower()
        elif target.startswith("field:"):
            item.setdefault("fields", {})[target[6:]] = value
        elif target.startswith("property:"):
            item.setdefault("properties", {})[target[9:]] = value
        else:
            item[target] = value
    if tags:
        item["tags"] = [*item.get("tags", []), *tags]
    return item


def _import_chunk(
    contact_import: ContactImport,
    chunk: list[tuple[int, list[str]]],
    columns: list[tuple[int, str]],
    width: int,
    consent: ConsentContext,
    report: "_ErrorReport",
) -> None:
    """One chunk in one transaction with its progress counters: all of it counts, or none."""
    items, numbers, errors = [], [], []
    for number, cells in chunk:
        item = _row_item(cells, columns, width, contact_import.tags)
        if isinstance(item, str):
            errors.append({"row": number, "column": "", "field": "", "message": item})
        else:
            items.append(item)
            numbers.append(number)
    with transaction.atomic():
        results = contacts_bulk_upsert(company=contact_import.company, items=items, consent=consent)
        created = sum(1 for r in results if r.status == "created")
        updated = sum(1 for r in results if r.status == "updated")
        warnings = []
        for result in results:
            for field, messages in (result.errors or {}).items():
                errors += [report.entry(numbers[result.index], field, message) for message in messages]
            # A value kept as given (a phone that is no valid number): the row is imported, and the
            # report says what will not work with it. It is no error row.
            for warning in result.warnings:
                field = warning.partition(":")[0]
                warnings.append(report.entry(numbers[result.index], field, f"Imported with a warning: {warning}"))
        if contact_import.contact_list is not None:
            contact_ids = [r.contact_id for r in results if r.contact_id is not None]
            contacts_bulk_list_subscribe(
                contact_list=contact_import.contact_list, contact_ids=contact_ids, consent=consent
            )
        error_rows = len({error["row"] for error in errors})
        errors = sorted(errors + warnings, key=lambda error: error["row"])
        stored = contact_import.errors + errors[: max(0, STORED_ERRORS - len(contact_import.errors))]
        # Conditional on the rows this run has seen committed: two runs never both count a chunk.
        counted = ContactImport.objects.filter(
            pk=contact_import.pk, status=ImportStatus.RUNNING, processed_rows=contact_import.processed_rows
        ).update(
            processed_rows=F("processed_rows") + len(chunk),
            created_count=F("created_count") + created,
            updated_count=F("updated_count") + updated,
            error_count=F("error_count") + error_rows,
            errors=stored,
            heartbeat_at=timezone.now(),
        )
        if not counted:
            raise _Superseded
        # Only the run that counts the chunk reports its errors; if the commit still fails, a resumed
        # run drops them (keep_rows_up_to) before it reports them again.
        report.write(errors)
    contact_import.processed_rows += len(chunk)
    contact_import.created_count += created
    contact_import.updated_count += updated
    contact_import.error_count += error_rows
    contact_import.errors = stored


class _ErrorReport:
    """Every row error of an import, as CSV beside the upload (the model keeps only the first 1000).

    Rows are written before their chunk commits; a resumed run first drops what lies past the last
    committed row, so each error appears once whatever the crashes."""

    def __init__(self, contact_import: ContactImport):
        self.path = Path(default_storage.path(error_report_name(contact_import)))
        # The column an error's field came from, so the user finds it in their file.
        self.columns = {target: column for column, target in contact_import.mapping.items()}

    def entry(self, row: int, field: str, message: str) -> dict:
        if field.startswith("fields."):
            target = f"field:{field[7:]}"
        elif field == "properties":
            target = ""
        else:
            target = field
        column = self.columns.get(target, "")
        return {"row": row, "column": column, "field": field if field != "non_field_errors" else "", "message": message}

    def keep_rows_up_to(self, last_row: int) -> None:
        if not self.path.exists():
            return
        with self.path.open(newline="", encoding="utf-8") as handle:
            kept = [error for error in csv.DictReader(handle) if int(error["row"]) <= last_row]
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ERROR_REPORT_COLUMNS)
            writer.writeheader()
            writer.writerows(kept)

    def write(self, errors: list[dict]) -> None:
        if not errors:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, ERROR_REPORT_COLUMNS)
            if new:
                writer.writeheader()
            writer.writerows({name: safe_cell(str(error[name])) for name in ERROR_REPORT_COLUMNS} for error in errors)


def error_report_lines(contact_import: ContactImport) -> Iterator[bytes]:
    """The error report's bytes for download; just its header when the import had no errors."""
    path = Path(default_storage.path(error_report_name(contact_import)))
    if not path.exists():
        yield (",".join(ERROR_REPORT_COLUMNS) + "\r\n").encode()
        return
    with path.open("rb") as handle:
        yield from iter(lambda: handle.read(64 * 1024), b"")
