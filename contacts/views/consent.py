"""Public consent pages reached from links in emails: no login, no JavaScript, one signed token each.

The token is the only credential, so pages answer a bad or stale one with a page that says so
(400 tampered, 410 expired or no longer valid) and never with an error page."""

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from .. import consent, services
from ..forms import PreferencesForm
from ..models import MembershipStatus


def _invalid(request, error: consent.InvalidLink) -> HttpResponse:
    return render(request, "consent/invalid_link.html", {"message": error.message}, status=error.status)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def confirm(request, token: str) -> HttpResponse:
    # Confirmation takes a POST from the page's button, never the GET itself: mail security
    # scanners and link previewers fetch every link in an email, and would confirm on the
    # recipient's behalf, which is exactly what double opt-in is meant to rule out.
    try:
        membership = consent.read_confirmation_token(token)
        if request.method == "POST":
            membership = consent.confirm_membership(
                membership_id=membership.pk, consent=consent.client_consent(request, "double opt-in link")
            )
        elif membership.status == MembershipStatus.UNSUBSCRIBED:
            raise consent.ExpiredLink("This subscription was cancelled after the link was sent.")
    except consent.InvalidLink as error:
        return _invalid(request, error)
    context = {
        "sender_name": membership.contact_list.company.name,
        "list_name": membership.contact_list.name,
        "email": membership.contact.email,
        "preferences_url": consent.preferences_url(membership.contact),
    }
    if membership.status == MembershipStatus.SUBSCRIBED:
        return render(request, "consent/confirmed.html", context)
    return render(request, "consent/confirm.html", context)


def _is_one_click(request) -> bool:
    return request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click"


@never_cache
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str) -> HttpResponse:
    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" with neither cookies nor a CSRF
    # token, so that request alone is exempt. CSRF would protect nothing there: the signed token
    # in the URL is the credential, and the request only does what the token says. The page's
    # own form stays CSRF-protected.
    if _is_one_click(request):
        return _one_click_unsubscribe(request, token)
    return _unsubscribe_page(request, token)


def _one_click_unsubscribe(request, token: str) -> HttpResponse:
    try:
        contact, contact_list = consent.read_unsubscribe_token(token)
    except consent.InvalidLink as error:
        return _invalid(request, error)
    consent.unsubscribe(
        contact=contact,
        contact_list=contact_list,
        consent=consent.client_consent(request, "one-click unsubscribe (RFC 8058)"),
    )
    context = {"sender_name": contact.company.name, "list_name": contact_list.name if contact_list else ""}
    return render(request, "consent/unsubscribed.html", context)


@csrf_protect
def _unsubscribe_page(request, token: str) -> HttpResponse:
    try:
        contact, contact_list = consent.read_unsubscribe_token(token)
    except consent.InvalidLink as error:
        return _invalid(request, error)
    context = {
        "sender_name": contact.company.name,
        "email": contact.email,
        "list_name": contact_list.name if contact_list else "",
        "preferences_url": consent.preferences_url(contact),
        "already_unsubscribed": consent.is_unsubscribed(contact, contact_list),
    }
    if request.method == "POST":
        scope = request.POST.get("scope")
        if scope not in {"list", "all"} or (scope == "list" and contact_list is None):
            context["error"] = "Choose what to unsubscribe from."
            return render(request, "consent/unsubscribe.html", context, status=400)
        consent.unsubscribe(
            contact=contact,
            contact_list=contact_list if scope == "list" else None,
            consent=consent.client_consent(request, "unsubscribe page"),
        )
        context["list_name"] = contact_list.name if scope == "list" else ""
        return render(request, "consent/unsubscribed.html", context)
    return render(request, "consent/unsubscribe.html", context)


@never_cache
@require_http_methods(["GET", "HEAD", "POST"])
def preferences(request, token: str) -> HttpResponse:
    try:
        contact = consent.read_preferences_token(token)
    except consent.InvalidLink as error:
        return _invalid(request, error)
    memberships = consent.preference_memberships(contact)
    form = PreferencesForm(request.POST or None, memberships=memberships)
    if request.method == "POST":
        source = consent.client_consent(request, "preference center")
        if request.POST.get("action") == "unsubscribe_all":
            consent.unsubscribe(contact=contact, contact_list=None, consent=source)
            return redirect(f"{request.path}?saved=1")
        if form.is_valid():
            consent.preferences_update(contact=contact, wanted_list_ids=set(form.cleaned_data["lists"]), consent=source)
            # Post/redirect/get: reloading the page shows the saved state instead of posting again.
            return redirect(f"{request.path}?saved=1")
    context = {
        "sender_name": contact.company.name,
        "email": contact.email,
        "contact_status": contact.status,
        "blacklisted": services.is_suppressed(contact.company_id, contact.email),
        "memberships": memberships,
        "saved": request.GET.get("saved") == "1",
        "form_error": "These are not your lists; reload the page and choose again." if form.errors else "",
    }
    return render(request, "consent/preferences.html", context, status=400 if form.errors else 200)
