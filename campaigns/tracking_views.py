"""Public tracking endpoints reached from sent messages: no login, the signed token is the only
credential. Hostile input (garbage, forged or truncated tokens, another campaign's link) gets a
404 page, never an error and never a redirect; the open pixel answers the image whatever happens,
so a mail client never shows a broken image."""

import base64

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from contacts import consent

from . import tracking

# A transparent 1x1 GIF (42 bytes).
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")


def _not_found(request) -> HttpResponse:
    message = "This link is not valid. Check that it was copied completely."
    return render(request, "consent/invalid_link.html", {"message": message}, status=404)


@never_cache
@require_http_methods(["GET", "HEAD"])
def open_pixel(request, token: str) -> HttpResponse:
    recipient_id = tracking.read_open_token(token)
    if recipient_id is not None:
        tracking.record_open(recipient_id=recipient_id, user_agent=_user_agent(request), method=request.method)
    response = HttpResponse(PIXEL_GIF, content_type="image/gif")
    # never_cache sets Cache-Control; proxies that predate it read these.
    response["Pragma"] = "no-cache"
    response["Expires"] = "0"
    return response


@never_cache
@require_http_methods(["GET", "HEAD"])
def click(request, token: str) -> HttpResponse:
    ids = tracking.read_click_token(token)
    url = None
    if ids is not None:
        recipient_id, link_id = ids
        url = tracking.record_click(
            recipient_id=recipient_id, link_id=link_id, user_agent=_user_agent(request), method=request.method
        )
    if url is None:
        return _not_found(request)
    return HttpResponseRedirect(url)


@never_cache
@csrf_exempt
@require_http_methods(["GET", "HEAD", "POST"])
def unsubscribe(request, token: str) -> HttpResponse:
    # RFC 8058: the mail client POSTs "List-Unsubscribe=One-Click" without cookies or a CSRF
    # token; the signed token in the URL is the credential and the request does only what it says.
    # GET never unsubscribes (scanners fetch every link); the page's own form is CSRF-protected.
    recipient_id = tracking.read_unsubscribe_token(token)
    if recipient_id is None:
        return _not_found(request)
    try:
        recipient, contact = tracking.unsubscribe_recipient_contact(recipient_id)
    except consent.InvalidLink as error:
        return render(request, "consent/invalid_link.html", {"message": error.message}, status=error.status)
    if request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click":
        source = consent.client_consent(request, "one-click unsubscribe (RFC 8058)")
        tracking.unsubscribe(recipient=recipient, contact=contact, consent_context=source)
        return render(request, "consent/unsubscribed.html", {"sender_name": contact.company.name})
    return _unsubscribe_page(request, recipient, contact)


@csrf_protect
def _unsubscribe_page(request, recipient, contact) -> HttpResponse:
    context = {
        "sender_name": contact.company.name,
        "email": contact.email,
        "list_name": "",
        "preferences_url": consent.preferences_url(contact),
        "already_unsubscribed": consent.is_unsubscribed(contact, None),
    }
    if request.method == "POST":
        if request.POST.get("scope") != "all":
            context["error"] = "Choose what to unsubscribe from."
            return render(request, "consent/unsubscribe.html", context, status=400)
        source = consent.client_consent(request, "unsubscribe page")
        tracking.unsubscribe(recipient=recipient, contact=contact, consent_context=source)
        return render(request, "consent/unsubscribed.html", context)
    return render(request, "consent/unsubscribe.html", context)
