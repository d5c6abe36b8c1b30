"""CSV import: file and mapping checks, the task through a real Celery worker, resuming, the command."""

import csv
import io
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command

from contacts import imports, services, tasks
from contacts.models import (
    ConsentRecord,
    Contact,
    ContactImport,
    ContactStatus,
    CustomFieldValue,
    FieldType,
    ImportStatus,
    ListMembership,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(text: str | bytes, name: str = "contacts.csv") -> ContentFile:
    return ContentFile(text.encode() if isinstance(text, str) else text, name=name)


def create(company, text, mapping, **kwargs):
    kwargs.setdefault("enqueue", False)
    return imports.contact_import_create(company=company, uploaded_file=upload(text), mapping=mapping, **kwargs)


def report_rows(contact_import) -> list[dict]:
    content = b"".join(imports.error_report_lines(contact_import)).decode()
    return list(csv.DictReader(io.StringIO(content)))


BAD_ROWS_CSV = (
    "Email,First name,Phone,Age,Tags,Favourite\n"
    "ann@example.com,Ann,+33612345678,41,vip|early,tea\n"
    "not-an-email,Bad,,,,\n"  # row 3: bad email
    "bob@example.com,Bob,12,,,\n"  # row 4: a phone that is no valid number: imported with a warning
    "\n"  # blank line: skipped, but a spreadsheet still counts the row
    "cy@example.com,Cy,,forty,,\n"  # row 6: bad number
    "dan@example.com,Dan,,,,,surplus\n"  # row 7: more cells than columns
    "ANN@example.com,Annie,,,newsletter,coffee\n"  # row 8: same contact again: an update
    ",NoEmail,,,,\n"  # row 9: nothing to identify the contact
)
BAD_ROWS_MAPPING = {
    "Email": "email",
    "First name": "first_name",
    "Phone": "phone",
    "Age": "field:age",
    "Tags": "tags",
    "Favourite": "property:favourite",
}


@pytest.mark.django_db(transaction=True)
def test_import_with_bad_rows_through_the_real_worker(company, celery_worker_thread):
    services.custom_field_create(company=company, name="age", field_type=FieldType.NUMBER)
    newsletter = services.contact_list_create(company=company, name="Newsletter", double_opt_in=False)
    contact_import = create(
        company, BAD_ROWS_CSV, BAD_ROWS_MAPPING, contact_list=newsletter, tags=["imported"], enqueue=True
    )
    wait_until_finished(contact_import)
    assert contact_import.status == ImportStatus.DONE, contact_import.failure
    assert (contact_import.total_rows, contact_import.processed_rows) == (7, 7)
    assert (contact_import.created_count, contact_import.updated_count, contact_import.error_count) == (2, 1, 4)
    assert contact_import.started_at and contact_import.finished_at and contact_import.percent == 100

    errors = [(e["row"], e["column"], e["field"]) for e in contact_import.errors]
    assert errors == [
        (3, "Email", "email"),
        (4, "Phone", "phone"),
        (6, "Age", "fields.age"),
        (7, "", ""),
        (9, "Email", "email"),
    ]
    assert "surplus" not in str(contact_import.errors) and "7 cells" in contact_import.errors[3]["message"]
    assert contact_import.errors[1]["message"].startswith("Imported with a warning: phone: '12'")
    assert report_rows(contact_import) == [
        {"row": str(e["row"]), "column": e["column"], "field": e["field"], "message": e["message"]}
        for e in contact_import.errors
    ]

    ann = Contact.objects.for_company(company).get(email="ann@example.com")
    assert (ann.first_name, ann.phone) == ("Annie", "+33612345678")
    assert ann.properties == {"favourite": "coffee"}
    assert sorted(ann.tags) == ["early", "imported", "newsletter", "vip"]
    assert CustomFieldValue.objects.get(contact=ann).number_value == 41
    bob = Contact.objects.for_company(company).get(email="bob@example.com")
    assert (bob.phone, bob.phone_valid) == ("12", False)
    assert Contact.objects.for_company(company).count() == 2
    assert set(ListMembership.objects.filter(contact_list=newsletter).values_list("contact_id", "status")) == {
        (ann.pk, "subscribed"),
        (bob.pk, "subscribed"),
    }
    assert ConsentRecord.objects.filter(contact=ann, source__startswith=f"CSV import {contact_import.pk}").exists()


def wait_until_finished(contact_import, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        contact_import.refresh_from_db()
        if contact_import.status in (ImportStatus.DONE, ImportStatus.FAILED):
            return contact_import
        time.sleep(0.1)
    raise AssertionError(f"import still {contact_import.status} after {seconds} s")


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_cannot_read_the_file_fails_the_import_with_a_reason(company, celery_worker_thread):
    contact_import = create(company, "Email\na@example.com\n", {"Email": "email"})
    default_storage.delete(contact_import.file.name)
    tasks.run_contact_import.delay(contact_import.pk)
    failed = wait_until_finished(contact_import)
    assert failed.status == ImportStatus.FAILED and "missing from storage" in failed.failure
    assert failed.finished_at is not None and not Contact.objects.exists()


def test_semicolon_csv_with_bom_and_windows_line_ends(company):
    content = (
        "\ufeffE-mail;Prénom;Nom;Statut\r\n"
        "zoe@example.com;Zoé;Durand;subscribed\r\n"
        "yann@example.com;Yann;Le Gall;Unsubscribed\r\n"
    )
    preview = imports.csv_preview(upload(content.encode("utf-8")))
    assert preview.delimiter == ";" and preview.header == ["E-mail", "Prénom", "Nom", "Statut"]
    mapping = imports.guess_mapping(preview.header, [])
    assert mapping == {"E-mail": "email", "Prénom": "first_name", "Nom": "last_name", "Statut": ""}
    contact_import = create(company, content, {**mapping, "Statut": "status"})
    result = imports.contact_import_run(import_id=contact_import.pk)
    assert result.status == ImportStatus.DONE and result.created_count == 2 and result.error_count == 0
    zoe = Contact.objects.for_company(company).get(email="zoe@example.com")
    assert (zoe.first_name, zoe.last_name) == ("Zoé", "Durand")
    assert Contact.objects.for_company(company).get(email="yann@example.com").status == ContactStatus.UNSUBSCRIBED


def test_tab_separated_file_and_quoted_cells(company):
    content = 'email\tnote\n"a@example.com"\t"line one\nline two"\nb@example.com\tplain\n'
    contact_import = create(company, content, {"email": "email", "note": "property:note"})
    result = imports.contact_import_run(import_id=contact_import.pk)
    assert (result.total_rows, result.created_count) == (2, 2)
    assert Contact.objects.get(email="a@example.com").properties == {"note": "line one\nline two"}


@pytest.mark.parametrize(
    ("mapping", "field", "message"),
    [
        ({"Email": "email", "Nope": "first_name"}, "mapping.Nope", "no column 'Nope'"),
        ({"Email": "email", "Name": "nickname"}, "mapping.Name", "Unknown target 'nickname'"),
        ({"Email": "email", "Name": "field:shoe size"}, "mapping.Name", "No custom field named 'shoe size'"),
        ({"Email": "email", "Name": "property:"}, "mapping.Name", "needs a key"),
        ({"Email": "email", "Name": "email"}, "mapping.Name", "already the target of column 'Email'"),
        ({"Email": "", "Name": "first_name"}, "mapping", "email, external_id or phone"),
        (["email"], "mapping", "object of column name to target"),
    ],
)
def test_mapping_errors_name_the_column_and_create_nothing(company, mapping, field, message):
    with pytest.raises(ValidationError) as excinfo:
        create(company, "Email,Name\na@example.com,A\n", mapping)
    assert message in " ".join(excinfo.value.message_dict[field])
    assert not ContactImport.objects.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Email,Name\nzoé@example.com,Zoé\n".encode("latin-1"), "not UTF-8"),
        (b"", "empty"),
        (b"\n\n", "empty"),
        (b"Email,Email\na@example.com,b@example.com\n", "appears twice"),
        (b",,\na,b,c\n", "header naming the columns"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00\xff\xfe", "not UTF-8"),
    ],
)
def test_file_errors_are_reported_on_the_file_field(company, content, message):
    with pytest.raises(ValidationError) as excinfo:
        create(company, content, {"Email": "email"})
    assert message in " ".join(excinfo.value.message_dict["file"])


def test_a_list_of_another_company_is_refused(company, other_company):
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    with pytest.raises(ValidationError) as excinfo:
        create(company, "Email\na@example.com\n", {"Email": "email"}, contact_list=theirs)
    assert "contact_list" in excinfo.value.message_dict


def test_bad_bytes_further_down_fail_the_import_before_any_row(company):
    content = b"Email\n" + b"".join(f"r{n}@example.com\n".encode() for n in range(5000)) + b"caf\xe9@example.com\n"
    contact_import = create(company, content, {"Email": "email"})
    result = imports.contact_import_run(import_id=contact_import.pk)
    assert result.status == ImportStatus.FAILED and "not UTF-8" in result.failure
    assert "No row was imported" in result.failure and not Contact.objects.exists()


def test_import_resumes_after_the_last_committed_chunk(company, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    rows = ["a@example.com", "bad-1", "c@example.com", "d@example.com", "bad-2", "f@example.com"]
    contact_import = create(company, "email\n" + "\n".join(rows) + "\n", {"email": "email"})

    class WorkerDied(Exception):
        pass

    def die_after_first_chunk(progress):
        raise WorkerDied

    with pytest.raises(WorkerDied):
        imports.contact_import_run(import_id=contact_import.pk, on_progress=die_after_first_chunk)
    contact_import.refresh_from_db()
    assert (contact_import.status, contact_import.processed_rows, contact_import.error_count) == ("running", 2, 1)
    # A line the dead run wrote for a chunk it never committed: the resumed run drops it.
    path = Path(default_storage.path(imports.error_report_name(contact_import)))
    with path.open("a", newline="") as handle:
        csv.writer(handle).writerow([5, "email", "email", "written, never committed"])

    result = imports.contact_import_run(import_id=contact_import.pk)
    assert result.status == ImportStatus.DONE
    assert (result.processed_rows, result.created_count, result.error_count) == (6, 4, 2)
    assert [row["row"] for row in report_rows(result)] == ["3", "6"]
    assert Contact.objects.for_company(company).count() == 4

    # Once done, running it again (a duplicate delivery) changes nothing.
    again = imports.contact_import_run(import_id=contact_import.pk)
    assert (again.status, again.processed_rows, again.created_count) == ("done", 6, 4)


def test_rows_past_the_first_thousand_errors_are_only_in_the_report(company, monkeypatch):
    monkeypatch.setattr(imports, "STORED_ERRORS", 3)
    contact_import = create(company, "email\n" + "".join(f"bad{n}\n" for n in range(5)), {"email": "email"})
    result = imports.contact_import_run(import_id=contact_import.pk)
    assert result.error_count == 5 and len(result.errors) == 3
    assert len(report_rows(result)) == 5


def test_guess_mapping_knows_common_headers_and_custom_fields(company):
    shoe = services.custom_field_create(company=company, name="Shoe size", field_type=FieldType.NUMBER)
    header = ["Email Address", "Customer ID", "Mobile", "First Name", "Surname", "Shoe size", "Notes", "Mail"]
    assert imports.guess_mapping(header, [shoe]) == {
        "Email Address": "email",
        "Customer ID": "external_id",
        "Mobile": "phone",
        "First Name": "first_name",
        "Surname": "last_name",
        "Shoe size": "field:Shoe size",
        "Notes": "",
        "Mail": "",  # email is taken by the first column that looks like one
    }


# --- The management command -------------------------------------------------------------------


def test_import_contacts_command_runs_inline_with_progress(company, tmp_path, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    weekly = services.contact_list_create(company=company, name="Weekly", double_opt_in=False)
    path = tmp_path / "people.csv"
    path.write_text("Mail;Given;Junk\na@example.com;A;x\nb@example.com;B;y\nnope;C;z\n")
    out, err = StringIO(), StringIO()
    call_command(
        "import_contacts",
        "--company",
        "Acme Shop",
        "--file",
        str(path),
        "--list",
        str(weekly.pk),
        "--map",
        "Mail=email",
        "--map",
        "Given=first_name",
        "--tag",
        "cli",
        stdout=out,
        stderr=err,
    )
    lines = out.getvalue().splitlines()
    assert lines == [
        "2/3 rows (67%): 2 created, 0 updated, 0 with errors",
        "3/3 rows (100%): 2 created, 0 updated, 1 with errors",
        "Done: 3 rows, 2 created, 0 updated, 1 with errors.",
    ]
    assert "row 4 (Mail):" in err.getvalue() and "errors.csv" in err.getvalue()
    a = Contact.objects.for_company(company).get(email="a@example.com")
    assert a.first_name == "A" and a.tags == ["cli"]
    assert ListMembership.objects.filter(contact_list=weekly).count() == 2


def test_import_contacts_command_guesses_the_mapping_without_map(company, tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("email,first_name,last_name\na@example.com,Ada,Lovelace\n")
    call_command("import_contacts", "--company", "Acme Shop", "--file", str(path), stdout=StringIO(), stderr=StringIO())
    assert Contact.objects.get(email="a@example.com").last_name == "Lovelace"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company", "Nobody Inc"], "No company named"),
        (["--list", "999999"], "no list with id 999999"),
        (["--map", "Email"], "COLUMN=TARGET"),
        (["--map", "Email=nickname"], "mapping.Email: Unknown target"),
    ],
)
def test_import_contacts_command_rejects_bad_input(company, tmp_path, args, message):
    path = tmp_path / "people.csv"
    path.write_text("Email\na@example.com\n")
    base = {"--company": "Acme Shop", "--file": str(path)}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    argv = [item for pair in base.items() for item in pair]
    with pytest.raises(CommandError, match=message):
        call_command("import_contacts", *argv, stdout=StringIO(), stderr=StringIO())
    assert not Contact.objects.exists()
