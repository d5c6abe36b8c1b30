"""Dashboard pages for segments: the list with live counts, and the rule builder with a live count and preview.

The builder's rows live in contacts/segments/builder.py. Adding or removing a row posts the whole form
with an `_action`: htmx swaps the re-rendered builder in place, and without JavaScript the same request
re-renders the page.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from salloq.core.db import is_statement_timeout, timeout_message
from salloq.core.htmx import htmx_partial, render_page
from salloq.core.models import Role
from salloq.core.views import company_view

from .. import segments
from ..mailability import contacts_with_mailability
from ..models import ContactStatus, FieldType, Segment
from ..segments import services as segment_services
from ..segments.builder import (
    DATE_FORMAT_HINT,
    EVENT_TYPES,
    NAMED_FIELDS,
    Builder,
    Row,
    builder_from_definition,
    builder_from_post,
)

PREVIEW_SIZE = 20


# --- Live count and preview ------------------------------------------------------------------------


def _live(builder: Builder) -> dict:
    """Count and first contacts of what the builder says, or the errors that stop it (put on the rows,
    and listed by rule number for the live panel, which is swapped without the rows). A valid
    definition whose count runs past the statement timeout can still be saved: the panel says so."""
    definition, paths = builder.definition()
    try:
        contacts = segments.segment_contacts(builder.company, definition)
    except ValidationError as exc:
        builder.show_errors(exc, paths)
        problems = [("", message) for message in builder.errors]
        problems += [(row.label, message) for row in paths.values() for message in row.errors]
        return {"live_ok": False, "definition": definition, "problems": problems}
    live = {"live_ok": True, "definition": definition}
    try:
        # Each contact's badge says whether they can be mailed (a blacklisted contact keeps its
        # "subscribed" status), as on the contact list.
        preview = contacts_with_mailability(contacts)[:PREVIEW_SIZE]
        live.update(live_count=contacts.count(), live_contacts=list(preview))
    except OperationalError as exc:
        if not is_statement_timeout(exc):
            raise
        live["live_timeout"] = timeout_message()
    return live


def _builder_context(request: HttpRequest, builder: Builder, segment: Segment | None, **extra) -> dict:
    return {
        "builder": builder,
        "tree": builder.tree(),
        "segment": segment,
        "statuses": ContactStatus.choices,
        "event_types": EVENT_TYPES,
        "named_fields": NAMED_FIELDS,
        "preview_size": PREVIEW_SIZE,
        "can_edit": request.membership.allows(Role.MARKETER),
        "field_types": FieldType,
        "date_format_hint": DATE_FORMAT_HINT,
        **extra,
    }


# --- Views -------------------------------------------------------------------------------------------


@company_view()
@require_GET
def segments_list(request: HttpRequest) -> HttpResponse:
    """All segments; each row loads its live count by itself once it is on screen, one at a time."""
    context = {
        "segments": Segment.objects.for_company(request.company).order_by("name", "id"),
        "can_edit": request.membership.allows(Role.MARKETER),
    }
    return render_page(request, "contacts/segments.html", "contacts/_segments.html", context)


@company_view()
@require_GET
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    context: dict = {"segment": segment}
    try:
        context["count"] = segments.segment_contacts(request.company, segment.definition).count()
    except ValidationError as exc:
        context["problems"] = [m for messages_ in exc.message_dict.values() for m in messages_]
    except OperationalError as exc:
        if not is_statement_timeout(exc):
            raise
        context["too_slow"] = timeout_message()
    return render_page(request, "contacts/_segment_count.html", "contacts/_segment_count.html", context)


@company_view()
@require_http_methods(["GET", "POST"])
def segment_create(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@company_view()
@require_http_methods(["GET", "POST"])
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    return _edit(request, segment)


def _edit(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    """The builder page. POST with `_action` changes the rows (no save); POST without it saves."""
    if request.method == "GET":
        if segment is None:
            builder = Builder(
                request.company, "and", [Row(id="1", field="status", comparison="equals", value="subscribed")]
            )
        else:
            builder = builder_from_definition(request.company, segment.definition)
        name, description = (segment.name, segment.description) if segment else ("", "")
        live = _live(builder)
        context = _builder_context(request, builder, segment, name=name, description=description, **live)
        return render_page(request, "contacts/segments_form.html", "contacts/_segment_builder.html", context)

    builder = builder_from_post(request.company, request.POST)
    name, description = request.POST.get("name", ""), request.POST.get("description", "")
    action = request.POST.get("_action", "")
    if action:
        builder.apply(action)
        # A field just chosen that needs a name (a property's key...): its name input takes the focus.
        builder.focus_row = request.headers.get("HX-Trigger-Name", "").removesuffix("-field").removeprefix("r")
        live = _live(builder)
        context = _builder_context(request, builder, segment, name=name, description=description, **live)
        # htmx swaps the builder and, out of band, the live count; without JavaScript: the whole page.
        return render_page(request, "contacts/segments_form.html", "contacts/_segment_builder_swap.html", context)

    live = _live(builder)
    form_errors: dict[str, list[str]] = {}
    if live["live_ok"]:
        try:
            if segment is None:
                saved = segment_services.segment_create(
                    company=request.company, name=name, description=description, definition=live["definition"]
                )
            else:
                saved = segment_services.segment_update(
                    segment=segment, name=name, description=description, definition=live["definition"]
                )
        except ValidationError as exc:
            form_errors = exc.message_dict
        else:
            messages.success(request, f"Saved the segment {saved.name}.")
            return redirect(reverse("contacts:segment_edit", args=[saved.pk]))
    context = _builder_context(
        request, builder, segment, name=name, description=description, form_errors=form_errors, **live
    )
    return render_page(request, "contacts/segments_form.html", "contacts/segments_form.html", context, status=400)


@company_view(write_role=Role.VIEWER)  # counts only: viewers may use it too
@require_POST
def segment_live(request: HttpRequest) -> HttpResponse:
    """The builder's live count and preview for the rows as they are in the form right now."""
    builder = builder_from_post(request.company, request.POST)
    context = _builder_context(request, builder, None, **_live(builder))
    return render_page(request, "contacts/_segment_live_swap.html", "contacts/_segment_live_swap.html", context)


@company_view()
@require_POST
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = get_object_or_404(Segment.objects.for_company(request.company), pk=segment_id)
    segment_services.segment_delete(segment=segment)
    messages.success(request, f"Deleted the segment {segment.name}.")
    target = reverse("contacts:segments")
    if htmx_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return redirect(target)
