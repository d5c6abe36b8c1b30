"""Dashboard pages for CSV import (upload, mapping, progress) and CSV export downloads.

Import goes in three steps: the upload is checked and staged (the session remembers it), the
mapping page shows the header and first rows with a guessed target per column, and starting the
import creates the ContactImport and enqueues the task; the progress page polls its own partial
every second until the import is done."""

import uuid
from datetime import timedelta
from pathlib import Path

from django import forms
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from salloq.core.htmx import render_page
from salloq.core.models import Role
from salloq.core.text import text_problem
from salloq.core.views import company_view

from .. import exports, imports
from ..forms import split_tags
from ..models import ContactImport, ContactList, CustomField, ImportStatus, Segment

STAGED_DIR = "imports/staged"
# An upload whose mapping step was abandoned is deleted after this long (at the next upload).
STAGED_LIFETIME = timedelta(days=1)
SESSION_KEY = "contact_import_staged"
RECENT_IMPORTS = 20
SHOWN_ERRORS = 20


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, comma, semicolon or tab separated, with a header line naming the columns.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,text/csv,text/plain"}),
    )
    contact_list = forms.ModelChoiceField(
        queryset=ContactList.objects.none(), required=False, label="Add to list", empty_label="— no list —"
    )
    tags = forms.CharField(
        max_length=1000, required=False, help_text="Comma-separated; added to every imported contact."
    )

    def __init__(self, *args, company, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["contact_list"].queryset = ContactList.objects.for_company(company)


def _can_import(request: HttpRequest) -> bool:
    return request.membership.allows(Role.MARKETER)


def _imports_context(request: HttpRequest, form: ImportUploadForm) -> dict:
    return {
        "form": form,
        "can_import": _can_import(request),
        "imports": ContactImport.objects.for_company(request.company).select_related("contact_list", "created_by")[
            :RECENT_IMPORTS
        ],
    }


def _sweep_staged() -> None:
    """Delete staged uploads whose mapping step was never finished."""
    try:
        _dirs, files = default_storage.listdir(STAGED_DIR)
    except FileNotFoundError:
        return
    cutoff = timezone.now() - STAGED_LIFETIME
    for name in files:
        path = f"{STAGED_DIR}/{name}"
        if default_storage.get_modified_time(path) < cutoff:
            default_storage.delete(path)


@company_view()
@require_http_methods(["GET", "POST"])
def contact_imports(request: HttpRequest) -> HttpResponse:
    """Contacts > Import: past imports and the upload form (step 1)."""
    form = ImportUploadForm(request.POST or None, request.FILES or None, company=request.company)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            preview = imports.csv_preview(upload)
        except ValidationError as exc:
            form.add_error("file", exc.message_dict["file"])
        else:
            problem = next(filter(None, map(text_problem, preview.header)), None)
            if problem:
                # Column names are kept with the import (PostgreSQL text refuses NUL).
                form.add_error("file", f"The header {problem}; fix the column names.")
        if form.is_valid():
            _sweep_staged()
            token = uuid.uuid4().hex
            staged = default_storage.save(f"{STAGED_DIR}/{token}.csv", upload)
            contact_list = form.cleaned_data["contact_list"]
            request.session.setdefault(SESSION_KEY, {})[token] = {
                "company_id": request.company.pk,
                "file": staged,
                "original_name": "".join(char for char in Path(upload.name).name if char.isprintable())[:255],
                "list_id": contact_list.pk if contact_list else None,
                "tags": split_tags(form.cleaned_data["tags"]),
            }
            request.session.modified = True
            return redirect("contacts:import_mapping", token=token)
    status = 400 if request.method == "POST" else 200
    return render(request, "contacts/imports.html", _imports_context(request, form), status=status)


def _staged(request: HttpRequest, token: str) -> dict:
    staged = request.session.get(SESSION_KEY, {}).get(token)
    if not staged or staged["company_id"] != request.company.pk or not default_storage.exists(staged["file"]):
        raise Http404("This upload has expired; upload the file again.")
    return staged


@company_view(min_role=Role.MARKETER)
@require_http_methods(["GET", "POST"])
def contact_import_mapping(request: HttpRequest, token: str) -> HttpResponse:
    """Step 2: a target per column (guessed from the header), then start the import."""
    staged = _staged(request, token)
    custom_fields = list(CustomField.objects.for_company(request.company))
    with default_storage.open(staged["file"], "rb") as handle:
        preview = imports.csv_preview(handle)
    mapping = imports.guess_mapping(preview.header, custom_fields)
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        mapping = {column: request.POST.get(f"column-{index}", "") for index, column in enumerate(preview.header)}
        # The targets are stored with the import (PostgreSQL text refuses NUL).
        errors = {
            f"mapping.{column}": [f"A target {problem}."]
            for column, target in mapping.items()
            if (problem := text_problem(target))
        }
    if request.method == "POST" and not errors:
        contact_list = None
        if staged["list_id"]:
            contact_list = ContactList.objects.for_company(request.company).filter(pk=staged["list_id"]).first()
        try:
            with default_storage.open(staged["file"], "rb") as handle:
                contact_import = imports.contact_import_create(
                    company=request.company,
                    uploaded_file=handle,
                    mapping={column: target for column, target in mapping.items() if column},
                    contact_list=contact_list,
                    tags=staged["tags"],
                    created_by=request.user,
                    original_name=staged["original_name"],
                )
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            default_storage.delete(staged["file"])
            request.session[SESSION_KEY].pop(token, None)
            request.session.modified = True
            return redirect("contacts:import_detail", import_id=contact_import.pk)
    columns = [
        {
            "index": index,
            "name": column,
            "target": mapping.get(column, ""),
            "samples": [row[index] for row in preview.rows if index < len(row) and row[index].strip()][:3],
            "errors": errors.get(f"mapping.{column}", []),
        }
        for index, column in enumerate(preview.header)
    ]
    context = {
        "token": token,
        "staged": staged,
        "preview": preview,
        "columns": columns,
        "targets": imports.mapping_targets(custom_fields),
        "errors": errors.get("mapping", []) + errors.get("file", []) + errors.get("contact_list", []),
        "delimiter_name": {",": "comma", ";": "semicolon", "\t": "tab"}[preview.delimiter],
    }
    return render(request, "contacts/imports_mapping.html", context, status=400 if errors else 200)


@company_view()
@require_GET
def contact_import_detail(request: HttpRequest, import_id: int) -> HttpResponse:
    """Step 3: progress; the partial polls itself every second while the import runs."""
    contact_import = get_object_or_404(
        ContactImport.objects.for_company(request.company).select_related("contact_list"), pk=import_id
    )
    context = {
        "import": contact_import,
        "running": contact_import.status in (ImportStatus.PENDING, ImportStatus.RUNNING),
        "shown_errors": contact_import.errors[:SHOWN_ERRORS],
    }
    return render_page(request, "contacts/imports_detail.html", "contacts/_import_progress.html", context)


@company_view()
@require_GET
def contact_import_errors(request: HttpRequest, import_id: int) -> HttpResponse:
    """Every row error of an import, as CSV."""
    contact_import = get_object_or_404(ContactImport.objects.for_company(request.company), pk=import_id)
    response = StreamingHttpResponse(imports.error_report_lines(contact_import), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="import-{contact_import.pk}-errors.csv"'
    return response


def _csv_download(company, contacts, filename: str) -> StreamingHttpResponse:
    lines = exports.export_csv(exports.export_rows(company=company, contacts=contacts))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@company_view()
@require_GET
def list_export(request: HttpRequest, list_id: int) -> HttpResponse:
    """A list's current members (subscribed or pending) as CSV, streamed."""
    contact_list = get_object_or_404(ContactList.objects.for_company(request.company), pk=list_id)
    contacts = exports.list_export_contacts(contact_list=contact_list)
    filename = f"list-{contact_list.pk}-{slugify(contact_list.name) or 'contacts'}.csv"
    return _csv_download(request.company, contacts, filename)


@company_view()
@require_GET
def segment_export(request: HttpRequest, segment_id: int) -> HttpResponse:
    """A segment's contacts as of now, as CSV, streamed."""
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    try:
        contacts = exports.segment_export_contacts(company=request.company, segment=segment)
    except ValidationError as exc:
        return HttpResponse(f"This segment's rules cannot be used: {' '.join(exc.messages)}", status=400)
    filename = f"segment-{segment.pk}-{slugify(segment.name) or 'contacts'}.csv"
    return _csv_download(request.company, contacts, filename)
