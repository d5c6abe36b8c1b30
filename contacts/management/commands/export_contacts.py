from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from contacts import exports
from contacts.models import ContactList, Segment
from salloq.core.models import Company


class Command(BaseCommand):
    help = (
        "Export a list's members (subscribed or pending) or a segment's contacts as CSV: contact_id, email, "
        "external_id, phone, first_name, last_name, lang, source, status, tags, created_at, then one column "
        "per custom field. Writes to stdout unless --output is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="Company name, e.g. 'Acme Shop'")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--list", type=int, dest="list_id", help="Export this list's members")
        source.add_argument("--segment", type=int, dest="segment_id", help="Export this segment's contacts")
        parser.add_argument("--output", help="Write the CSV to this file instead of stdout")

    def handle(self, *args, company, list_id, segment_id, output, **options):
        company_obj = Company.objects.filter(name=company).first()
        if company_obj is None:
            raise CommandError(f"No company named {company!r}.")
        if list_id is not None:
            contact_list = ContactList.objects.for_company(company_obj).filter(pk=list_id).first()
            if contact_list is None:
                raise CommandError(f"Company {company!r} has no list with id {list_id}.")
            contacts = exports.list_export_contacts(contact_list=contact_list)
        else:
            segment = Segment.objects.for_company(company_obj).filter(pk=segment_id).first()
            if segment is None:
                raise CommandError(f"Company {company!r} has no segment with id {segment_id}.")
            try:
                contacts = exports.segment_export_contacts(company=company_obj, segment=segment)
            except ValidationError as exc:
                raise CommandError(f"Segment {segment_id} cannot be compiled: {' '.join(exc.messages)}") from None
        lines = exports.export_csv(exports.export_rows(company=company_obj, contacts=contacts))
        written = 0
        if output:
            with open(output, "w", newline="", encoding="utf-8") as handle:
                for line in lines:
                    handle.write(line)
                    written += 1
        else:
            for line in lines:
                self.stdout.write(line, ending="")
                written += 1
        self.stderr.write(f"Exported {written - 1} contacts.")  # the first line is the header
