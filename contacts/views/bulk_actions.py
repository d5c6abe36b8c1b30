"""Dashboard: actions on many contacts from the contact list (contacts.bulk_actions), their progress
page, and resending a double opt-in list's confirmations.

The contact list's bulk form posts the ticked contacts (or "all matching the filters", with the
filters it was shown with). Export streams a CSV at once, whatever the size; erase asks for a
confirmation that states how many contacts will go; the others run in the request when small and
in a worker, with a progress page, when large."""

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from salloq.core.htmx import render_page
from salloq.core.views import company_view

from .. import bulk_actions, exports
from ..forms import split_tags
from ..mailability import not_mailed_summary
from ..models import BulkActionKind, ContactBulkAction, ContactList
from ..sorting import parse_sort

# Not a recorded action: the download is the whole of it.
EXPORT = "export"
FILTER_PREFIX = "filter_"


def _posted_filters(request: HttpRequest) -> dict[str, str]:
    return {
        name: request.POST.get(FILTER_PREFIX + name, "").strip()
        for name in bulk_actions.FILTER_NAMES
        if request.POST.get(FILTER_PREFIX + name, "").strip()
    }


def _back_to_list(request: HttpRequest) -> str:
    """The contact list as it was shown: same filters and sort."""
    params = _posted_filters(request)
    if sort := parse_sort(request.POST.get("sort")):
        params["sort"] = sort
    url = reverse("contacts:contacts")
    return f"{url}?{urlencode(params)}" if params else url


def _target_list(request: HttpRequest) -> ContactList | None:
    try:
        list_id = int(request.POST.get("target_list", ""))
    except ValueError:
        return None
    return ContactList.objects.for_company(request.company).filter(pk=list_id).first()


def _describe(bulk_action: ContactBulkAction) -> str:
    if bulk_action.action in (BulkActionKind.TAG, BulkActionKind.UNTAG):
        return f"{bulk_action.get_action_display()} {', '.join(bulk_action.tags)}"
    if bulk_action.action == BulkActionKind.ADD_TO_LIST and bulk_action.contact_list:
        return f"Add to {bulk_action.contact_list.name}"
    return bulk_action.get_action_display()


def _not_mailed(bulk_action: ContactBulkAction) -> str:
    """Add to list: the sentence saying how many selected members of the list cannot be mailed, and
    why ("" when all can): joining a list does not make a blacklisted or bounced contact mailable."""
    total = sum(bulk_action.not_mailed.values())
    if not total or bulk_action.contact_list is None:
        return ""
    are = "contact is" if total == 1 else "contacts are"
    return (
        f"{total} of these {are} on {bulk_action.contact_list} but will not be mailed: "
        f"{not_mailed_summary(bulk_action.not_mailed)}."
    )


@company_view()
@require_POST
def contacts_bulk(request: HttpRequest) -> HttpResponse:
    action = request.POST.get("action", "")
    try:
        selection = bulk_actions.clean_selection(
            contact_ids=request.POST.getlist("contact_ids"),
            select_all=request.POST.get("all") == "1",
            filters=_posted_filters(request),
        )
        if action == EXPORT:
            return _export(request, selection)
        if action == BulkActionKind.ERASE and (refused := _erase_unconfirmed(request, selection)):
            return refused
        bulk_action = bulk_actions.contact_bulk_action_create(
            company=request.company,
            action=action,
            selection=selection,
            tags=split_tags(request.POST.get("tags", "")),
            contact_list=_target_list(request),
            created_by=request.user,
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect(_back_to_list(request))
    bulk_actions.contact_bulk_action_start(bulk_action=bulk_action)
    if bulk_actions.runs_in_background(bulk_action):
        return redirect("contacts:bulk_action_detail", bulk_action.pk)
    bulk_action.refresh_from_db()
    messages.success(
        request,
        f"{_describe(bulk_action)}: {bulk_action.changed} of {bulk_action.processed} "
        f"contact{'s' if bulk_action.processed != 1 else ''} changed.",
    )
    if not_mailed := _not_mailed(bulk_action):
        messages.warning(request, not_mailed)
    for warning in bulk_action.warnings:
        messages.warning(request, warning)
    return redirect(_back_to_list(request))


def _export(request: HttpRequest, selection: bulk_actions.Selection) -> HttpResponse:
    """A streamed download: a worker would add nothing but a wait."""
    contacts = bulk_actions.selection_contacts(company=request.company, selection=selection)
    lines = exports.export_csv(exports.export_rows(company=request.company, contacts=contacts))
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="contacts-{timezone.now():%Y%m%d-%H%M}.csv"'
    response["Cache-Control"] = "no-store"
    return response


def _erase_unconfirmed(request: HttpRequest, selection: bulk_actions.Selection) -> HttpResponse | None:
    """The confirmation page, until the person confirms the count the page stated (a selection that
    changed meanwhile is shown again with its new count)."""
    count = bulk_actions.selection_contacts(company=request.company, selection=selection).count()
    if not count:
        raise ValidationError("No contact is selected (erased contacts cannot be changed).")
    confirmed = request.POST.get("confirmed_count", "")
    if confirmed == str(count):
        return None
    context = {
        "count": count,
        "changed": bool(confirmed),
        "selection": selection,
        "filters": selection.filters,
        "sort": parse_sort(request.POST.get("sort")),
        "back": _back_to_list(request),
        "filter_prefix": FILTER_PREFIX,
    }
    return render(request, "contacts/bulk_erase_confirm.html", context)


@company_view()
@require_GET
def bulk_action_detail(request: HttpRequest, bulk_action_id: int) -> HttpResponse:
    """Progress of a large action; the partial polls itself until the action is finished."""
    bulk_action = get_object_or_404(
        ContactBulkAction.objects.for_company(request.company).select_related("contact_list", "created_by"),
        pk=bulk_action_id,
    )
    context = {
        "bulk_action": bulk_action,
        "description": _describe(bulk_action),
        "not_mailed": _not_mailed(bulk_action),
    }
    return render_page(request, "contacts/bulk_action.html", "contacts/_bulk_action_progress.html", context)


@company_view()
@require_POST
def list_resend_confirmations(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list = get_object_or_404(ContactList.objects.for_company(request.company), pk=list_id)
    try:
        result = bulk_actions.list_confirmations_resend(contact_list=contact_list)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("contacts:list_detail", contact_list.pk)
    queued = f"{result.queued} confirmation email{'s' if result.queued != 1 else ''}"
    if result.queued:
        messages.success(request, f"Queued {queued} to the pending members of {contact_list}.")
    else:
        messages.info(request, f"No confirmation email to send to the pending members of {contact_list}.")
    minutes = int(bulk_actions.RESEND_INTERVAL.total_seconds() // 60)
    if result.recently_sent:
        messages.info(
            request,
            f"{result.recently_sent} member{'s were' if result.recently_sent != 1 else ' was'} sent one "
            f"in the last {minutes} minutes and {'are' if result.recently_sent != 1 else 'is'} not sent another yet.",
        )
    if result.not_mailable:
        messages.warning(
            request,
            f"{result.not_mailable} pending member{'s' if result.not_mailable != 1 else ''} cannot be mailed "
            "(blacklisted, unsubscribed, bounced, erased or without an address).",
        )
    return redirect("contacts:list_detail", contact_list.pk)
