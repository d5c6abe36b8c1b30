"""CSV export of a list or a segment: content, CSV-injection escaping, streaming, the command, tenancy."""

import csv
import io
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from contacts import exports, imports, services
from contacts.bulk import contacts_bulk_list_subscribe, contacts_bulk_upsert
from contacts.models import Contact, ContactImport, CustomField, FieldType, ImportStatus, Segment

pytestmark = pytest.mark.django_db

HEADER = "contact_id,email,external_id,phone,first_name,last_name,lang,source,status,tags,created_at,mailability"


def parse(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def newsletter(company):
    services.custom_field_create(company=company, name="Shoe size", field_type=FieldType.NUMBER)
    services.custom_field_create(company=company, name="status", field_type=FieldType.TEXT)  # clashes with a column
    contact_list = services.contact_list_create(company=company, name="Newsletter", double_opt_in=False)
    results = contacts_bulk_upsert(
        company=company,
        items=[
            {
                "email": "ann@example.com",
                "external_id": "A-1",
                "phone": "+33612345678",
                "first_name": "Ann",
                "tags": ["vip", "early"],
                "fields": {"Shoe size": "38.5", "status": "gold"},
            },
            {"email": "evil@example.com", "first_name": '=HYPERLINK("http://x")', "last_name": "@SUM(A1)"},
            {"email": "minus@example.com", "first_name": "-2+3", "source": "+cmd", "fields": {"Shoe size": -5}},
            {"email": "left@example.com"},
        ],
    )
    ids = [r.contact_id for r in results]
    contacts_bulk_list_subscribe(contact_list=contact_list, contact_ids=ids)
    services.list_unsubscribe(contact=Contact.objects.get(pk=ids[3]), contact_list=contact_list)
    contacts_bulk_upsert(company=company, items=[{"email": "outsider@example.com"}])
    return contact_list


def export_text(company, contacts) -> str:
    return "".join(exports.export_csv(exports.export_rows(company=company, contacts=contacts)))


def test_list_export_has_the_members_their_attributes_and_custom_fields(company, newsletter):
    text = export_text(company, exports.list_export_contacts(contact_list=newsletter))
    assert text.splitlines()[0] == HEADER + ",Shoe size,field:status"
    rows = parse(text)
    assert [row["email"] for row in rows] == ["ann@example.com", "evil@example.com", "minus@example.com"]
    ann = rows[0]
    assert ann["contact_id"] == str(Contact.objects.get(email="ann@example.com").pk)
    assert (ann["external_id"], ann["phone"], ann["tags"], ann["status"]) == (
        "A-1",
        "+33612345678",
        "early|vip",
        "subscribed",
    )
    assert (ann["Shoe size"], ann["field:status"]) == ("38.5", "gold")
    assert ann["created_at"].startswith(str(Contact.objects.get(email="ann@example.com").created_at.date()))


def test_export_escapes_cells_a_spreadsheet_would_run_as_formulas(company, newsletter):
    rows = {
        row["email"]: row for row in parse(export_text(company, exports.list_export_contacts(contact_list=newsletter)))
    }
    assert rows["evil@example.com"]["first_name"] == '\'=HYPERLINK("http://x")'
    assert rows["evil@example.com"]["last_name"] == "'@SUM(A1)"
    assert rows["minus@example.com"]["first_name"] == "'-2+3"
    assert rows["minus@example.com"]["source"] == "'+cmd"
    # Plain numbers are no formula: phones and negative numbers stay as they are (and re-importable).
    assert rows["ann@example.com"]["phone"] == "+33612345678"
    assert rows["minus@example.com"]["Shoe size"] == "-5"


def test_an_export_reimports_with_the_guessed_mapping(company, other_company, newsletter, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    text = export_text(company, exports.list_export_contacts(contact_list=newsletter))
    services.custom_field_create(company=other_company, name="Shoe size", field_type=FieldType.NUMBER)
    preview = imports.csv_preview(ContentFile(text.encode(), name="export.csv"))
    mapping = imports.guess_mapping(preview.header, CustomField.objects.for_company(other_company))
    assert mapping["email"] == "email" and mapping["Shoe size"] == "field:Shoe size" and mapping["contact_id"] == ""
    contact_import = imports.contact_import_create(
        company=other_company,
        uploaded_file=ContentFile(text.encode(), name="export.csv"),
        mapping=mapping,
        enqueue=False,
    )
    result = imports.contact_import_run(import_id=contact_import.pk)
    assert result.status == ImportStatus.DONE and (result.created_count, result.error_count) == (3, 0)
    ann = Contact.objects.for_company(other_company).get(email="ann@example.com")
    assert ann.phone == "+33612345678" and sorted(ann.tags) == ["early", "vip"]
    assert ContactImport.objects.for_company(company).count() == 0


def test_export_reads_contacts_in_chunks_with_a_constant_number_of_queries(
    company, newsletter, django_assert_max_num_queries
):
    contacts = exports.list_export_contacts(contact_list=newsletter)
    with django_assert_max_num_queries(4):  # fields, then contacts + tags + field values per 2000
        assert len(list(exports.export_rows(company=company, contacts=contacts))) == 4


def test_segment_export_has_the_segments_contacts(company, newsletter):
    segment = Segment.objects.create(
        company=company,
        name="Anns",
        definition={"operator": "and", "rules": [{"field": "first_name", "comparison": "equals", "value": "Ann"}]},
    )
    rows = parse(export_text(company, exports.segment_export_contacts(company=company, segment=segment)))
    assert [row["email"] for row in rows] == ["ann@example.com"]


# --- Dashboard downloads --------------------------------------------------------------------------


def test_dashboard_list_download_streams_csv(client, company, newsletter, viewer):
    response = client.get(f"/contacts/lists/{newsletter.pk}/export.csv")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="list-{newsletter.pk}-newsletter.csv"'
    rows = parse(b"".join(response.streaming_content).decode())
    assert {row["email"] for row in rows} == {"ann@example.com", "evil@example.com", "minus@example.com"}


def test_dashboard_segment_download(client, company, newsletter, viewer):
    segment = Segment.objects.create(
        company=company,
        name="Everyone",
        definition={"operator": "and", "rules": [{"field": "email", "comparison": "contains", "value": "@"}]},
    )
    response = client.get(f"/contacts/segments/{segment.pk}/export.csv")
    assert response.status_code == 200
    assert len(parse(b"".join(response.streaming_content).decode())) == 5


def test_another_companys_list_and_segment_are_not_found(client, company, other_company, viewer):
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    segment = Segment.objects.create(company=other_company, name="Theirs", definition={"operator": "and", "rules": []})
    assert client.get(f"/contacts/lists/{theirs.pk}/export.csv").status_code == 404
    assert client.get(f"/contacts/segments/{segment.pk}/export.csv").status_code == 404


# --- The command ------------------------------------------------------------------------------


def test_export_contacts_command_to_stdout_and_to_a_file(company, newsletter, tmp_path):
    out, err = StringIO(), StringIO()
    call_command("export_contacts", "--company", "Acme Shop", "--list", str(newsletter.pk), stdout=out, stderr=err)
    assert len(parse(out.getvalue())) == 3 and "Exported 3 contacts." in err.getvalue()

    path = tmp_path / "out.csv"
    call_command(
        "export_contacts",
        "--company",
        "Acme Shop",
        "--list",
        str(newsletter.pk),
        "--output",
        str(path),
        stderr=StringIO(),
    )
    assert path.read_bytes().decode() == out.getvalue()


def test_export_contacts_command_for_a_segment(company, newsletter):
    segment = Segment.objects.create(
        company=company,
        name="Evil",
        definition={"operator": "and", "rules": [{"field": "email", "comparison": "starts_with", "value": "evil"}]},
    )
    out = StringIO()
    call_command(
        "export_contacts", "--company", "Acme Shop", "--segment", str(segment.pk), stdout=out, stderr=StringIO()
    )
    assert [row["email"] for row in parse(out.getvalue())] == ["evil@example.com"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company", "Nobody", "--list", "1"], "No company named"),
        (["--company", "Acme Shop", "--list", "999999"], "no list with id 999999"),
        (["--company", "Acme Shop", "--segment", "999999"], "no segment with id 999999"),
    ],
)
def test_export_contacts_command_rejects_unknown_things(company, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_contacts", *args, stdout=StringIO(), stderr=StringIO())


def test_export_contacts_command_cannot_reach_another_companys_list(company, other_company):
    theirs = services.contact_list_create(company=other_company, name="Theirs")
    with pytest.raises(CommandError, match="no list"):
        call_command("export_contacts", "--company", "Acme Shop", "--list", str(theirs.pk), stdout=StringIO())
