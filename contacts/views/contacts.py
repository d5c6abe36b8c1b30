"""Dashboard pages for contacts, lists, custom fields and the blacklist.

Every lookup goes through `for_company(request.company)`, so another company's id is a 404.
Writes go through contacts.services; list pages return their table as an htmx partial from
the same view (search-as-you-type, filters, pagination)."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from salloq.core.client_ip import client_ip
from salloq.core.htmx import htmx_partial, render_page
from salloq.core.models import Role
from salloq.core.views import company_view

from .. import bulk_actions, selectors, services
from ..contact_input import CompanyRefs, clean_contact_input
from ..filters import ContactFilterSet
from ..forms import (
    AddMemberForm,
    ContactCreateForm,
    ContactEditForm,
    ContactListForm,
    CustomFieldForm,
    EraseForm,
    MemberFilterForm,
    SubscribeForm,
    SuppressionForm,
    add_service_errors,
    split_choices,
    split_tags,
)
from ..mailability import (
    NOT_MAILED_BECAUSE,
    Mailability,
    contacts_with_mailability,
    mailability_of,
    memberships_with_mailability,
)
from ..models import (
    Contact,
    ContactList,
    ContactStatus,
    CustomField,
    ListMembership,
    MembershipStatus,
    Suppression,
)
from ..sorting import parse_sort, sort_contacts, sort_links

PER_PAGE = 25
# A contact's lists as the list page shows them: the ones they have not left.
CURRENT_MEMBERSHIP = selectors.CURRENT_MEMBERSHIP


def _consent(request: HttpRequest) -> services.ConsentContext:
    """Who changed consent from the dashboard, recorded with the change."""
    return services.ConsentContext(
        source="dashboard",
        ip_address=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:400],
    )


def _page(request: HttpRequest, queryset: QuerySet) -> Page:
    # get_page() turns a junk or out-of-range ?page= into the nearest real page rather than a 404.
    return Paginator(queryset, PER_PAGE).get_page(request.GET.get("page"))


def _posted(request: HttpRequest):
    """Form data of a POST, even an empty one (which must show "required" errors, not a blank form)."""
    return request.POST if request.method == "POST" else None


def _can_edit(request: HttpRequest) -> bool:
    return request.membership.allows(Role.MARKETER)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """After a write: htmx follows HX-Redirect with a full page load, a plain form follows the 302."""
    if htmx_partial(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return redirect(url)


def _get_contact(request: HttpRequest, contact_id: int) -> Contact:
    return get_object_or_404(Contact.objects.for_company(request.company), pk=contact_id)


def _get_list(request: HttpRequest, list_id: int) -> ContactList:
    return get_object_or_404(ContactList.objects.for_company(request.company), pk=list_id)


# --- Contacts ------------------------------------------------------------------------------


@company_view()
@require_http_methods(["GET", "POST"])
def contacts(request: HttpRequest) -> HttpResponse:
    """The contact list (search, filters, pagination; the table is the htmx partial) and the
    create form, which posts here."""
    form = ContactCreateForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                result = services.contact_upsert(
                    company=request.company, data=form.upsert_data(), consent=_consent(request)
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if result.created:
                    messages.success(request, f"Created {result.contact}.")
                else:
                    messages.info(request, f"{result.contact} was already a contact: updated.")
                for warning in result.warnings:
                    messages.warning(request, warning)
                return _redirect(request, reverse("contacts:contact_detail", args=[result.contact.pk]))
        else:
            _add_input_errors(form, request.company)
        status = 400

    sort = parse_sort(request.GET.get("sort"))
    contacts_by_sort = sort_contacts(Contact.objects.for_company(request.company), sort)
    filterset = ContactFilterSet(request.GET, queryset=contacts_by_sort)
    # An invalid filter is named on the page and left out; a search that cannot run (too long)
    # shows no contacts rather than all of them under an error.
    filterset.is_valid()
    search_refused = "search" in filterset.errors
    if search_refused and status == 200:
        status = 400
    # Filtered by a list, a contact's badge is its mailability as a member of that list (pending or not).
    list_id = filterset.form.cleaned_data.get("list_id")
    queryset = contacts_with_mailability(filterset.qs, contact_list_id=list_id).prefetch_related(
        Prefetch(
            "list_memberships",
            queryset=ListMembership.objects.filter(status__in=CURRENT_MEMBERSHIP)
            .select_related("contact_list")
            .order_by("contact_list__name"),
            to_attr="current_memberships",
        )
    )
    context = {
        "page": None if search_refused else _page(request, queryset),
        "filterset": filterset,
        "filters": {name: request.GET.get(name, "") for name in ("search", "status", "list_id", "tag")},
        "sort": sort,
        "sort_links": sort_links(sort),
        "bulk_inline_limit": bulk_actions.INLINE_LIMIT,
        "statuses": ContactStatus.choices,
        "lists": ContactList.objects.for_company(request.company).only("id", "name"),
        "form": form,
        "can_edit": _can_edit(request),
    }
    return render_page(request, "contacts/contacts.html", "contacts/_contact_table.html", context, status=status)


def _detail_context(request: HttpRequest, contact: Contact, **forms) -> dict:
    detail = selectors.contact_detail(contact=contact)
    return {
        "contact": detail.contact,
        "detail": detail,
        "can_edit": _can_edit(request) and contact.erased_at is None,
        "erase_form": forms.get("erase_form") or EraseForm(),
    }


def _add_input_errors(form: ContactCreateForm, company) -> None:
    """All of a form's errors at once: when the form itself refused some fields, the service's
    rules (clean_contact_input, which writes nothing) still judge the fields it accepted."""
    data = {name: value for name, value in form.cleaned_data.items() if value}
    if "tags" in data:
        data["tags"] = split_tags(data["tags"])
    try:
        clean_contact_input(data, CompanyRefs(company.pk))
    except ValidationError as exc:
        fresh = {key: errors for key, errors in exc.message_dict.items() if key not in form.errors}
        if fresh:
            add_service_errors(form, ValidationError(fresh))


@company_view()
@require_GET
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    return render_page(
        request, "contacts/contact_detail.html", "contacts/_contact_detail.html", _detail_context(request, contact)
    )


def _refuse_erased(request: HttpRequest, contact: Contact) -> HttpResponse | None:
    # An erased row is kept only so activity stays countable; it has nothing left to manage.
    if contact.erased_at is None:
        return None
    messages.error(request, "This contact was erased; there is nothing left to change.")
    return redirect("contacts:contact_detail", contact.pk)


@company_view(min_role=Role.MARKETER)  # an edit form is of no use to a viewer
@require_http_methods(["GET", "POST"])
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if refused := _refuse_erased(request, contact):
        return refused
    custom_fields = list(CustomField.objects.for_company(request.company))
    form = ContactEditForm(_posted(request), contact=contact, custom_fields=custom_fields)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                warnings = services.contact_update(contact=contact, data=form.update_data(), consent=_consent(request))
            except ValidationError as exc:
                add_service_errors(form, exc, form.service_field_names())
                contact.refresh_from_db()  # the service rolled back; show what is stored
            else:
                messages.success(request, "Contact saved.")
                for warning in warnings:
                    messages.warning(request, warning)
                return _redirect(request, reverse("contacts:contact_detail", args=[contact.pk]))
        status = 400
    context = {"contact": contact, "form": form}
    return render_page(request, "contacts/contact_edit.html", "contacts/_contact_form.html", context, status=status)


def _list_from_post(request: HttpRequest) -> ContactList | None:
    form = SubscribeForm(request.POST)
    if not form.is_valid():
        return None
    return get_object_or_404(ContactList.objects.for_company(request.company), pk=form.cleaned_data["list_id"])


@company_view()
@require_POST
def contact_subscribe(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if refused := _refuse_erased(request, contact):
        return refused
    contact_list = _list_from_post(request)
    if contact_list is None:
        messages.error(request, "Choose a list.")
        return redirect("contacts:contact_detail", contact.pk)
    membership, warnings = services.list_subscribe(
        contact=contact, contact_list=contact_list, consent=_consent(request)
    )
    _tell_subscription(
        request,
        contact,
        contact_list,
        membership,
        warnings,
        subscribed=f"Subscribed to {contact_list}.",
        pending=f"Asked to confirm the subscription to {contact_list} by email.",
    )
    return redirect("contacts:contact_detail", contact.pk)


# What a marketer can do about a contact on a list who cannot be mailed.
_HOW_TO_MAIL = {
    Mailability.BLACKLISTED: "if the blacklisting was a mistake, remove the address from the blacklist",
    Mailability.BOUNCED: "correct the address first",
    Mailability.UNSUBSCRIBED: "only the contact's own fresh consent (a signup form, the API with consent) "
    "subscribes them again",
    Mailability.NO_EMAIL: "add an email address first",
}


def _tell_subscription(
    request: HttpRequest,
    contact: Contact,
    contact_list: ContactList,
    membership: ListMembership,
    warnings: list[str],
    *,
    subscribed: str,
    pending: str,
) -> None:
    """Say what a subscription from the dashboard did and what it did not: joining a list does not
    make a blacklisted, bounced or unsubscribed contact mailable, so that is a warning, not a success."""
    for warning in warnings:
        messages.warning(request, warning)
    if membership.status == MembershipStatus.UNSUBSCRIBED:
        return  # the service refused the rejoin and its warning said why
    state = mailability_of(contact, contact_list)
    if state == Mailability.SUBSCRIBED:
        messages.success(request, subscribed)
    elif state == Mailability.PENDING:
        messages.info(request, pending)
    else:
        how = f" To mail them, {_HOW_TO_MAIL[state]}." if state in _HOW_TO_MAIL else ""
        messages.warning(
            request,
            f"{contact} is on {contact_list} but will not be mailed: {NOT_MAILED_BECAUSE[state]}.{how}",
        )


@company_view()
@require_POST
def contact_unsubscribe(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    contact_list = _list_from_post(request)
    if contact_list is None:
        messages.error(request, "Choose a list.")
    else:
        services.list_unsubscribe(contact=contact, contact_list=contact_list, consent=_consent(request))
        messages.success(request, f"Unsubscribed from {contact_list}.")
    return redirect("contacts:contact_detail", contact.pk)


@company_view()
@require_POST
def contact_unsubscribe_all(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if refused := _refuse_erased(request, contact):
        return refused
    services.contact_unsubscribe_all(contact=contact, consent=_consent(request))
    messages.success(request, "Unsubscribed from everything.")
    return redirect("contacts:contact_detail", contact.pk)


@company_view()
@require_POST
def contact_blacklist(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if not contact.email:
        messages.error(request, "This contact has no email address to blacklist.")
    else:
        services.suppression_add(
            company=request.company,
            email=contact.email,
            reason=f"from the dashboard by {request.user.get_username()}",
            consent=_consent(request),
        )
        messages.success(request, f"{contact.email} is blacklisted: it will not be mailed.")
    return redirect("contacts:contact_detail", contact.pk)


@company_view()
@require_POST
def contact_unblacklist(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if contact.email and services.suppression_remove(
        company=request.company, email=contact.email, consent=_consent(request)
    ):
        messages.success(request, f"{contact.email} was removed from the blacklist.")
    return redirect("contacts:contact_detail", contact.pk)


@company_view()
@require_POST
def contact_erase(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = _get_contact(request, contact_id)
    if refused := _refuse_erased(request, contact):
        return refused
    form = EraseForm(request.POST)
    if not form.is_valid():
        context = _detail_context(request, contact, erase_form=form)
        return render_page(
            request, "contacts/contact_detail.html", "contacts/_contact_detail.html", context, status=400
        )
    services.contact_erase(contact=contact)
    messages.success(request, f"Contact {contact.pk} was erased; its anonymized activity is kept.")
    return redirect("contacts:contact_detail", contact.pk)


# --- Lists ---------------------------------------------------------------------------------


def _list_form_data(form: ContactListForm) -> dict:
    data = form.cleaned_data
    return {
        "name": data["name"],
        "description": data["description"],
        "double_opt_in": data["double_opt_in"],
        "reminder_after_days": data["reminder_after_days"],
    }


@company_view()
@require_http_methods(["GET", "POST"])
def lists(request: HttpRequest) -> HttpResponse:
    """All lists with their member counts per status (one query), and the create form."""
    form = ContactListForm(_posted(request), initial={"double_opt_in": request.company.double_opt_in_default})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                contact_list = services.contact_list_create(company=request.company, **_list_form_data(form))
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Created the list {contact_list}.")
                return _redirect(request, reverse("contacts:list_detail", args=[contact_list.pk]))
        status = 400
    context = {
        "lists": selectors.contact_lists_with_counts(ContactList.objects.for_company(request.company)),
        "form": form,
        "can_edit": _can_edit(request),
    }
    return render_page(request, "contacts/lists.html", "contacts/_list_table.html", context, status=status)


@company_view()
@require_GET
def list_detail(request: HttpRequest, list_id: int) -> HttpResponse:
    """A list's members, filtered by membership status and paginated (the table is the htmx partial)."""
    contact_list = get_object_or_404(
        selectors.contact_lists_with_counts(ContactList.objects.for_company(request.company)), pk=list_id
    )
    filters = MemberFilterForm(request.GET)
    member_status = filters.cleaned_data["status"] if filters.is_valid() else ""
    context = {
        "contact_list": contact_list,
        "page": _page(
            request,
            memberships_with_mailability(
                selectors.list_members(contact_list=contact_list, status=member_status or None)
            ),
        ),
        "member_status": member_status,
        "statuses": MembershipStatus.choices,
        "add_form": AddMemberForm(),
        "can_edit": _can_edit(request),
    }
    return render_page(request, "contacts/list_detail.html", "contacts/_member_table.html", context)


@company_view(min_role=Role.MARKETER)  # an edit form is of no use to a viewer
@require_http_methods(["GET", "POST"])
def list_edit(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list = _get_list(request, list_id)
    initial = {
        "name": contact_list.name,
        "description": contact_list.description,
        "double_opt_in": contact_list.double_opt_in,
        "reminder_after_days": contact_list.reminder_after_days,
    }
    form = ContactListForm(_posted(request), initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.contact_list_update(contact_list=contact_list, data=_list_form_data(form))
            except ValidationError as exc:
                add_service_errors(form, exc)
                contact_list.refresh_from_db()
            else:
                messages.success(request, "List saved.")
                return _redirect(request, reverse("contacts:list_detail", args=[contact_list.pk]))
        status = 400
    context = {"contact_list": contact_list, "form": form}
    return render_page(request, "contacts/list_edit.html", "contacts/_list_form.html", context, status=status)


@company_view()
@require_POST
def list_delete(request: HttpRequest, list_id: int) -> HttpResponse:
    contact_list = _get_list(request, list_id)
    name = contact_list.name
    services.contact_list_delete(contact_list=contact_list)
    messages.success(request, f"Deleted the list {name}. Its contacts are kept.")
    return _redirect(request, reverse("contacts:lists"))


@company_view()
@require_POST
def list_add_member(request: HttpRequest, list_id: int) -> HttpResponse:
    """Add by email: an unknown address becomes a new contact, then joins the list."""
    contact_list = _get_list(request, list_id)
    form = AddMemberForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter an email address.")
        return redirect("contacts:list_detail", contact_list.pk)
    consent = _consent(request)
    try:
        result = services.contact_upsert(
            company=request.company, data={"email": form.cleaned_data["email"]}, consent=consent
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("contacts:list_detail", contact_list.pk)
    membership, warnings = services.list_subscribe(contact=result.contact, contact_list=contact_list, consent=consent)
    _tell_subscription(
        request,
        result.contact,
        contact_list,
        membership,
        result.warnings + warnings,
        subscribed=f"{result.contact} is subscribed.",
        pending=f"{result.contact} is pending confirmation.",
    )
    return redirect("contacts:list_detail", contact_list.pk)


@company_view()
@require_POST
def list_remove_member(request: HttpRequest, list_id: int, contact_id: int) -> HttpResponse:
    contact_list = _get_list(request, list_id)
    contact = _get_contact(request, contact_id)
    services.list_unsubscribe(contact=contact, contact_list=contact_list, consent=_consent(request))
    messages.success(request, f"{contact} was unsubscribed from {contact_list}.")
    return redirect("contacts:list_detail", contact_list.pk)


# --- Custom fields -------------------------------------------------------------------------


@company_view()
@require_http_methods(["GET", "POST"])
def fields(request: HttpRequest) -> HttpResponse:
    form = CustomFieldForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                custom_field = services.custom_field_create(
                    company=request.company,
                    name=form.cleaned_data["name"],
                    field_type=form.cleaned_data["field_type"],
                    choices=split_choices(form.cleaned_data["choices"]),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(request, f"Created the field {custom_field}.")
                return _redirect(request, reverse("contacts:fields"))
        status = 400
    context = {
        "custom_fields": CustomField.objects.for_company(request.company).annotate(value_count=Count("values")),
        "form": form,
        "can_edit": _can_edit(request),
    }
    return render_page(request, "contacts/fields.html", "contacts/_field_table.html", context, status=status)


# --- Blacklist -----------------------------------------------------------------------------


@company_view()
@require_http_methods(["GET", "POST"])
def blacklist(request: HttpRequest) -> HttpResponse:
    """Suppressed addresses (search, pagination; the table is the htmx partial) and the add form."""
    form = SuppressionForm(_posted(request))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                suppression, created = services.suppression_add(
                    company=request.company,
                    email=form.cleaned_data["email"],
                    reason=form.cleaned_data["reason"],
                    consent=_consent(request),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                if created:
                    messages.success(request, f"{suppression.email} is blacklisted.")
                else:
                    messages.info(request, f"{suppression.email} was already blacklisted.")
                return _redirect(request, reverse("contacts:blacklist"))
        status = 400
    search = request.GET.get("search", "").strip()
    suppressions = Suppression.objects.for_company(request.company)
    if search:
        suppressions = suppressions.filter(email__icontains=search)
    context = {
        "page": _page(request, suppressions),
        "search": search,
        "form": form,
        "can_edit": _can_edit(request),
    }
    return render_page(request, "contacts/blacklist.html", "contacts/_blacklist_table.html", context, status=status)


@company_view()
@require_POST
def blacklist_remove(request: HttpRequest, suppression_id: int) -> HttpResponse:
    suppression = get_object_or_404(Suppression.objects.for_company(request.company), pk=suppression_id)
    services.suppression_remove(company=request.company, email=suppression.email, consent=_consent(request))
    messages.success(request, f"{suppression.email} was removed from the blacklist.")
    return _redirect(request, reverse("contacts:blacklist"))
