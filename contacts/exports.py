"""CSV export of contacts: `export_csv` streams contacts (a list's members, a segment, a selection)
as CSV text lines, one row per contact read 2000 at a time, cells safe to open in a spreadsheet.
"""

import csv
import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from django.db.models import Prefetch, QuerySet

from salloq.core.models import Company

from .contact_input import CONTACT_ATTRIBUTES
from .mailability import ANNOTATION as MAILABILITY
from .mailability import contacts_with_mailability
from .models import Contact, ContactList, CustomField, CustomFieldValue, MembershipStatus, Segment
from .segments import segment_contacts

# mailability: whether the contact can be mailed (contacts.mailability), as the dashboard's badge says.
EXPORT_COLUMNS = ["contact_id", *CONTACT_ATTRIBUTES, "tags", "created_at", "mailability"]
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection, OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# ...except a plain number, which no spreadsheet turns into a call: phones (+33...) stay importable.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def safe_cell(value: str) -> str:
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _format(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def list_export_contacts(*, contact_list: ContactList) -> QuerySet:
    """A list's current members: subscribed, or pending their double opt-in confirmation."""
    members = (
        Contact.objects.for_company(contact_list.company_id)
        .in_list(contact_list.pk, (MembershipStatus.SUBSCRIBED, MembershipStatus.PENDING))
        .filter(erased_at__isnull=True)
    )
    return contacts_with_mailability(members, contact_list_id=contact_list.pk)


def segment_export_contacts(*, company: Company, segment: Segment) -> QuerySet:
    """A segment's contacts as of now (erased contacts are never in one)."""
    return contacts_with_mailability(segment_contacts(company, segment.definition))


def export_rows(*, company: Company, contacts: QuerySet) -> Iterator[list[str]]:
    """The header, then one row per contact, read 2000 at a time (two queries per 2000)."""
    fields = list(CustomField.objects.for_company(company))
    # Custom field names are user input too: a name such as "=HYPERLINK(...)" is escaped like a cell.
    yield EXPORT_COLUMNS + [safe_cell(f"field:{f.name}" if f.name in EXPORT_COLUMNS else f.name) for f in fields]
    if MAILABILITY not in contacts.query.annotations:
        contacts = contacts_with_mailability(contacts)
    contacts = contacts.order_by("pk").prefetch_related(
        Prefetch("field_values", queryset=CustomFieldValue.objects.all())
    )
    for contact in contacts.iterator(chunk_size=2000):
        values = {value.field_id: value.value for value in contact.field_values.all()}
        row = [
            contact.pk,
            *(getattr(contact, name) for name in CONTACT_ATTRIBUTES),
            "|".join(sorted(contact.tags)),
            contact.created_at,
            getattr(contact, MAILABILITY),
        ]
        row += [values.get(f.pk) for f in fields]
        yield [safe_cell(_format(value)) for value in row]


class _Line:
    """csv.writer writes into this and gets the line back, so rows stream one at a time."""

    def write(self, line: str) -> str:
        return line


def export_csv(rows: Iterable[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Line())
    for row in rows:
        yield writer.writerow(row)
