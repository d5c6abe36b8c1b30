from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from contacts import imports
from contacts.models import ContactImport, ContactList, CustomField, ImportStatus
from salloq.core.models import Company


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items())


class Command(BaseCommand):
    help = (
        "Import contacts from a CSV file (UTF-8; comma, semicolon or tab separated; header on the first line). "
        "Runs the same import as the dashboard, inline in this process, printing a progress line per "
        "chunk of 1000 rows. Without --map the columns are mapped from their header names."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", required=True, help="Company name, e.g. 'Acme Shop'")
        parser.add_argument("--file", required=True, type=Path, help="Path of the CSV file")
        parser.add_argument("--list", type=int, dest="list_id", help="Subscribe the imported contacts to this list id")
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            metavar="COLUMN=TARGET",
            help="Map a column: email, external_id, phone, first_name, last_name, lang, source, status, tags, "
            "field:<custom field>, property:<key>, or nothing to skip it (repeat for each column)",
        )
        parser.add_argument("--tag", action="append", default=[], help="Tag every imported contact (repeatable)")

    def handle(self, *args, company, file, list_id, map, tag, **options):
        company_obj = Company.objects.filter(name=company).first()
        if company_obj is None:
            raise CommandError(f"No company named {company!r}.")
        contact_list = None
        if list_id is not None:
            contact_list = ContactList.objects.for_company(company_obj).filter(pk=list_id).first()
            if contact_list is None:
                raise CommandError(f"Company {company!r} has no list with id {list_id}.")
        if not file.is_file():
            raise CommandError(f"No file at {file}.")
        with file.open("rb") as handle:
            upload = File(handle, name=file.name)
            try:
                mapping = self._mapping(company_obj, upload, map)
                contact_import = imports.contact_import_create(
                    company=company_obj,
                    uploaded_file=upload,
                    mapping=mapping,
                    contact_list=contact_list,
                    tags=tag,
                    enqueue=False,
                )
            except ValidationError as exc:
                raise CommandError(_problems(exc)) from None
        self.stderr.write(
            f"Import {contact_import.pk} of {file.name}: "
            + ", ".join(f"{column} -> {target}" for column, target in contact_import.mapping.items())
        )
        result = imports.contact_import_run(import_id=contact_import.pk, on_progress=self._progress)
        self._summary(result)

    def _mapping(self, company: Company, upload: File, pairs: list[str]) -> dict[str, str]:
        if not pairs:
            preview = imports.csv_preview(upload)
            return imports.guess_mapping(preview.header, CustomField.objects.for_company(company))
        mapping = {}
        for pair in pairs:
            column, separator, target = pair.partition("=")
            if not separator:
                raise CommandError(f"--map {pair!r}: write COLUMN=TARGET, e.g. --map 'E-mail=email'.")
            mapping[column.strip()] = target.strip()
        return mapping

    def _progress(self, contact_import: ContactImport) -> None:
        self.stdout.write(
            f"{contact_import.processed_rows}/{contact_import.total_rows} rows ({contact_import.percent}%): "
            f"{contact_import.created_count} created, {contact_import.updated_count} updated, "
            f"{contact_import.error_count} with errors"
        )

    def _summary(self, contact_import: ContactImport) -> None:
        for error in contact_import.errors[:10]:
            where = f" ({error['column']})" if error.get("column") else ""
            self.stderr.write(f"row {error['row']}{where}: {error['message']}")
        if contact_import.error_count:
            report = Path(imports.default_storage.path(imports.error_report_name(contact_import)))
            self.stderr.write(f"All {contact_import.error_count} rows with errors: {report}")
        if contact_import.status != ImportStatus.DONE:
            raise CommandError(f"Import {contact_import.pk} {contact_import.status}: {contact_import.failure}")
        self.stdout.write(
            f"Done: {contact_import.processed_rows} rows, {contact_import.created_count} created, "
            f"{contact_import.updated_count} updated, {contact_import.error_count} with errors."
        )
