"""The Outbox: what the embedded mail catcher received for the company (bin/run with no EMAIL_HOST),
so a campaign can be sent and read without a mail server. Another company's message is a 404."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from salloq.core.htmx import render_page
from salloq.core.middleware import DEFAULT_CSP
from salloq.core.views import company_view

from ..selectors import outbox as selectors

# The message page shows the email's HTML in a sandboxed srcdoc iframe, which inherits this policy:
# inline styles (every email has them), nothing remote. The iframe's own policy (selectors.outbox)
# narrows images to data: so the open pixel and remote images are never fetched.
# frame-src 'none': a link clicked or a refresh in the email cannot load anything into the iframe (a
# tracked link would count a click); the srcdoc itself is not fetched, so it still shows.
OUTBOX_MESSAGE_CSP = DEFAULT_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; frame-src 'none'"
if "'unsafe-inline'" not in OUTBOX_MESSAGE_CSP:
    raise RuntimeError("DEFAULT_CSP was reworded: the Outbox message page's policy no longer applies")


@company_view()
@require_GET
def outbox(request: HttpRequest) -> HttpResponse:
    page = selectors.outbox_page(company=request.company, page_number=request.GET.get("page"))
    return render_page(request, "campaigns/outbox.html", "campaigns/_outbox_table.html", {"page": page})


@company_view()
@require_GET
def outbox_message(request: HttpRequest, outbox_message_id: int) -> HttpResponse:
    message = selectors.outbox_message(company=request.company, message_id=outbox_message_id)
    context = {"message": message, "parts": selectors.message_parts(message)}
    response = render(request, "campaigns/outbox_message.html", context)
    response["Content-Security-Policy"] = OUTBOX_MESSAGE_CSP
    return response


@company_view()
@require_GET
def outbox_message_raw(request: HttpRequest, outbox_message_id: int) -> HttpResponse:
    """The message exactly as received, as an .eml file (opens in a mail program)."""
    message = selectors.outbox_message(company=request.company, message_id=outbox_message_id)
    response = HttpResponse(bytes(message.raw), content_type="message/rfc822")
    response["Content-Disposition"] = f'attachment; filename="outbox-{message.pk}.eml"'
    return response
