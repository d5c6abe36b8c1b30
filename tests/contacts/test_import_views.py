"""Contacts > Import in the dashboard: upload, mapping, progress (page and htmx partial), roles, tenancy."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from contacts import imports, services
from contacts.models import Contact, ContactImport, FieldType, ImportStatus
from salloq.core.middleware import CurrentCompanyMiddleware
from salloq.core.models import Role
from tests.conftest import html
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

CSV = (
    "E-mail,Prénom,Pointure,Ville\nann@example.com,Ann,38,Paris\nnot-an-email,Bad,39,Lyon\nbob@example.com,Bob,x,Nice\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(content: str | bytes = CSV, name: str = "clients.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content.encode() if isinstance(content, str) else content, "text/csv")


def start_upload(client, **data) -> str:
    response = client.post("/contacts/imports/", {"file": csv_file(), "tags": "salon, 2026", **data})
    assert response.status_code == 302, html(response)
    match = re.fullmatch(r"/contacts/imports/new/(\w+)/", response["Location"])
    assert match
    return response["Location"]


def test_upload_map_start_and_follow_the_progress(client, company, marketer):
    services.custom_field_create(company=company, name="Pointure", field_type=FieldType.NUMBER)
    salon = services.contact_list_create(company=company, name="Salon", double_opt_in=False)
    mapping_url = start_upload(client, contact_list=salon.pk)

    page = html(client.get(mapping_url))
    assert "ann@example.com" in page and "comma-separated" in page
    # The guesses are pre-selected: E-mail -> email, Prénom -> first name, Pointure -> the custom field.
    assert re.search(r'name="column-0">.*?<option value="email" selected>', page, re.S)
    assert re.search(r'name="column-1">.*?<option value="first_name" selected>', page, re.S)
    assert re.search(r'name="column-2">.*?<option value="field:Pointure" selected>', page, re.S)

    response = client.post(
        mapping_url,
        {"column-0": "email", "column-1": "first_name", "column-2": "field:Pointure", "column-3": "property:Ville"},
    )
    contact_import = ContactImport.objects.for_company(company).get()
    assert response.status_code == 302 and response["Location"] == f"/contacts/imports/{contact_import.pk}/"
    # The request only stored the file and enqueued the task: no contact exists yet.
    assert contact_import.status == ImportStatus.PENDING and not Contact.objects.exists()
    assert contact_import.mapping == {
        "E-mail": "email",
        "Prénom": "first_name",
        "Pointure": "field:Pointure",
        "Ville": "property:Ville",
    }
    assert (contact_import.contact_list, contact_import.tags, contact_import.created_by) == (
        salon,
        ["salon", "2026"],
        marketer,
    )
    assert client.get(mapping_url).status_code == 404  # the staged upload was used up

    detail = f"/contacts/imports/{contact_import.pk}/"
    pending = client.get(detail, headers={"HX-Request": "true"})
    markup = html(pending)
    assert "<html" not in markup and 'hx-trigger="every 1s"' in markup and "HX-Request" in pending["Vary"]

    imports.contact_import_run(import_id=contact_import.pk)
    done = html(client.get(detail, headers={"HX-Request": "true"}))
    assert "every 1s" not in done  # polling stops
    assert '<progress class="import-bar" value="100"' in done
    assert '<strong id="import-created">1</strong>' in done and '<strong id="import-errors">2</strong>' in done
    assert "is not a valid email address" in done and f"/contacts/imports/{contact_import.pk}/errors.csv" in done

    full = html(client.get(detail))
    assert "<html" in full and 'id="import-progress"' in full and "E-mail → email" in full
    report = client.get(f"/contacts/imports/{contact_import.pk}/errors.csv")
    assert report["Content-Disposition"] == f'attachment; filename="import-{contact_import.pk}-errors.csv"'
    lines = b"".join(report.streaming_content).decode().splitlines()
    assert (
        lines[0] == "row,column,field,message"
        and lines[1].startswith("3,E-mail,email,")
        and lines[2].startswith("4,Pointure,fields.Pointure,")
    )
    assert "clients.csv" in html(client.get("/contacts/imports/"))


def test_mapping_errors_are_shown_next_to_the_column(client, company, marketer):
    mapping_url = start_upload(client)
    response = client.post(mapping_url, {"column-0": "", "column-1": "first_name", "column-2": "first_name"})
    assert response.status_code == 400
    markup = html(response)
    assert "already the target of column" in markup
    response = client.post(mapping_url, {"column-0": "", "column-1": "first_name"})
    assert response.status_code == 400 and "Map a column to email, external_id or phone" in html(response)
    assert not ContactImport.objects.exists()


def test_a_file_that_is_not_utf8_csv_is_refused_at_upload(client, company, marketer):
    response = client.post("/contacts/imports/", {"file": csv_file("Email\ncafé@example.com\n".encode("latin-1"))})
    assert response.status_code == 400 and "not UTF-8" in html(response)
    assert not ContactImport.objects.exists()


def test_viewers_see_imports_but_cannot_import(client, company):
    viewer = MembershipFactory(company=company, role=Role.VIEWER).user
    client.force_login(viewer)
    page = client.get("/contacts/imports/")
    assert page.status_code == 200 and 'id="import-upload-form"' not in html(page)
    assert client.post("/contacts/imports/", {"file": csv_file()}).status_code == 403
    assert client.get("/contacts/imports/new/abc/").status_code == 403
    assert not ContactImport.objects.exists()


def test_another_companys_import_and_upload_are_not_found(client, company, other_company, marketer):
    theirs = imports.contact_import_create(
        company=other_company, uploaded_file=csv_file(name="rival.csv"), mapping={"E-mail": "email"}, enqueue=False
    )
    assert client.get(f"/contacts/imports/{theirs.pk}/").status_code == 404
    assert client.get(f"/contacts/imports/{theirs.pk}/errors.csv").status_code == 404
    assert "rival.csv" not in html(client.get("/contacts/imports/"))

    # A staged upload belongs to the company it was made in, even for a user of both companies.
    mapping_url = start_upload(client)
    MembershipFactory(user=marketer, company=other_company, role=Role.OWNER)
    session = client.session
    session[CurrentCompanyMiddleware.SESSION_KEY] = other_company.pk
    session.save()
    assert client.get(mapping_url).status_code == 404
    assert client.post(mapping_url, {"column-0": "email"}).status_code == 404
    assert not ContactImport.objects.for_company(other_company).exclude(pk=theirs.pk).exists()
